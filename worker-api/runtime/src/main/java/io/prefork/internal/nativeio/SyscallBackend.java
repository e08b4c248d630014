package io.prefork.internal.nativeio;

import java.nio.ByteBuffer;

/**
 * The seam under the native boundary: the libc calls that the code shared by worker and supervisor makes
 * ({@link ControlChannel}, {@link MessageStruct}, {@link Bootstrap} and the descriptor helpers of {@link Syscalls}),
 * with two implementations: {@link JnrBackend} (jnr-ffi, any JDK) and {@code FfmBackend} (java.lang.foreign, JDK 22+,
 * compiled into {@code META-INF/versions/22} of the runtime jar). A worker on JDK 22+ thus never loads jnr, whose
 * stub generation was most of a worker's boot (about 400 jnr/jffi classes, 0.4 s of 0.6 s).
 *
 * <p>Every call returns its result, or <b>minus errno</b> on failure (the convention of the raw Linux system calls),
 * so that no thread-local errno has to be read back afterwards and both implementations behave the same; only
 * {@link Syscalls} turns a negative value into a {@link NativeException} naming the call. Structures and buffers
 * are passed as native addresses (of direct buffers the caller keeps reachable during the call), never as
 * library-specific pointer types, so the callers' code is the same for both.
 */
interface SyscallBackend {
    /** "ffm" or "jnr", for logs and tests. */
    String name();

    /** A direct buffer's native address; the caller keeps the buffer reachable while the address is in use. */
    long address(ByteBuffer direct);

    int socket(int domain, int type, int protocol);

    /** {@code sv}: the address of two ints that receive the descriptors. */
    int socketpair(int domain, int type, int protocol, long sv);

    int connect(int fd, long addr, int addrlen);

    int setsockopt(int fd, int level, int optname, long optval, int optlen);

    long send(int fd, long buf, long len, int flags);

    long sendmsg(int fd, long msg, int flags);

    long recvmsg(int fd, long msg, int flags);

    int close(int fd);

    int shutdown(int fd, int how);

    /** {@code addrlen}: the address of a {@code socklen_t} holding the room at {@code addr}, updated by the call. */
    int getsockname(int fd, long addr, long addrlen);

    int fcntl(int fd, int cmd, int arg);

    /** {@code fds}: the address of {@code nfds} {@code struct pollfd}s (8 bytes each). */
    int poll(long fds, long nfds, int timeoutMs);

    /** {@code signal(sig, SIG_IGN)}: 0, or minus errno. */
    int ignoreSignal(int sig);
}
