package io.prefork.supervisor.internal.nativeio;

import io.prefork.testing.Loopback;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.nativeio.TestFds;
import io.prefork.internal.runtime.ChannelWrapper;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.FrameType;
import io.prefork.internal.wire.WireAddress;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The raw listening socket: binding, accepting and the addresses it reports, against real loopback clients. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TcpListenerTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    private static InetSocketAddress loopback4(int port) {
        return new InetSocketAddress("127.0.0.1", port);
    }

    @Test
    void portZeroGivesARealPort() throws IOException {
        try (TcpListener listener = TcpListener.open(loopback4(0), 16)) {
            InetSocketAddress bound = listener.boundAddress();
            assertTrue(bound.getPort() > 0 && bound.getPort() <= 65535, "port " + bound.getPort());
            assertEquals(InetAddress.getByName("127.0.0.1"), bound.getAddress());
            assertEquals(Native.AF_INET, listener.family());
            assertTrue(TestFds.target(listener.fd()).startsWith("socket:"));
            // The port is really listening: a client connects to it.
            try (Socket client = new Socket()) {
                client.connect(bound, 5000);
                assertTrue(client.isConnected());
                int fd = TestSockets.accept(listener, WAIT);
                Native.close(fd);
            }
        }
    }

    @Test
    void listenerIsNonBlockingAndCloseOnExec() throws IOException {
        try (TcpListener listener = TcpListener.open(loopback4(0), 16)) {
            assertFalse(Native.isBlocking(listener.fd()));
            assertTrue(Native.isCloseOnExec(listener.fd()));
        }
    }

    @Test
    void bindingAPortInUseFailsWithEaddrinuse() throws IOException {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("127.0.0.1", 0));
            int port = taken.getLocalPort();
            int before = TestFds.count();
            NativeException e = assertThrows(NativeException.class,
                    () -> TcpListener.open(new InetSocketAddress("127.0.0.1", port), 16).close());
            assertEquals(Native.EADDRINUSE, e.errno());
            assertTrue(e.getMessage().contains("bind(127.0.0.1:" + port + ")"), e.getMessage());
            assertTrue(e.getMessage().contains("EADDRINUSE"), e.getMessage());
            assertEquals("bind(127.0.0.1:" + port + ")", e.call());
            // The socket made before bind failed was closed, not leaked.
            assertEquals(before, TestFds.count());
        }
    }

    @Test
    void bindingAPortOfAnotherTcpListenerFails() throws IOException {
        try (TcpListener first = TcpListener.open(loopback4(0), 16)) {
            int port = first.boundAddress().getPort();
            NativeException e = assertThrows(NativeException.class,
                    () -> TcpListener.open(loopback4(port), 16).close());
            assertEquals(Native.EADDRINUSE, e.errno());
        }
    }

    @Test
    void acceptOnEmptyListenerReturnsMinusOne() throws IOException {
        try (TcpListener listener = TcpListener.open(loopback4(0), 16)) {
            assertEquals(-1, listener.accept());
            assertEquals(-1, listener.accept());
        }
    }

    @Test
    void acceptedSocketIsBlockingAndCloseOnExecWithPeerAddress() throws IOException {
        try (TcpListener listener = TcpListener.open(loopback4(0), 16);
             Socket client = new Socket()) {
            client.connect(listener.boundAddress(), 5000);
            int fd = TestSockets.accept(listener, WAIT);
            try {
                assertNotEquals(listener.fd(), fd);
                assertTrue(Native.isBlocking(fd), "accept4 must not inherit the listener's O_NONBLOCK");
                assertTrue(Native.isCloseOnExec(fd));

                byte[] peer = lastPeer(listener);
                assertEquals(7, peer.length);
                assertEquals(4, peer[0]);
                assertEquals(client.getLocalSocketAddress(), WireAddress.decode(peer));
                assertArrayEquals(WireAddress.encode((InetSocketAddress) client.getLocalSocketAddress()), peer);
                assertHandoffDecodesTo(peer, (InetSocketAddress) client.getLocalSocketAddress());
            } finally {
                Native.close(fd);
            }
            // No second connection is pending.
            assertEquals(-1, listener.accept());
        }
    }

    @Test
    void lastPeerAddressFollowsEachAccept() throws IOException {
        try (TcpListener listener = TcpListener.open(loopback4(0), 16);
             Socket a = new Socket();
             Socket b = new Socket()) {
            a.connect(listener.boundAddress(), 5000);
            int fa = TestSockets.accept(listener, WAIT);
            Native.close(fa);
            assertEquals(a.getLocalSocketAddress(), WireAddress.decode(lastPeer(listener)));
            b.connect(listener.boundAddress(), 5000);
            int fb = TestSockets.accept(listener, WAIT);
            Native.close(fb);
            assertEquals(b.getLocalSocketAddress(), WireAddress.decode(lastPeer(listener)));
            assertNotEquals(a.getLocalPort(), b.getLocalPort());
        }
    }

    @Test
    void onAWildcardListenerTheWrappedChannelKnowsTheAddressTheClientReached() throws Exception {
        try (TcpListener listener = TcpListener.open(new InetSocketAddress("0.0.0.0", 0), 16);
             Socket client = new Socket()) {
            assertTrue(listener.boundAddress().getAddress().isAnyLocalAddress());
            int port = listener.boundAddress().getPort();
            client.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            int fd = TestSockets.accept(listener, WAIT);
            // Not 0.0.0.0: the JDK asks the accepted socket (getsockname) when it wraps it, which is why HANDOFF
            // carries no local address. The channel owns fd from here.
            try (SocketChannel ch = ChannelWrapper.create().wrap(fd, false, WireAddress.decode(lastPeer(listener)))) {
                assertEquals(new InetSocketAddress("127.0.0.1", port), ch.getLocalAddress());
            }
        }
    }

    @Test
    void formatsIpv6AsRfc5952() throws IOException {
        String[][] cases = {
            {"::1", "::1"}, {"::", "::"}, {"1::", "1::"}, {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
            {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"}, // one zero group stays 0
            {"1:0:0:2:0:0:0:3", "1:0:0:2::3"}, // the longest run
            {"1:0:0:2:0:0:3:4", "1::2:0:0:3:4"}, // of equal runs, the first
            {"fe80:0000:0000:0000:0204:61ff:fe9d:f156", "fe80::204:61ff:fe9d:f156"}};
        for (String[] c : cases) {
            Inet6Address a = (Inet6Address) InetAddress.getByName(c[0]);
            assertEquals(c[1], TcpListener.ipv6Text(a), c[0]);
            assertEquals(a, InetAddress.getByName(c[1]), "reads back as the same address: " + c[1]);
            assertEquals("[" + c[1] + "]:8080", TcpListener.format(new InetSocketAddress(a, 8080)));
        }
        Inet6Address scoped = Inet6Address.getByAddress(null, InetAddress.getByName("fe80::1").getAddress(), 5);
        assertEquals("fe80::1%5", TcpListener.ipv6Text(scoped));
        assertEquals("127.0.0.1:80", TcpListener.format(new InetSocketAddress("127.0.0.1", 80)));
    }

    @Test
    void ipv6Loopback() throws IOException {
        assumeTrue(Loopback.ipv6Works(), "this machine has no IPv6 loopback (::1)");
        InetAddress v6 = InetAddress.getByName("::1");
        assertTrue(v6 instanceof Inet6Address);
        try (TcpListener listener = TcpListener.open(new InetSocketAddress(v6, 0), 16);
             Socket client = new Socket()) {
            assertEquals(Native.AF_INET6, listener.family());
            assertEquals(v6, listener.boundAddress().getAddress());
            assertTrue(listener.boundAddress().getPort() > 0);
            assertEquals("[::1]:" + listener.boundAddress().getPort(),
                    TcpListener.format(listener.boundAddress()));
            client.connect(listener.boundAddress(), 5000);
            int fd = TestSockets.accept(listener, WAIT);
            try {
                assertTrue(Native.isBlocking(fd));
                assertTrue(Native.isCloseOnExec(fd));
                byte[] peer = lastPeer(listener);
                assertEquals(19, peer.length);
                assertEquals(6, peer[0]);
                assertEquals(client.getLocalSocketAddress(), WireAddress.decode(peer));
                assertHandoffDecodesTo(peer, (InetSocketAddress) client.getLocalSocketAddress());
            } finally {
                Native.close(fd);
            }
        }
        // A port taken on ::1 is reported with the bracketed literal.
        try (TcpListener first = TcpListener.open(new InetSocketAddress(v6, 0), 16)) {
            int port = first.boundAddress().getPort();
            NativeException e = assertThrows(NativeException.class,
                    () -> TcpListener.open(new InetSocketAddress(v6, port), 16).close());
            assertEquals(Native.EADDRINUSE, e.errno());
            assertTrue(e.getMessage().contains("bind([::1]:" + port + ")"), e.getMessage());
        }
    }

    /** The last accepted connection's peer address in wire form, in an array of its length. */
    private static byte[] lastPeer(TcpListener listener) {
        byte[] wire = new byte[WireAddress.MAX_BYTES];
        return Arrays.copyOf(wire, listener.copyLastPeerAddress(wire));
    }

    /** Builds a HANDOFF from a wire address and reads it back with the codec, as a worker would. */
    private static void assertHandoffDecodesTo(byte[] peerWire, InetSocketAddress peer) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(FrameCodec.MAX_FRAME_BYTES);
        int end = FrameCodec.putHandoffEntry(b, FrameCodec.beginHandoff(), 1, 2, peerWire, peerWire.length);
        int n = FrameCodec.finishHandoff(b, 1, end);
        assertEquals(FrameType.HANDOFF, FrameCodec.readHeader(b, n, false));
        assertEquals(1, FrameCodec.readHandoffCount(b, n));
        FrameCodec.HandoffReader r = new FrameCodec.HandoffReader();
        r.reset(b, n);
        r.next();
        r.finish();
        assertEquals(peer, r.peerAddress());
        assertEquals(peer.getAddress() instanceof Inet6Address, r.peerIsIpv6());
    }
}
