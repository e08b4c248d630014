package io.prefork.internal.runtime;

import io.prefork.testing.Loopback;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.nativeio.TestFds;
import io.prefork.internal.nativeio.TestListener;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
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
        assumeTrue(Loopback.ipv6Works(), "this machine has no IPv6 loopback (::1)");
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
        for (boolean direct : new boolean[] {true, false}) {
            int fd = TestFds.eventfd();
            try {
                IOException e = assertThrows(IOException.class, () -> (direct
                        ? wrapper.wrap(fd, false, new InetSocketAddress("127.0.0.1", 1))
                        : wrapper.wrapWithConstructor(fd, false, new InetSocketAddress("127.0.0.1", 1))).close());
                if (direct) {
                    // The direct build's own getsockname refuses it, naming the call.
                    assertTrue(e.getMessage().contains("getsockname(fd=" + fd + ")"), e.getMessage());
                } else {
                    assertFalse(e instanceof NativeException, "the JDK, not the blocking-mode switch, refuses it: " + e);
                }
                // wrap took ownership and closed the descriptor on failure.
                assertFalse(TestFds.isOpen(fd), "the descriptor was closed when wrapping failed");
            } finally {
                if (TestFds.isOpen(fd) && TestFds.target(fd).contains("eventfd")) {
                    Native.closeQuietly(fd);
                }
            }
        }
    }

    /**
     * CI runs this on JDK 17 and 25: both must take the direct build (one getsockname per connection, not the
     * constructor's two). A JDK whose SocketChannelImpl differs fails here, naming the fields, and still works
     * through the constructor (the other tests).
     */
    @Test
    void theDirectBuildIsAvailableOnThisJdk() {
        assertNull(ChannelWrapper.directUnavailableReason(), "JDK " + Runtime.version());
        assertTrue(wrapper.direct());
    }

    /**
     * A channel built directly is the channel the constructor builds: every field of SocketChannelImpl, compared
     * between two connections accepted from one listener, one wrapped each way.
     */
    @Test
    void theDirectBuildSetsEveryFieldAsTheConstructorDoes() throws Exception {
        assumeTrue(ChannelWrapper.directUnavailableReason() == null, ChannelWrapper.directUnavailableReason());
        try (TestListener listener = TestListener.open(new InetSocketAddress("127.0.0.1", 0));
             Socket c1 = new Socket(); Socket c2 = new Socket()) {
            c1.connect(listener.boundAddress(), 5000);
            c2.connect(listener.boundAddress(), 5000);
            int fd1 = listener.accept();
            int fd2 = listener.accept();
            try (SocketChannel direct = wrapper.wrap(fd1, false, (InetSocketAddress) c1.getLocalSocketAddress(), true);
                 SocketChannel built = wrapper.wrapWithConstructor(fd2, false,
                         (InetSocketAddress) c2.getLocalSocketAddress())) {
                assertEquals(built.getClass(), direct.getClass());
                int compared = 0;
                for (Field f : built.getClass().getDeclaredFields()) {
                    if (Modifier.isStatic(f.getModifiers())) {
                        continue;
                    }
                    f.setAccessible(true);
                    Object d = f.get(direct);
                    Object b = f.get(built);
                    String what = f.getName() + ": direct " + d + ", constructor " + b;
                    switch (f.getName()) {
                        case "fd" -> assertEquals(fd1, ((Integer) fdVal(d)).intValue(), what);
                        case "fdVal" -> {
                            assertEquals(fd1, d, what);
                            assertEquals(fd2, b, what);
                        }
                        case "remoteAddress" -> {
                            assertEquals(c1.getLocalSocketAddress(), d, what);
                            assertEquals(c2.getLocalSocketAddress(), b, what);
                        }
                        default -> {
                            if (b == null || d == null) {
                                assertEquals(b, d, what);
                            } else if (b.getClass() == Object.class) {
                                assertEquals(Object.class, d.getClass(), what); // a lock: a new one each
                                assertNotSame(b, d, what);
                            } else if (b instanceof ReentrantLock bl) {
                                ReentrantLock dl = assertInstanceOf(ReentrantLock.class, d, what);
                                assertNotSame(b, d, what);
                                assertEquals(bl.isFair(), dl.isFair(), what);
                                assertFalse(dl.isLocked(), what);
                            } else {
                                assertEquals(b, d, what); // family, localAddress, state, and every false/0 flag
                            }
                        }
                    }
                    compared++;
                }
                // All of them (JDK 17 lacks one of the known fields).
                int known = ChannelWrapper.Direct.KNOWN_FIELDS.size();
                assertTrue(compared == known || compared == known - 1, compared + " fields compared, " + known + " known");
                assertEquals(listener.boundAddress(), direct.getLocalAddress());
                assertEquals(built.getLocalAddress(), direct.getLocalAddress());
                assertEquals(built.isBlocking(), direct.isBlocking());
                assertEquals(built.isConnected(), direct.isConnected());
                assertEquals(built.isRegistered(), direct.isRegistered());
            }
            assertFalse(TestFds.isOpen(fd1), "close() releases the directly built channel's descriptor");
            assertFalse(TestFds.isOpen(fd2));
        }
    }

    /** The number in a FileDescriptor, as the JDK reads it (java.io is not opened to tests; sun.nio.ch is). */
    private static Object fdVal(Object fileDescriptor) throws ReflectiveOperationException {
        java.lang.reflect.Method m = Class.forName("sun.nio.ch.IOUtil").getDeclaredMethod("fdVal",
                java.io.FileDescriptor.class);
        m.setAccessible(true);
        return m.invoke(null, fileDescriptor);
    }

    /**
     * What a handler does with a directly built channel: timed blocking reads through socket() (the locks and the
     * blocking-mode switch), then non-blocking with a Selector, then close while registered.
     */
    @Test
    void aDirectlyBuiltChannelServesTimedReadsAndASelector() throws Exception {
        try (TestListener listener = TestListener.open(new InetSocketAddress("127.0.0.1", 0));
             Socket client = new Socket()) {
            client.connect(listener.boundAddress(), 5000);
            client.setSoTimeout((int) WAIT.toMillis());
            int fd = listener.accept();
            SocketChannel ch = wrapper.wrap(fd, false, (InetSocketAddress) client.getLocalSocketAddress(), true);
            try (ch; Selector selector = Selector.open()) {
                ch.socket().setSoTimeout(50);
                assertThrows(SocketTimeoutException.class, () -> ch.socket().getInputStream().read());
                client.getOutputStream().write(7);
                assertEquals(7, ch.socket().getInputStream().read());
                assertEquals(client.getLocalSocketAddress(), ch.socket().getRemoteSocketAddress());
                assertEquals(listener.boundAddress(), ch.socket().getLocalSocketAddress());

                ch.configureBlocking(false);
                assertFalse(Native.isBlocking(fd));
                SelectionKey key = ch.register(selector, SelectionKey.OP_READ);
                assertEquals(0, ch.read(ByteBuffer.allocate(1)), "non-blocking: nothing to read yet");
                client.getOutputStream().write(8);
                assertEquals(1, selector.select(WAIT.toMillis()));
                assertTrue(key.isReadable());
                ByteBuffer one = ByteBuffer.allocate(1);
                assertEquals(1, ch.read(one));
                assertEquals(8, one.get(0));
            }
            assertFalse(ch.isOpen());
            assertEquals(-1, client.getInputStream().read(), "the client sees the close");
        }
    }
}
