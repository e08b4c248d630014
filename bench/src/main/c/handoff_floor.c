/*
 * handoff_floor: the kernel work of HandoffBenchmark.sendRecvClose (and its batched variants) in plain C, with no
 * JVM, no jnr-ffi and no frame codec: the floor the Java figures are compared with in bench/README.md.
 *
 * Per message: sendmsg of a payload the size of the Java HANDOFF frame (header 8 + count 2 + 24 bytes per IPv4
 * entry: 34 bytes for one descriptor) with N copies of one connected TCP descriptor in a single SCM_RIGHTS cmsg,
 * over an AF_UNIX SOCK_SEQPACKET|SOCK_CLOEXEC socketpair; recvmsg with MSG_CMSG_CLOEXEC into buffers of the sizes
 * ControlChannel uses (16385 data bytes, a control buffer for 253 descriptors); close of every received descriptor.
 * One thread plays both ends, as in the JMH benchmark, so no call ever blocks.
 *
 * With -w, each received descriptor also gets the system calls that HandoffBenchmark.sendRecvWrapClose adds before
 * its close (counted with strace on JDK 17 and 25): fcntl(F_GETFL) from ChannelWrapper's setBlocking, and two
 * getsockname from the JDK's SocketChannelImpl constructor (Net.localAddress asks for the address and the port
 * separately). That is the floor of the wrap path in system calls, without the JVM's objects.
 *
 * Build: gcc -O2 -Wall -Wextra -o bench/target/handoff_floor bench/src/main/c/handoff_floor.c
 * Usage: handoff_floor [-w] [descriptors-per-message (1..253, default 1)] [descriptors-per-round (default 200000)]
 *                      [rounds (default 5)]
 * Prints ns per descriptor for each measured round (after one warm-up round of the same size), their mean and median.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 253            /* SCM_MAX_FD: one more gives EINVAL */
#define MAX_FRAME_BYTES 16384  /* FrameCodec.MAX_FRAME_BYTES */
#define HEADER_BYTES 8
#define ENTRY_BYTES_V4 24      /* id 8 + accepted-at 8 + the IPv4 peer address in wire form (7) + flags 1 */

static void die(const char *what)
{
    fprintf(stderr, "handoff_floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail(const char *what)
{
    fprintf(stderr, "handoff_floor: %s\n", what);
    exit(1);
}

static long open_descriptors(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        die("opendir(/proc/self/fd)");
    }
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/* A connected loopback TCP connection; returns the accepted (server-side) descriptor, the one that is passed. */
static int loopback_connection(int *listener_out, int *client_out)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) {
        die("socket(AF_INET)");
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(l, (struct sockaddr *) &a, sizeof a) < 0) {
        die("bind(127.0.0.1:0)");
    }
    if (listen(l, 16) < 0) {
        die("listen");
    }
    socklen_t len = sizeof a;
    if (getsockname(l, (struct sockaddr *) &a, &len) < 0) {
        die("getsockname");
    }
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0) {
        die("socket(AF_INET) for the client");
    }
    if (connect(c, (struct sockaddr *) &a, sizeof a) < 0) {
        die("connect(127.0.0.1)");
    }
    /* A blocking listener: on loopback the handshake is complete when connect returns, so this does not wait. */
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0) {
        die("accept4");
    }
    *listener_out = l;
    *client_out = c;
    return s;
}

int main(int argc, char **argv)
{
    int wrap_calls = argc > 1 && strcmp(argv[1], "-w") == 0;
    if (wrap_calls) {
        argv++;
        argc--;
    }
    int per_msg = argc > 1 ? atoi(argv[1]) : 1;
    long per_round = argc > 2 ? atol(argv[2]) : 200000;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (per_msg < 1 || per_msg > MAX_FDS || per_round < 1 || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "usage: %s [-w] [descriptors-per-message 1..%d] [descriptors-per-round] [rounds 1..1000]\n",
                argv[0], MAX_FDS);
        return 2;
    }
    long messages = per_round / per_msg;
    if (messages < 1) {
        messages = 1;
    }
    size_t payload_len = HEADER_BYTES + 2 + (size_t) ENTRY_BYTES_V4 * per_msg;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        die("socketpair(AF_UNIX, SOCK_SEQPACKET)");
    }
    int listener, client;
    int tcp = loopback_connection(&listener, &client);

    /* Send side: a frame-shaped payload (magic 'PF', version 3, HANDOFF 0x10, body length, count). */
    static unsigned char send_buf[MAX_FRAME_BYTES];
    memset(send_buf, 0x5a, sizeof send_buf);
    send_buf[0] = 0x50;
    send_buf[1] = 0x46;
    send_buf[2] = 3;
    send_buf[3] = 0x10;
    uint32_t body = htonl((uint32_t) (payload_len - HEADER_BYTES));
    memcpy(send_buf + 4, &body, 4);
    send_buf[8] = (unsigned char) (per_msg >> 8);
    send_buf[9] = (unsigned char) per_msg;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    } send_ctrl, recv_ctrl;
    struct iovec send_iov = {.iov_base = send_buf, .iov_len = payload_len};
    struct msghdr smsg;
    memset(&smsg, 0, sizeof smsg);
    smsg.msg_iov = &send_iov;
    smsg.msg_iovlen = 1;
    smsg.msg_control = send_ctrl.buf;
    smsg.msg_controllen = CMSG_SPACE(sizeof(int) * per_msg);
    int fds[MAX_FDS];
    for (int i = 0; i < per_msg; i++) {
        fds[i] = tcp;
    }

    /* Receive side: one byte more than the largest frame, as ControlChannel does. */
    static unsigned char recv_buf[MAX_FRAME_BYTES + 1];
    struct iovec recv_iov = {.iov_base = recv_buf, .iov_len = sizeof recv_buf};
    struct msghdr rmsg;
    memset(&rmsg, 0, sizeof rmsg);
    rmsg.msg_iov = &recv_iov;
    rmsg.msg_iovlen = 1;
    rmsg.msg_control = recv_ctrl.buf;

    long fds_before = open_descriptors();
    double *ns = calloc((size_t) rounds, sizeof *ns);
    if (ns == NULL) {
        fail("out of memory");
    }
    printf("handoff_floor%s: %d descriptor(s) per message, %zu-byte payload, %ld messages (%ld descriptors) per round, "
           "1 warm-up round + %d measured\n", wrap_calls ? " -w (plus fcntl + 2 getsockname per descriptor)" : "",
           per_msg, payload_len, messages, messages * per_msg, rounds);
    for (int r = -1; r < rounds; r++) {
        double t0 = now_ns();
        for (long m = 0; m < messages; m++) {
            /* Rebuilt per message, as MessageStruct.prepareSend does. */
            struct cmsghdr *c = CMSG_FIRSTHDR(&smsg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * per_msg);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * per_msg);
            ssize_t sent = sendmsg(sv[0], &smsg, MSG_NOSIGNAL);
            if (sent != (ssize_t) payload_len) {
                die("sendmsg");
            }

            /* The kernel overwrites msg_controllen with what it used: reset it before every receive. */
            rmsg.msg_controllen = sizeof recv_ctrl.buf;
            rmsg.msg_flags = 0;
            ssize_t got = recvmsg(sv[1], &rmsg, MSG_CMSG_CLOEXEC);
            if (got != (ssize_t) payload_len) {
                die("recvmsg");
            }
            if (rmsg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
                fail("recvmsg truncated the message or its descriptors");
            }
            int received = 0;
            for (struct cmsghdr *h = CMSG_FIRSTHDR(&rmsg); h != NULL; h = CMSG_NXTHDR(&rmsg, h)) {
                if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) {
                    continue;
                }
                int n = (int) ((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                int *in = (int *) CMSG_DATA(h);
                for (int i = 0; i < n; i++) {
                    int fd;
                    memcpy(&fd, in + i, sizeof fd);
                    if (wrap_calls) {
                        struct sockaddr_storage local;
                        socklen_t local_len = sizeof local;
                        if (fcntl(fd, F_GETFL) < 0) {
                            die("fcntl(F_GETFL)");
                        }
                        if (getsockname(fd, (struct sockaddr *) &local, &local_len) < 0) {
                            die("getsockname");
                        }
                        local_len = sizeof local;
                        if (getsockname(fd, (struct sockaddr *) &local, &local_len) < 0) {
                            die("getsockname");
                        }
                    }
                    if (close(fd) < 0) {
                        die("close(received descriptor)");
                    }
                }
                received += n;
            }
            if (received != per_msg) {
                fail("received a different number of descriptors than were sent");
            }
        }
        double per_fd = (now_ns() - t0) / (double) (messages * per_msg);
        if (r < 0) {
            printf("warm-up: %.1f ns/descriptor\n", per_fd);
        } else {
            ns[r] = per_fd;
            printf("round %d: %.1f ns/descriptor\n", r + 1, per_fd);
        }
    }
    if (open_descriptors() != fds_before) {
        fail("descriptor count changed: a received descriptor leaked");
    }

    double sum = 0;
    for (int r = 0; r < rounds; r++) {
        sum += ns[r];
    }
    qsort(ns, (size_t) rounds, sizeof *ns, cmp_double);
    double median = rounds % 2 ? ns[rounds / 2] : (ns[rounds / 2 - 1] + ns[rounds / 2]) / 2;
    printf("mean %.1f ns/descriptor, median %.1f, min %.1f, max %.1f (%d descriptor(s) per message%s)\n",
           sum / rounds, median, ns[0], ns[rounds - 1], per_msg, wrap_calls ? ", -w" : "");

    free(ns);
    close(tcp);
    close(client);
    close(listener);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
