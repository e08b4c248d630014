package io.prefork.internal.nativeio;

import jnr.ffi.types.intptr_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The calls {@link JnrBackend} binds with jnr-ffi: only what a worker needs, not the supervisor's whole {@link LibC},
 * because jnr-ffi generates a stub class per bound method at load time and a worker JVM pays for each one at boot.
 * Every parameter and result is a primitive (addresses as {@code long}): jnr-ffi's fastest invocation path, with no
 * marshalling of pointer objects. Public only because jnr-ffi defines the generated implementation in a class
 * loader of its own, which must see the interface.
 */
public interface WorkerLibC {
    int socket(int domain, int type, int protocol);

    int socketpair(int domain, int type, int protocol, @intptr_t long sv);

    int connect(int fd, @intptr_t long addr, int addrlen);

    int setsockopt(int fd, int level, int optname, @intptr_t long optval, int optlen);

    @ssize_t long send(int fd, @intptr_t long buf, @size_t long len, int flags);

    @ssize_t long sendmsg(int fd, @intptr_t long msg, int flags);

    @ssize_t long recvmsg(int fd, @intptr_t long msg, int flags);

    int close(int fd);

    int shutdown(int fd, int how);

    int getsockname(int fd, @intptr_t long addr, @intptr_t long addrlen);

    int fcntl(int fd, int cmd, int arg);

    int poll(@intptr_t long fds, @size_t long nfds, int timeoutMs);

    /** The handler is a code address (1 is SIG_IGN); returns the previous one, or SIG_ERR (-1). */
    @intptr_t long signal(int sig, @intptr_t long handler);
}
