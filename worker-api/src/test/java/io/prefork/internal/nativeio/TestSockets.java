package io.prefork.internal.nativeio;

import java.net.InetSocketAddress;

/** Client sockets in states java.net cannot make, for tests here and in the examples' integration tests. */
public final class TestSockets {
    private static final int EINPROGRESS = 115;

    private TestSockets() {
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
            Native.attachFilter(fd, new int[][] {{0x06, 0, 0, 0}}, "drop everything");
            jnr.ffi.Pointer sa = Native.allocate(28);
            int len = TcpListener.fromInet(server, sa);
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
