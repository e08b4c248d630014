package io.prefork.internal.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.nativeio.TestFds;
import io.prefork.internal.nativeio.TestListener;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Wrapping an accepted descriptor into a JDK SocketChannel, without passing it anywhere. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ChannelWrapperTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static ChannelWrapper wrapper;

    @BeforeAll
    static void create() throws ChannelWrapper.UnavailableException {
        // Surefire runs with --add-opens java.base/sun.nio.ch=ALL-UNNAMED; without it this fails naming the flag.
        wrapper = ChannelWrapper.create();
    }

    private static void roundTrip(Socket client, SocketChannel ch) throws IOException {
        client.getOutputStream().write(new byte[] {1, 2, 3});
        ByteBuffer in = ByteBuffer.allocate(3);
        while (in.hasRemaining()) {
            assertTrue(ch.read(in) > 0);
        }
        assertArrayEquals(new byte[] {1, 2, 3}, in.array());
        ch.write(ByteBuffer.wrap(new byte[] {9, 8}));
        assertArrayEquals(new byte[] {9, 8}, client.getInputStream().readNBytes(2));
    }

    @Test
    void wrappedIpv4SocketSupportsIpOptionsAndStreams() throws IOException {
        try (TestListener listener = TestListener.open(new InetSocketAddress("127.0.0.1", 0));
             Socket client = new Socket()) {
            client.connect(listener.boundAddress(), 5000);
            client.setSoTimeout((int) WAIT.toMillis());
            int fd = listener.accept();
            InetSocketAddress peer = (InetSocketAddress) client.getLocalSocketAddress();
            try (SocketChannel ch = wrapper.wrap(fd, false, peer)) {
                assertEquals(client.getLocalSocketAddress(), ch.getRemoteAddress());
                assertEquals(listener.boundAddress(), ch.getLocalAddress());
                // IP_TOS works only when the family given matches the socket's (AF_INET here).
                ch.setOption(StandardSocketOptions.IP_TOS, 0x10);
                assertEquals(0x10, ch.getOption(StandardSocketOptions.IP_TOS));
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                assertTrue(ch.getOption(StandardSocketOptions.TCP_NODELAY));
                roundTrip(client, ch);
                ch.shutdownOutput();
                assertEquals(-1, client.getInputStream().read(), "shutdownOutput sends FIN");
            }
            assertFalse(TestFds.isOpen(fd), "close() releases the descriptor");
        }
    }

    /** The supervisor's accepted sockets are blocking (TcpListenerTest checks): wrapped with no fcntl at all. */
    @Test
    void aSocketKnownBlockingIsWrappedAsItIs() throws IOException {
        try (TestListener listener = TestListener.open(new InetSocketAddress("127.0.0.1", 0));
             Socket client = new Socket()) {
            client.connect(listener.boundAddress(), 5000);
            client.setSoTimeout((int) WAIT.toMillis());
            int fd = listener.accept();
            assertTrue(Native.isBlocking(fd), "accept4 without SOCK_NONBLOCK");
            try (SocketChannel ch = wrapper.wrap(fd, false, (InetSocketAddress) client.getLocalSocketAddress(), true)) {
                assertTrue(ch.isBlocking());
                assertTrue(Native.isBlocking(fd));
                roundTrip(client, ch);
            }
        }
    }

    @Test
    void wrappedIpv6Socket() throws IOException {
        assumeTrue(ipv6LoopbackWorks(), "this machine has no IPv6 loopback (::1)");
        try (TestListener listener = TestListener.open(new InetSocketAddress(InetAddress.getByName("::1"), 0));
             Socket client = new Socket()) {
            client.connect(listener.boundAddress(), 5000);
            client.setSoTimeout((int) WAIT.toMillis());
            int fd = listener.accept();
            try (SocketChannel ch = wrapper.wrap(fd, true, (InetSocketAddress) client.getLocalSocketAddress())) {
                assertEquals(client.getLocalSocketAddress(), ch.getRemoteAddress());
                assertEquals(listener.boundAddress(), ch.getLocalAddress());
                roundTrip(client, ch);
            }
        }
    }

    @Test
    void wrappingAnInvalidDescriptorFailsWithTheCallNamed() {
        NativeException e = assertThrows(NativeException.class,
                () -> wrapper.wrap(-1, false, new InetSocketAddress("127.0.0.1", 1)));
        assertEquals(Native.EBADF, e.errno());
        assertTrue(e.getMessage().contains("fcntl(fd=-1"), e.getMessage());
    }

    @Test
    void wrappingANonSocketFailsAndClosesTheDescriptor() throws IOException {
        int fd = TestFds.eventfd();
        try {
            IOException e = assertThrows(IOException.class,
                    () -> wrapper.wrap(fd, false, new InetSocketAddress("127.0.0.1", 1)).close());
            assertFalse(e instanceof NativeException, "the JDK, not the blocking-mode switch, refuses it: " + e);
            // wrap took ownership and closed the descriptor on failure.
            assertFalse(TestFds.isOpen(fd), "the descriptor was closed when wrapping failed");
        } finally {
            if (TestFds.isOpen(fd) && TestFds.target(fd).contains("eventfd")) {
                Native.closeQuietly(fd);
            }
        }
    }

    private static boolean ipv6LoopbackWorks() {
        try (ServerSocket probe = new ServerSocket()) {
            probe.bind(new InetSocketAddress(InetAddress.getByName("::1"), 0));
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
