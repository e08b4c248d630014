package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * Sockets for tests of the supervisor's listener, here and in the examples' integration tests: accepting with a
 * deadline, and client sockets in states java.net cannot make.
 */
public final class TestSockets {
    private static final int EINPROGRESS = 115;

    private TestSockets() {
    }

    /**
     * Accepts one connection from a non-blocking listener, waiting for it with poll rather than spinning or
     * sleeping.
     */
    public static int accept(TcpListener listener, Duration within) throws IOException {
        long deadline = System.nanoTime() + within.toNanos();
        Poller poller = new Poller(1);
        poller.add(listener.fd(), Native.POLLIN);
        while (true) {
            int fd = listener.accept();
            if (fd >= 0) {
                return fd;
            }
            long leftMs = (deadline - System.nanoTime()) / 1_000_000;
            if (leftMs <= 0) {
                throw new AssertionError("no connection accepted on " + listener.boundAddress() + " within " + within);
            }
            poller.poll((int) Math.min(leftMs, 1000));
        }
    }

    /**
     * A client socket whose TCP handshake with {@code server} (IPv4) stays half-open: the socket's own filter drops
     * the SYN-ACK, so it never sends the final ACK, and the server keeps a request socket in SYN_RECV, retransmitting
     * its SYN-ACK, until the caller closes the returned descriptor (which it owns) and a retransmission meets the
     * closed port's reset.
     */
    public static int halfOpen(InetSocketAddress server) throws NativeException {
        int fd = Native.check(Native.LIBC.socket(Native.AF_INET, Native.SOCK_STREAM | Native.SOCK_NONBLOCK
                | Native.SOCK_CLOEXEC, 0), "socket(AF_INET)");
        try {
            TcpListener.attachFilter(fd, new int[][] {{0x06, 0, 0, 0}}, "drop everything");
            jnr.ffi.Pointer sa = Native.allocate(Native.SOCKADDR_BYTES);
            int len = Native.putSockaddr(server, sa);
            if (Native.LIBC.connect(fd, sa, len) == 0 || Native.errno() != EINPROGRESS) {
                throw new IllegalStateException("a non-blocking connect that cannot complete did not say EINPROGRESS");
            }
            return fd;
        } catch (NativeException | RuntimeException e) {
            Native.closeQuietly(fd);
            throw e;
        }
    }
}
