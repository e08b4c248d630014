/*
 * relay_floor: the end-to-end benchmark's two architectures (bench/E2E.md, bench/scripts/e2e.sh) in plain C, with no
 * JVM, no jnr-ffi, no frame codec, no heartbeats and no metrics: the floor of what the prefork design can reach on a
 * machine, to compare with the Java figures and with the targets of issue 5 (prefork at least 0.9x the plain
 * server's connections per second and at most 1.5x its CPU per connection). bench/scripts/floor-e2e.sh measures it
 * the way e2e.sh measures the Java variants.
 *
 * Both modes serve what io.prefork.examples.HelloHttpWorker serves to `wrk -H 'Connection: close'`: read the request
 * until "\r\n\r\n", write the same response bytes in one write (status line, Content-Type, X-Prefork-Worker: <pid>,
 * Content-Length, Connection: close, body "Hello from prefork worker <pid>\n"), close. No keep-alive, no parsing:
 * the benchmark sends one request per connection.
 *
 * plain THREADS PORT
 *   PlainServer's shape in one process: the main thread blocks in accept4(SOCK_CLOEXEC) and puts each descriptor in
 *   a bounded queue (1024, mutex + condition variables, like ArrayBlockingQueue); THREADS handler threads take from
 *   it and serve.
 *
 * relay WORKERS PORT [PREFETCH]
 *   The prefork architecture: a supervisor process whose one thread runs a poll() loop over a signalfd (standing in
 *   for the Java loop's wakeup eventfd), one AF_UNIX SOCK_SEQPACKET socketpair per worker and the non-blocking
 *   listener, in the Java loop's order: channels, then the listener, then dispatch. It accepts until EAGAIN into a
 *   queue (1024; the listener leaves the poll set while the queue is full), and dispatches each connection to the
 *   worker with the fewest in flight (ties round-robin, as LeastBusyPolicy), never above 1 + PREFETCH in flight per
 *   worker (PREFETCH 0 = --concurrency 1).
 *   A handoff is one sendmsg(MSG_DONTWAIT) of a 40-byte frame (8-byte header, 2-byte count, one 30-byte entry:
 *   connection id 8, accepted-at 8, local and remote IPv4 address 7 + 7, the size of the Java HANDOFF frame) with the
 *   descriptor in an SCM_RIGHTS cmsg. The supervisor keeps its copy until the worker's ACCEPTED(id), then closes it;
 *   the worker's DONE(id) frees the capacity. It reads each channel with recvmsg(MSG_DONTWAIT) until EAGAIN.
 *   Workers are fork()ed (no exec), single-threaded: blocking recvmsg(MSG_CMSG_CLOEXEC) into buffers of
 *   ControlChannel's sizes, send ACCEPTED, serve, send DONE, repeat; they exit when their channel reports EOF.
 *   Each worker sends READY once at start; the ready line is printed when all have.
 *
 * direct WORKERS PORT
 *   The same design without acknowledgements (issue 11's "C design"): the supervisor's one thread blocks in
 *   accept4(SOCK_CLOEXEC) on a blocking listener (no poll: there is nothing else to wait for), sends the descriptor
 *   to the next worker in round robin with one blocking sendmsg (a 1-byte message, the descriptor in SCM_RIGHTS) and
 *   closes its copy at once. It keeps nothing, reads nothing back and counts nothing in flight: a worker that is
 *   busy gets the next connection queued on its channel all the same (head-of-line blocking is the price), and a
 *   full channel blocks the supervisor until that worker reads. Workers are fork()ed, single-threaded: blocking
 *   recvmsg(MSG_CMSG_CLOEXEC), serve, repeat; no report of any kind. The accepted descriptors are blocking, so no
 *   worker needs an fcntl. The ready line is printed once the workers are forked (a connection sent before a worker
 *   reaches its first recvmsg waits on its channel).
 *
 * All modes print one line "relay_floor: MODE: ready on 127.0.0.1:PORT ..." on stdout when listening (PORT 0 picks a
 * free port; the line has the real one), listen on 127.0.0.1 only (backlog 1024), and exit with status 0 on
 * SIGTERM or SIGINT (the supervisor closes the channels, so the workers exit, and reaps them).
 * Threads are named plain-accept / plain-handler-N / relay-loop / relay-worker / direct-accept / direct-worker for
 * per-thread CPU in /proc.
 *
 * Build: gcc -O2 -Wall -Wextra -pthread -o bench/target/relay_floor bench/src/main/c/relay_floor.c
 * Run:   bench/target/relay_floor plain 2 0
 *        bench/target/relay_floor relay 2 0 [1]
 *        bench/target/relay_floor direct 2 0
 *        wrk -t1 -c16 -d10s --latency -H 'Connection: close' http://127.0.0.1:PORT/
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BACKLOG 1024
#define QUEUE_SIZE 1024          /* PlainServer --queue-size, the supervisor's --queue-size default */
#define MAX_HEAD_BYTES 16384     /* HttpExchange.MAX_HEAD_BYTES */
#define MAX_FRAME_BYTES 16384    /* FrameCodec.MAX_FRAME_BYTES */
#define MAX_FDS 253              /* SCM_MAX_FD */
#define MAX_WORKERS 64
#define MAX_PREFETCH 62

enum { T_READY = 1, T_HANDOFF = 2, T_ACCEPTED = 3, T_DONE = 4 };

#define HEADER_BYTES 8           /* type 1, flags 1, reserved 2, payload length 4 */
#define HANDOFF_BYTES (HEADER_BYTES + 2 + 30)
#define REPORT_BYTES (HEADER_BYTES + 8)

static char response[512];
static size_t response_len;

static void die(const char *what)
{
    fprintf(stderr, "relay_floor[%d]: %s: %s\n", (int) getpid(), what, strerror(errno));
    exit(1);
}

static void fail(const char *what)
{
    fprintf(stderr, "relay_floor[%d]: %s\n", (int) getpid(), what);
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: relay_floor plain THREADS PORT\n"
                    "       relay_floor relay WORKERS PORT [PREFETCH]\n"
                    "       relay_floor direct WORKERS PORT\n");
    exit(2);
}

static long parse_num(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi) {
        usage();
    }
    return v;
}

/* The bytes HttpExchange.respond writes for HelloHttpWorker's body to a "Connection: close" request, this pid. */
static void build_response(void)
{
    char body[64];
    int pid = (int) getpid();
    int body_len = snprintf(body, sizeof body, "Hello from prefork worker %d\n", pid);
    int n = snprintf(response, sizeof response,
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "X-Prefork-Worker: %d\r\n"
                     "Content-Length: %d\r\n"
                     "Connection: close\r\n"
                     "\r\n"
                     "%s",
                     pid, body_len, body);
    if (n < 0 || (size_t) n >= sizeof response) {
        fail("response too long");
    }
    response_len = (size_t) n;
}

/* Reads the request head, writes the response, closes: what the handler and the runtime do per connection. */
static void serve(int fd)
{
    char buf[MAX_HEAD_BYTES];
    size_t len = 0, scan = 0;
    for (;;) {
        if (len == sizeof buf) {
            goto out; /* 431 in Java; never happens under wrk */
        }
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            goto out; /* EOF or error: nobody to answer */
        }
        len += (size_t) n;
        for (size_t i = scan; i + 3 < len; i++) {
            if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
                goto respond;
            }
        }
        scan = len >= 3 ? len - 3 : 0;
    }
respond:
    for (size_t off = 0; off < response_len;) {
        ssize_t n = write(fd, response + off, response_len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        off += (size_t) n;
    }
out:
    close(fd);
}

static int open_listener(int port, int nonblocking, int *bound_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        die("socket");
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        die("setsockopt(SO_REUSEADDR)");
    }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(fd, (struct sockaddr *) &a, sizeof a) < 0) {
        die("bind 127.0.0.1");
    }
    if (listen(fd, BACKLOG) < 0) {
        die("listen");
    }
    socklen_t alen = sizeof a;
    if (getsockname(fd, (struct sockaddr *) &a, &alen) < 0) {
        die("getsockname");
    }
    *bound_port = ntohs(a.sin_port);
    return fd;
}

/* ============================================================================================== plain */

static struct {
    int fds[QUEUE_SIZE];
    int head, count;
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
} q = { .lock = PTHREAD_MUTEX_INITIALIZER, .not_empty = PTHREAD_COND_INITIALIZER,
        .not_full = PTHREAD_COND_INITIALIZER };

static void *plain_handler(void *arg)
{
    char name[16];
    snprintf(name, sizeof name, "plain-handler-%d", (int) (intptr_t) arg);
    prctl(PR_SET_NAME, name);
    for (;;) {
        pthread_mutex_lock(&q.lock);
        while (q.count == 0) {
            pthread_cond_wait(&q.not_empty, &q.lock);
        }
        int fd = q.fds[q.head];
        q.head = (q.head + 1) % QUEUE_SIZE;
        q.count--;
        pthread_cond_signal(&q.not_full);
        pthread_mutex_unlock(&q.lock);
        serve(fd);
    }
    return NULL;
}

static void on_stop_plain(int sig)
{
    (void) sig;
    _exit(0); /* nothing to flush or hand back: connections in flight are cut, as PlainServer's are */
}

static void __attribute__((noreturn)) run_plain(int threads, int port)
{
    build_response();
    int bound;
    int listener = open_listener(port, 0, &bound);

    /* Only the accepting (main) thread takes SIGTERM/SIGINT. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    for (int i = 0; i < threads; i++) {
        pthread_t t;
        if ((errno = pthread_create(&t, NULL, plain_handler, (void *) (intptr_t) (i + 1))) != 0) {
            die("pthread_create");
        }
    }
    struct sigaction sa = { .sa_handler = on_stop_plain };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
    prctl(PR_SET_NAME, "plain-accept");

    printf("relay_floor: plain: ready on 127.0.0.1:%d with %d thread(s), pid %d\n", bound, threads, (int) getpid());
    fflush(stdout);
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(listener, (struct sockaddr *) &peer, &plen, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            perror("relay_floor: plain: accept4");
            usleep(100000); /* EMFILE and friends: leave it in the backlog, do not spin */
            continue;
        }
        pthread_mutex_lock(&q.lock);
        while (q.count == QUEUE_SIZE) {
            pthread_cond_wait(&q.not_full, &q.lock);
        }
        q.fds[(q.head + q.count) % QUEUE_SIZE] = fd;
        q.count++;
        pthread_cond_signal(&q.not_empty);
        pthread_mutex_unlock(&q.lock);
    }
}

/* ============================================================================================== relay */

static void put_header(unsigned char *f, int type, uint32_t payload)
{
    f[0] = (unsigned char) type;
    f[1] = 0;
    f[2] = f[3] = 0;
    memcpy(f + 4, &payload, 4);
}

/* One channel message: READY, ACCEPTED(id) or DONE(id). Blocking; the worker's side. */
static void worker_report(int chan, int type, uint64_t id)
{
    unsigned char f[REPORT_BYTES];
    put_header(f, type, 8);
    memcpy(f + HEADER_BYTES, &id, 8);
    for (;;) {
        ssize_t n = send(chan, f, sizeof f, MSG_NOSIGNAL);
        if (n == (ssize_t) sizeof f) {
            return;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        _exit(0); /* the supervisor is gone */
    }
}

static void __attribute__((noreturn)) worker_main(int chan)
{
    prctl(PR_SET_NAME, "relay-worker");
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* belt and braces: EOF on the channel already ends the loop */
    build_response();
    worker_report(chan, T_READY, 0);
    static unsigned char data[MAX_FRAME_BYTES + 1];
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    for (;;) {
        struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                            .msg_controllen = sizeof ctl.buf };
        ssize_t n = recvmsg(chan, &m, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            _exit(n == 0 ? 0 : 1); /* EOF: the supervisor closed the channel (stop) or died */
        }
        int fd = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
                memcpy(&fd, CMSG_DATA(c), sizeof fd);
            }
        }
        if (n != HANDOFF_BYTES || data[0] != T_HANDOFF || fd < 0 || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
            fail("worker: malformed handoff");
        }
        uint64_t id;
        memcpy(&id, data + HEADER_BYTES + 2, 8);
        worker_report(chan, T_ACCEPTED, id);
        serve(fd);
        worker_report(chan, T_DONE, id);
    }
}

struct pending {
    uint64_t id;
    int fd;
};

struct worker {
    pid_t pid;
    int chan;
    int ready;
    int inflight;              /* handed off, no DONE yet */
    int blocked;               /* last handoff hit EAGAIN: wait for POLLOUT */
    int npending;              /* handed off, no ACCEPTED yet: the supervisor still holds these descriptors */
    struct pending pending[MAX_PREFETCH + 1];
};

static struct worker workers[MAX_WORKERS];
static int nworkers;

static struct {
    int fd[QUEUE_SIZE];
    uint64_t id[QUEUE_SIZE];
    int64_t at[QUEUE_SIZE];
    uint32_t peer_addr[QUEUE_SIZE];
    uint16_t peer_port[QUEUE_SIZE];
    int head, count;
} aq;

static uint16_t local_port;

/* Reads one worker's channel until EAGAIN. Returns 0, or -1 if the worker is gone. */
static int drain_channel(struct worker *w)
{
    static unsigned char data[MAX_FRAME_BYTES + 1];
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    for (;;) {
        struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                            .msg_controllen = sizeof ctl.buf };
        ssize_t n = recvmsg(w->chan, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return 0;
            }
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            return -1;
        }
        if (n != REPORT_BYTES) {
            fail("supervisor: malformed report");
        }
        uint64_t id;
        memcpy(&id, data + HEADER_BYTES, 8);
        switch (data[0]) {
        case T_READY:
            w->ready = 1;
            break;
        case T_ACCEPTED:
            for (int i = 0; i < w->npending; i++) {
                if (w->pending[i].id == id) {
                    close(w->pending[i].fd);
                    w->pending[i] = w->pending[--w->npending];
                    break;
                }
            }
            break;
        case T_DONE:
            w->inflight--;
            break;
        default:
            fail("supervisor: unknown report type");
        }
    }
}

/* Sends the oldest queued connection to w. Returns 0 if sent, -1 on EAGAIN (w->blocked is set). */
static int send_handoff(struct worker *w)
{
    int fd = aq.fd[aq.head];
    unsigned char f[HANDOFF_BYTES];
    put_header(f, T_HANDOFF, HANDOFF_BYTES - HEADER_BYTES);
    uint16_t count = 1;
    memcpy(f + HEADER_BYTES, &count, 2);
    unsigned char *e = f + HEADER_BYTES + 2;
    memcpy(e, &aq.id[aq.head], 8);
    memcpy(e + 8, &aq.at[aq.head], 8);
    /* local 127.0.0.1:port, remote address:port, each as family 1 + address 4 + port 2 */
    uint32_t lo = htonl(INADDR_LOOPBACK);
    e[16] = 4;
    memcpy(e + 17, &lo, 4);
    memcpy(e + 21, &local_port, 2);
    e[23] = 4;
    memcpy(e + 24, &aq.peer_addr[aq.head], 4);
    memcpy(e + 28, &aq.peer_port[aq.head], 2);

    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = { .iov_base = f, .iov_len = sizeof f };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    for (;;) {
        ssize_t n = sendmsg(w->chan, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == (ssize_t) sizeof f) {
            break;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            w->blocked = 1;
            return -1;
        }
        die("supervisor: sendmsg(handoff)");
    }
    w->pending[w->npending].id = aq.id[aq.head];
    w->pending[w->npending].fd = fd;
    w->npending++;
    w->inflight++;
    aq.head = (aq.head + 1) % QUEUE_SIZE;
    aq.count--;
    return 0;
}

/* LeastBusyPolicy: the fewest in flight, below cap; ties round-robin, starting after the last worker picked. */
static void dispatch(int cap)
{
    static int last = -1;
    while (aq.count > 0) {
        int best = -1;
        for (int k = 1; k <= nworkers; k++) {
            int i = (last + k + nworkers) % nworkers;
            struct worker *w = &workers[i];
            if (w->inflight < cap && !w->blocked && (best < 0 || w->inflight < workers[best].inflight)) {
                best = i;
                if (w->inflight == 0) {
                    break;
                }
            }
        }
        if (best < 0 || send_handoff(&workers[best]) < 0) {
            return;
        }
        last = best;
    }
}

static int run_relay(int nw, int port, int prefetch)
{
    int bound;
    int listener = open_listener(port, 1, &bound);
    local_port = htons((uint16_t) bound);

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    int sigfd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0) {
        die("signalfd");
    }
    signal(SIGPIPE, SIG_IGN);
    fflush(stdout);

    nworkers = nw;
    for (int i = 0; i < nw; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
            die("socketpair");
        }
        pid_t pid = fork();
        if (pid < 0) {
            die("fork");
        }
        if (pid == 0) {
            /* No exec: drop everything of the supervisor's but this worker's own end. */
            close(listener);
            close(sigfd);
            for (int j = 0; j < i; j++) {
                close(workers[j].chan);
            }
            close(sv[0]);
            sigprocmask(SIG_UNBLOCK, &stop, NULL);
            worker_main(sv[1]);
        }
        close(sv[1]);
        workers[i].pid = pid;
        workers[i].chan = sv[0];
    }
    prctl(PR_SET_NAME, "relay-loop");

    struct pollfd pfd[2 + MAX_WORKERS];
    int cap = 1 + prefetch;
    int announced = 0;
    uint64_t next_id = 1;
    for (;;) {
        int all_ready = 1;
        for (int i = 0; i < nw; i++) {
            all_ready &= workers[i].ready;
        }
        if (all_ready && !announced) {
            printf("relay_floor: relay: ready on 127.0.0.1:%d with %d worker(s), prefetch %d, pid %d\n", bound, nw,
                   prefetch, (int) getpid());
            fflush(stdout);
            announced = 1;
        }
        pfd[0] = (struct pollfd) { .fd = sigfd, .events = POLLIN };
        for (int i = 0; i < nw; i++) {
            pfd[1 + i] = (struct pollfd) { .fd = workers[i].chan,
                                           .events = (short) (POLLIN | (workers[i].blocked ? POLLOUT : 0)) };
        }
        /* The listener only while there is room to take more (and once the workers are ready). */
        int listen_slot = -1;
        if (announced && aq.count < QUEUE_SIZE) {
            listen_slot = 1 + nw;
            pfd[listen_slot] = (struct pollfd) { .fd = listener, .events = POLLIN };
        }
        int n = poll(pfd, (nfds_t) (listen_slot >= 0 ? 2 + nw : 1 + nw), -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("poll");
        }
        if (pfd[0].revents) {
            break; /* SIGTERM or SIGINT */
        }
        for (int i = 0; i < nw; i++) {
            short r = pfd[1 + i].revents;
            if (r & POLLOUT) {
                workers[i].blocked = 0;
            }
            if ((r & (POLLIN | POLLHUP | POLLERR)) && drain_channel(&workers[i]) < 0) {
                fprintf(stderr, "relay_floor: worker %d (pid %d) is gone\n", i, (int) workers[i].pid);
                exit(1); /* the other workers see EOF and exit */
            }
        }
        if (listen_slot >= 0 && (pfd[listen_slot].revents & POLLIN)) {
            while (aq.count < QUEUE_SIZE) {
                struct sockaddr_in peer;
                socklen_t plen = sizeof peer;
                int fd = accept4(listener, (struct sockaddr *) &peer, &plen, SOCK_CLOEXEC);
                if (fd < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        break;
                    }
                    if (errno == EINTR || errno == ECONNABORTED) {
                        continue;
                    }
                    perror("relay_floor: relay: accept4");
                    break;
                }
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                int slot = (aq.head + aq.count) % QUEUE_SIZE;
                aq.fd[slot] = fd;
                aq.id[slot] = next_id++;
                aq.at[slot] = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
                aq.peer_addr[slot] = peer.sin_addr.s_addr;
                aq.peer_port[slot] = peer.sin_port;
                aq.count++;
            }
        }
        dispatch(cap);
    }

    /* Stop: nothing new; closing the channels ends the workers' loops, then reap them. */
    close(listener);
    for (int i = 0; i < nw; i++) {
        close(workers[i].chan);
        for (int j = 0; j < workers[i].npending; j++) {
            close(workers[i].pending[j].fd);
        }
    }
    for (; aq.count > 0; aq.count--, aq.head = (aq.head + 1) % QUEUE_SIZE) {
        close(aq.fd[aq.head]);
    }
    for (int i = 0; i < nw; i++) {
        while (waitpid(workers[i].pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    return 0;
}

/* ============================================================================================== direct */

static volatile sig_atomic_t direct_stop;

static void on_stop_direct(int sig)
{
    (void) sig;
    direct_stop = 1;
}

static void __attribute__((noreturn)) direct_worker(int chan)
{
    prctl(PR_SET_NAME, "direct-worker");
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    build_response();
    for (;;) {
        char byte;
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                            .msg_controllen = sizeof ctl.buf };
        ssize_t n = recvmsg(chan, &m, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            _exit(n == 0 ? 0 : 1); /* EOF: the supervisor closed the channel (stop) or died */
        }
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        int fd = -1;
        if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS
            && c->cmsg_len == CMSG_LEN(sizeof(int)) && !(m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
            memcpy(&fd, CMSG_DATA(c), sizeof fd);
        }
        if (fd < 0) {
            fail("worker: message without exactly one descriptor");
        }
        serve(fd);
    }
}

static int run_direct(int nw, int port)
{
    int bound;
    int listener = open_listener(port, 0, &bound);
    signal(SIGPIPE, SIG_IGN);
    int chans[MAX_WORKERS];
    pid_t pids[MAX_WORKERS];
    for (int i = 0; i < nw; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
            die("socketpair");
        }
        pid_t pid = fork();
        if (pid < 0) {
            die("fork");
        }
        if (pid == 0) {
            close(listener);
            for (int j = 0; j < i; j++) {
                close(chans[j]);
            }
            close(sv[0]);
            direct_worker(sv[1]);
        }
        close(sv[1]);
        chans[i] = sv[0];
        pids[i] = pid;
    }
    /* No SA_RESTART: SIGTERM must interrupt the blocking accept4 or sendmsg. */
    struct sigaction sa = { .sa_handler = on_stop_direct };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    prctl(PR_SET_NAME, "direct-accept");
    printf("relay_floor: direct: ready on 127.0.0.1:%d with %d worker(s), pid %d\n", bound, nw, (int) getpid());
    fflush(stdout);

    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    char byte = 0;
    int next = 0;
    while (!direct_stop) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            perror("relay_floor: direct: accept4");
            usleep(100000); /* EMFILE and friends: leave it in the backlog, do not spin */
            continue;
        }
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                            .msg_controllen = sizeof ctl.buf };
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
        while (sendmsg(chans[next], &m, MSG_NOSIGNAL) < 0) {
            if (errno != EINTR) {
                die("supervisor: sendmsg(descriptor)");
            }
            if (direct_stop) {
                break;
            }
        }
        close(fd); /* no copy kept: the worker owns the connection now (or nobody, at stop) */
        next = (next + 1) % nw;
    }
    close(listener);
    for (int i = 0; i < nw; i++) {
        close(chans[i]);
    }
    for (int i = 0; i < nw; i++) {
        while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR) {
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "plain") == 0 && argc == 4) {
        signal(SIGPIPE, SIG_IGN);
        run_plain((int) parse_num(argv[2], 1, 1024), (int) parse_num(argv[3], 0, 65535));
    }
    if (argc >= 4 && strcmp(argv[1], "relay") == 0 && argc <= 5) {
        int prefetch = argc == 5 ? (int) parse_num(argv[4], 0, MAX_PREFETCH) : 0;
        return run_relay((int) parse_num(argv[2], 1, MAX_WORKERS), (int) parse_num(argv[3], 0, 65535), prefetch);
    }
    if (argc == 4 && strcmp(argv[1], "direct") == 0) {
        return run_direct((int) parse_num(argv[2], 1, MAX_WORKERS), (int) parse_num(argv[3], 0, 65535));
    }
    usage();
}
