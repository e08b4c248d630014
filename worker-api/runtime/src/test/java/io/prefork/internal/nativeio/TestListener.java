package io.prefork.internal.nativeio;

import java.io.Closeable;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import jnr.ffi.Pointer;

/**
 * A blocking TCP listener for the worker side's tests, which need accepted sockets as raw descriptors (the
 * supervisor's own listener lives in the supervisor module). Call {@link #accept()} only after the client's
 * {@code connect} has returned: the connection then waits in the accept queue and accept4 returns at once.
 */
public final class TestListener implements Closeable {
    private final int fd;
    private final InetSocketAddress bound;
    private final Pointer peer = Native.allocate(Native.SOCKADDR_BYTES);
    private final Pointer peerLength = Native.allocate(4);

    private TestListener(int fd, InetSocketAddress bound) {
        this.fd = fd;
        this.bound = bound;
    }

    /** Binds {@code address} (port 0 for a free one) and listens. */
    public static TestListener open(InetSocketAddress address) throws NativeException {
        int family = address.getAddress() instanceof Inet4Address ? Native.AF_INET : Native.AF_INET6;
        int fd = Native.check(Native.LIBC.socket(family, Native.SOCK_STREAM | Native.SOCK_CLOEXEC, 0), "socket");
        try {
            Pointer sa = Native.allocate(Native.SOCKADDR_BYTES);
            Native.check(Native.LIBC.bind(fd, sa, Native.putSockaddr(address, sa)), "bind(" + address + ")");
            Native.check(Native.LIBC.listen(fd, 16), "listen");
            Pointer length = Native.allocate(4);
            length.putInt(0, Native.SOCKADDR_BYTES);
            Native.check(Native.LIBC.getsockname(fd, sa, length), "getsockname");
            return new TestListener(fd, Native.sockaddr(sa));
        } catch (NativeException | RuntimeException e) {
            Native.closeQuietly(fd);
            throw e;
        }
    }

    public InetSocketAddress boundAddress() {
        return bound;
    }

    /** The next connection's descriptor (blocking, close-on-exec), owned by the caller. */
    public int accept() throws NativeException {
        peerLength.putInt(0, Native.SOCKADDR_BYTES);
        return Native.check(Native.LIBC.accept4(fd, peer, peerLength, Native.SOCK_CLOEXEC), "accept4");
    }

    @Override
    public void close() {
        Native.closeQuietly(fd);
    }
}
