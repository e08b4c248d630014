package io.prefork.internal.nativeio;

import java.nio.ByteBuffer;
import jnr.ffi.LibraryLoader;

/**
 * {@link SyscallBackend} with jnr-ffi: the only one on JDK 17-21. jnr-ffi saves errno per thread right after each
 * call ({@code Runtime.getLastError()}), so reading it straight after the call, on the same thread, is exact.
 */
final class JnrBackend implements SyscallBackend {
    private final WorkerLibC libc;
    private final jnr.ffi.Runtime runtime;

    JnrBackend() {
        libc = LibraryLoader.create(WorkerLibC.class).load("c");
        runtime = jnr.ffi.Runtime.getRuntime(libc);
    }

    private int fail() {
        return -runtime.getLastError();
    }

    private int rc(int rc) {
        return rc < 0 ? fail() : rc;
    }

    private long rc(long rc) {
        return rc < 0 ? fail() : rc;
    }

    @Override
    public String name() {
        return "jnr";
    }

    @Override
    public long address(ByteBuffer direct) {
        return jnr.ffi.Pointer.wrap(runtime, direct).address();
    }

    @Override
    public int socket(int domain, int type, int protocol) {
        return rc(libc.socket(domain, type, protocol));
    }

    @Override
    public int socketpair(int domain, int type, int protocol, long sv) {
        return rc(libc.socketpair(domain, type, protocol, sv));
    }

    @Override
    public int connect(int fd, long addr, int addrlen) {
        return rc(libc.connect(fd, addr, addrlen));
    }

    @Override
    public int setsockopt(int fd, int level, int optname, long optval, int optlen) {
        return rc(libc.setsockopt(fd, level, optname, optval, optlen));
    }

    @Override
    public long send(int fd, long buf, long len, int flags) {
        return rc(libc.send(fd, buf, len, flags));
    }

    @Override
    public long sendmsg(int fd, long msg, int flags) {
        return rc(libc.sendmsg(fd, msg, flags));
    }

    @Override
    public long recvmsg(int fd, long msg, int flags) {
        return rc(libc.recvmsg(fd, msg, flags));
    }

    @Override
    public int close(int fd) {
        return rc(libc.close(fd));
    }

    @Override
    public int shutdown(int fd, int how) {
        return rc(libc.shutdown(fd, how));
    }

    @Override
    public int getsockname(int fd, long addr, long addrlen) {
        return rc(libc.getsockname(fd, addr, addrlen));
    }

    @Override
    public int fcntl(int fd, int cmd, int arg) {
        return rc(libc.fcntl(fd, cmd, arg));
    }

    @Override
    public int poll(long fds, long nfds, int timeoutMs) {
        return rc(libc.poll(fds, nfds, timeoutMs));
    }

    @Override
    public int ignoreSignal(int sig) {
        return libc.signal(sig, 1 /* SIG_IGN */) == -1L /* SIG_ERR */ ? fail() : 0;
    }
}
