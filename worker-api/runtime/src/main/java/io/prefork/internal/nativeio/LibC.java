package io.prefork.internal.nativeio;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The few libc calls Prefork makes itself, bound with jnr-ffi. jnr-posix has socketpair, sendmsg and recvmsg, but
 * its sendmsg/recvmsg allocate per call, and a {@code MsgHdr} reused for a second recvmsg drops the next descriptor
 * (the kernel sets {@code msg_controllen} to 0 and jnr-posix has no setter to reset it, so the descriptor arrives
 * with MSG_CTRUNC and the kernel closes it); and it has no socket/bind/listen/accept4/poll/eventfd at all. Every method returns -1 and sets errno on failure; only
 * {@link Native} calls these, and it turns errno into a {@link NativeException} naming the call.
 *
 * <p>Structures are passed as {@link Pointer}s to native memory that the caller prepared once; nothing here
 * allocates per call.
 */
public interface LibC {
    int socket(int domain, int type, int protocol);

    int socketpair(int domain, int type, int protocol, @Out int[] sv);

    int bind(int fd, Pointer addr, int addrlen);

    int listen(int fd, int backlog);

    int accept4(int fd, Pointer addr, Pointer addrlen, int flags);

    int connect(int fd, Pointer addr, int addrlen);

    int getsockname(int fd, Pointer addr, Pointer addrlen);

    int setsockopt(int fd, int level, int optname, Pointer optval, int optlen);

    /** For the supervisor's check of sockets it inherits (systemd socket activation): SO_TYPE, SO_ACCEPTCONN. */
    int getsockopt(int fd, int level, int optname, Pointer optval, Pointer optlen);

    @ssize_t long sendmsg(int fd, Pointer msg, int flags);

    @ssize_t long recvmsg(int fd, Pointer msg, int flags);

    @ssize_t long send(int fd, Pointer buf, @size_t long len, int flags);

    @ssize_t long recv(int fd, Pointer buf, @size_t long len, int flags);

    @ssize_t long read(int fd, Pointer buf, @size_t long count);

    @ssize_t long write(int fd, Pointer buf, @size_t long count);

    int close(int fd);

    int shutdown(int fd, int how);

    int fcntl(int fd, int cmd, int arg);

    int poll(Pointer fds, @size_t long nfds, int timeoutMs);

    int eventfd(int initval, int flags);

    int kill(int pid, int sig);

    /** {@code signal(2)}: the handler is a code address; 0 is SIG_DFL, 1 SIG_IGN. Returns the previous one. */
    long signal(int sig, long handler);

    int getuid();

    /** {@code struct passwd *}, or null for no such user; for the supervisor's {@code --user}. Not thread-safe. */
    Pointer getpwnam(String name);

    /** {@code struct group *}, or null for no such group; for the supervisor's {@code --group}. Not thread-safe. */
    Pointer getgrnam(String name);
}
