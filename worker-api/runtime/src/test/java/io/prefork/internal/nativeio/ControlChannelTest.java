package io.prefork.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.runtime.ChannelWrapper;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.FrameException;
import io.prefork.internal.wire.FrameType;
import io.prefork.internal.wire.WireAddress;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A real SOCK_SEQPACKET socketpair passing real descriptors, through to a wrapped SocketChannel. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ControlChannelTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    /** The supervisor's end (sends HANDOFF) and the worker's end. */
    private ControlChannel supervisor;
    private ControlChannel worker;
    /** Descriptors a test opened itself, closed after it whatever happens. */
    private final List<Integer> opened = new ArrayList<>();

    @BeforeEach
    void openPair() throws NativeException {
        ControlChannel[] pair = ControlChannel.pair();
        supervisor = pair[0];
        worker = pair[1];
    }

    @AfterEach
    void closeAll() {
        // Received descriptors are not closed here: a test that wrapped one no longer owns it, and closing its
        // number again could close a descriptor the JVM has reused since. Tests close what they received.
        supervisor.close();
        worker.close();
        for (int fd : opened) {
            Native.closeQuietly(fd);
        }
    }

    /** Opens {@code n} distinct sockets (halves of socketpairs), each with its own /proc identity. */
    private int[] openSockets(int n) throws NativeException {
        int[] fds = new int[n];
        for (int i = 0; i < n; i += 2) {
            int[] sv = Native.seqpacketPair();
            opened.add(sv[0]);
            opened.add(sv[1]);
            fds[i] = sv[0];
            if (i + 1 < n) {
                fds[i + 1] = sv[1];
            }
        }
        return fds;
    }

    private static InetSocketAddress address(int i, boolean v6) throws IOException {
        byte[] ip = new byte[v6 ? 16 : 4];
        ip[0] = (byte) (v6 ? 0xfd : 10);
        ip[ip.length - 2] = (byte) (i >>> 8);
        ip[ip.length - 1] = (byte) i;
        return new InetSocketAddress(InetAddress.getByAddress(ip), 2000 + i);
    }

    /** Encodes a HANDOFF of {@code count} entries (ids 100+i, mixed families) into the supervisor's send buffer. */
    private int encodeHandoff(int count) throws IOException {
        ByteBuffer b = supervisor.sendBuffer();
        int offset = FrameCodec.beginHandoff();
        for (int i = 0; i < count; i++) {
            byte[] peer = WireAddress.encode(address(i, i % 3 == 0));
            offset = FrameCodec.putHandoffEntry(b, offset, 100 + i, 5_000_000L * i, peer, peer.length);
        }
        return FrameCodec.finishHandoff(b, count, offset);
    }

    private void assertDescriptorsArrived(int[] sent, int count) throws IOException {
        assertEquals(count, worker.receivedDescriptorCount());
        assertFalse(worker.descriptorsTruncated());
        Set<Integer> numbers = new HashSet<>();
        for (int i = 0; i < count; i++) {
            int got = worker.receivedDescriptor(i);
            assertTrue(numbers.add(got), "descriptor numbers must be distinct");
            for (int s : sent) {
                assertNotEquals(s, got, "a received descriptor is a new number");
            }
            assertTrue(TestFds.isOpen(got));
            // The same open file as the i-th sent descriptor: order is kept.
            assertEquals(TestFds.target(sent[i]), TestFds.target(got), "descriptor " + i);
            assertTrue(Native.isCloseOnExec(got), "received descriptors are close-on-exec (MSG_CMSG_CLOEXEC)");
        }
    }

    @Test
    void pairIsCloseOnExecSeqpacket() throws NativeException {
        assertTrue(Native.isCloseOnExec(supervisor.fd()));
        assertTrue(Native.isCloseOnExec(worker.fd()));
        assertTrue(Native.isBlocking(supervisor.fd()));
        assertNotEquals(supervisor.fd(), worker.fd());
        assertTrue(TestFds.target(supervisor.fd()).startsWith("socket:"));
    }

    @Test
    void peerClosedOnlyOnceThePeerIsGone() throws IOException {
        assertFalse(worker.peerClosed());
        int n = FrameCodec.encodeProxyRefused(supervisor.sendBuffer(), 1);
        assertTrue(supervisor.send(n, null, 0, false));
        assertFalse(worker.peerClosed(), "data waiting is no hang-up");
        supervisor.close();
        assertTrue(worker.peerClosed(), "POLLHUP once the peer closed, even with data still unread");
        worker.close();
        assertTrue(worker.peerClosed(), "closed here: nothing to poll");
    }

    @Test
    void frameWithoutDescriptors() throws IOException {
        int n = FrameCodec.encodeProxyRefused(worker.sendBuffer(), 42);
        assertTrue(worker.send(n, null, 0, false));
        assertEquals(n, supervisor.receive(false));
        assertEquals(0, supervisor.receivedDescriptorCount());
        ByteBuffer r = supervisor.receiveBuffer();
        assertEquals(FrameType.PROXY_REFUSED, FrameCodec.readHeader(r, n, true));
        assertEquals(42, FrameCodec.readProxyRefused(r, n));
    }

    @Test
    void frameWithOneDescriptor() throws IOException {
        int[] sent = openSockets(1);
        int n = encodeHandoff(1);
        assertTrue(supervisor.send(n, sent, 1, false));
        // The sender keeps its copy: still open after the send.
        assertTrue(TestFds.isOpen(sent[0]));
        assertEquals(n, worker.receive(false));
        try {
            assertDescriptorsArrived(sent, 1);
        } finally {
            worker.closeReceivedDescriptors();
        }
        ByteBuffer r = worker.receiveBuffer();
        assertEquals(FrameType.HANDOFF, FrameCodec.readHeader(r, n, false));
        assertEquals(1, FrameCodec.readHandoffCount(r, n));
        FrameCodec.HandoffReader reader = new FrameCodec.HandoffReader();
        reader.reset(r, n);
        reader.next();
        assertEquals(100, reader.id());
        assertEquals(address(0, true), reader.peerAddress());
        reader.finish();
    }

    @Test
    void frameWith253Descriptors() throws IOException {
        int count = FrameCodec.MAX_FDS_PER_FRAME;
        int[] sent = openSockets(count);
        int n = encodeHandoff(count);
        assertTrue(supervisor.send(n, sent, count, false));
        assertEquals(n, worker.receive(false));
        try {
            assertDescriptorsArrived(sent, count);
        } catch (AssertionError | RuntimeException e) {
            worker.closeReceivedDescriptors();
            throw e;
        }
        ByteBuffer r = worker.receiveBuffer();
        assertEquals(FrameType.HANDOFF, FrameCodec.readHeader(r, n, false));
        assertEquals(count, FrameCodec.readHandoffCount(r, n));
        FrameCodec.HandoffReader reader = new FrameCodec.HandoffReader();
        reader.reset(r, n);
        for (int i = 0; i < count; i++) {
            reader.next();
            assertEquals(100 + i, reader.id());
            assertEquals(5_000_000L * i, reader.acceptedEpochMicros());
            assertEquals(address(i, i % 3 == 0), reader.peerAddress());
        }
        reader.finish();

        // closeReceivedDescriptors releases every one of them (for a frame the receiver rejects).
        int[] received = new int[count];
        String[] identity = new String[count];
        for (int i = 0; i < count; i++) {
            received[i] = worker.receivedDescriptor(i);
            identity[i] = TestFds.target(received[i]);
        }
        worker.closeReceivedDescriptors();
        assertEquals(0, worker.receivedDescriptorCount());
        for (int i = 0; i < count; i++) {
            // By what it refers to, not by number: the number may be reused at once by anything else in this JVM.
            assertFalse(TestFds.isOpenAs(received[i], identity[i]), "descriptor " + received[i] + " should be closed");
        }
    }

    @Test
    void sendRefusesArgumentsThatWouldOverrunTheNativeBuffers() throws IOException {
        int[] fds = openSockets(FrameCodec.MAX_FDS_PER_FRAME + 1);
        int n = FrameCodec.encodeProxyRefused(supervisor.sendBuffer(), 1);
        assertThrows(IllegalArgumentException.class,
                () -> supervisor.send(n, fds, FrameCodec.MAX_FDS_PER_FRAME + 1, false));
        assertThrows(IllegalArgumentException.class, () -> supervisor.send(n, new int[1], 2, false));
        assertThrows(IllegalArgumentException.class, () -> supervisor.send(n, fds, -1, false));
        assertThrows(IllegalArgumentException.class,
                () -> supervisor.send(FrameCodec.MAX_FRAME_BYTES + 1, null, 0, false));
        assertThrows(IllegalArgumentException.class, () -> supervisor.send(-1, null, 0, false));
        // Nothing was sent by the refused calls.
        assertEquals(ControlChannel.WOULD_BLOCK, worker.receive(true));
    }

    @Test
    void messageBoundariesAreKept() throws IOException {
        ByteBuffer b = worker.sendBuffer();
        int[] lengths = new int[3];
        lengths[0] = FrameCodec.encodeReady(b, 4711);
        assertTrue(worker.send(lengths[0], null, 0, false));
        lengths[1] = FrameCodec.encodeIds(b, FrameType.REJECTED, new long[] {7, 8, 9}, 3);
        assertTrue(worker.send(lengths[1], null, 0, false));
        String message = "x".repeat(300);
        lengths[2] = FrameCodec.encodeBootFailed(b, message);
        assertTrue(worker.send(lengths[2], null, 0, false));
        assertEquals(3, new HashSet<>(List.of(lengths[0], lengths[1], lengths[2])).size());

        ByteBuffer r = supervisor.receiveBuffer();
        assertEquals(lengths[0], supervisor.receive(false));
        assertEquals(FrameType.READY, FrameCodec.readHeader(r, lengths[0], true));
        assertEquals(4711, FrameCodec.readReady(r, lengths[0]));
        assertEquals(lengths[1], supervisor.receive(false));
        assertEquals(FrameType.REJECTED, FrameCodec.readHeader(r, lengths[1], true));
        List<Long> ids = new ArrayList<>();
        FrameCodec.readIds(r, lengths[1], ids::add);
        assertEquals(List.of(7L, 8L, 9L), ids);
        assertEquals(lengths[2], supervisor.receive(false));
        assertEquals(FrameType.BOOT_FAILED, FrameCodec.readHeader(r, lengths[2], true));
        assertEquals(message, FrameCodec.readBootFailed(r, lengths[2]));
        assertEquals(ControlChannel.WOULD_BLOCK, supervisor.receive(true));
    }

    @Test
    void nonBlockingReceiveOnEmptyChannelWouldBlock() throws NativeException {
        assertEquals(ControlChannel.WOULD_BLOCK, worker.receive(true));
        assertEquals(0, worker.receivedDescriptorCount());
        assertEquals(ControlChannel.WOULD_BLOCK, supervisor.receive(true));
    }

    @Test
    void receiveAfterPeerClosedIsEndOfStream() throws NativeException {
        supervisor.close();
        assertTrue(supervisor.isClosed());
        supervisor.close(); // safe twice
        assertEquals(ControlChannel.END_OF_STREAM, worker.receive(false));
        assertEquals(ControlChannel.END_OF_STREAM, worker.receive(true));
    }

    @Test
    void queuedFramesAreReadBeforeEndOfStream() throws NativeException {
        int n = FrameCodec.encodeProxyRefused(supervisor.sendBuffer(), 1);
        // PROXY_REFUSED is w->s, but the channel does not care: direction is the codec's business.
        assertTrue(supervisor.send(n, null, 0, false));
        supervisor.close();
        assertEquals(n, worker.receive(false));
        assertEquals(ControlChannel.END_OF_STREAM, worker.receive(false));
    }

    @Test
    void shutdownWakesABlockedReceiverWithEndOfStream() throws Exception {
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            java.util.concurrent.Future<Integer> got = pool.submit(() -> worker.receive(false));
            worker.shutdown();
            assertEquals(ControlChannel.END_OF_STREAM, got.get(WAIT.toMillis(), TimeUnit.MILLISECONDS));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void sendToClosedPeerFailsWithEpipe() {
        worker.close();
        int n = FrameCodec.encodeProxyRefused(supervisor.sendBuffer(), 1);
        NativeException e = assertThrows(NativeException.class, () -> supervisor.send(n, null, 0, false));
        assertTrue(e.errno() == Native.EPIPE || e.errno() == Native.ECONNRESET, e.getMessage());
        assertTrue(e.getMessage().contains("sendmsg(fd=" + supervisor.fd() + ")"), e.getMessage());
    }

    @Test
    void nonBlockingSendReturnsFalseWhenThePeerNeverReads() throws NativeException {
        int n = FrameCodec.encodeProxyRefused(worker.sendBuffer(), 1);
        int sent = 0;
        boolean wouldBlock = false;
        while (sent < 100_000) {
            if (!worker.send(n, null, 0, true)) {
                wouldBlock = true;
                break;
            }
            sent++;
        }
        assertTrue(wouldBlock, "100,000 sends never hit EAGAIN");
        assertTrue(sent > 0);
        // Still full: a second attempt also returns false rather than blocking.
        assertFalse(worker.send(n, null, 0, true));

        // Every frame that was accepted is queued, none lost, and none of the refused ones.
        int received = 0;
        while (supervisor.receive(true) == n) {
            received++;
        }
        assertEquals(sent, received);
        assertEquals(ControlChannel.WOULD_BLOCK, supervisor.receive(true));
        // Room again after the reader drained the queue.
        assertTrue(worker.send(n, null, 0, true));
    }

    @Test
    void oversizedMessageIsReportedLongerThanTheMaximum() throws IOException {
        // ControlChannel.send refuses more than MAX_FRAME_BYTES (its send buffer), so a misbehaving peer is
        // simulated with the raw path, which also attaches a descriptor (as a forged HANDOFF would).
        byte[] payload = new byte[FrameCodec.MAX_FRAME_BYTES + 100];
        ByteBuffer header = ByteBuffer.wrap(payload);
        FrameCodec.putHeader(header, FrameType.HANDOFF, payload.length - FrameCodec.HEADER_BYTES);
        int[] attached = openSockets(1);
        Native.sendWithDescriptor(supervisor.fd(), payload, attached[0]);

        int n = worker.receive(false);
        int fd;
        String identity;
        try {
            assertTrue(n > FrameCodec.MAX_FRAME_BYTES, "received length " + n);
            assertEquals(1, worker.receivedDescriptorCount(), "the descriptor still arrives with a truncated message");
            fd = worker.receivedDescriptor(0);
            identity = TestFds.target(fd);
            assertEquals(TestFds.target(attached[0]), identity);
            FrameException e = assertThrows(FrameException.class,
                    () -> FrameCodec.readHeader(worker.receiveBuffer(), n, false));
            assertTrue(e.getMessage().contains("exceeds"), e.getMessage());
        } finally {
            worker.closeReceivedDescriptors();
        }
        assertFalse(TestFds.isOpenAs(fd, identity));
        // The rest of the oversized message was discarded, not delivered as a second message.
        assertEquals(ControlChannel.WOULD_BLOCK, worker.receive(true));
    }

    // ------------------------------------------------------------------------------------------------ TCP handoff

    /** Encodes a one-entry HANDOFF for a connection from {@code client}. */
    private int encodeHandoffOf(Socket client, long id) {
        ByteBuffer b = supervisor.sendBuffer();
        byte[] peer = WireAddress.encode((InetSocketAddress) client.getLocalSocketAddress());
        int end = FrameCodec.putHandoffEntry(b, FrameCodec.beginHandoff(), id, 1L, peer, peer.length);
        return FrameCodec.finishHandoff(b, 1, end);
    }

    /** Receives a one-entry HANDOFF on the worker's end and positions {@code reader} on its entry. */
    private int receiveHandoff(FrameCodec.HandoffReader reader) throws IOException {
        int n = worker.receive(false);
        ByteBuffer r = worker.receiveBuffer();
        assertEquals(FrameType.HANDOFF, FrameCodec.readHeader(r, n, false));
        assertEquals(1, FrameCodec.readHandoffCount(r, n));
        assertEquals(1, worker.receivedDescriptorCount());
        reader.reset(r, n);
        reader.next();
        reader.finish();
        return worker.receivedDescriptor(0);
    }

    private static void readFully(InputStream in, byte[] expected) throws IOException {
        assertArrayEquals(expected, in.readNBytes(expected.length));
    }

    @Test
    void tcpSocketPassedAndWrappedIntoSocketChannel() throws Exception {
        ChannelWrapper wrapper = ChannelWrapper.create();
        try (TestListener listener = TestListener.open(new InetSocketAddress("127.0.0.1", 0));
             Socket client = new Socket()) {
            client.connect(listener.boundAddress(), 5000);
            client.setSoTimeout((int) WAIT.toMillis());
            InetSocketAddress clientLocal = (InetSocketAddress) client.getLocalSocketAddress();

            int accepted = listener.accept();
            String identity;
            try {
                identity = TestFds.target(accepted);
                // Arrive with O_NONBLOCK set (a status flag of the open file, so the receiver's copy has it too).
                Native.setBlocking(accepted, false);
                int n = encodeHandoffOf(client, 9);
                assertTrue(supervisor.send(n, new int[] {accepted}, 1, false));
            } finally {
                // The supervisor's copy: closed once sent (in Prefork, once the worker acknowledges).
                Native.close(accepted);
            }

            FrameCodec.HandoffReader reader = new FrameCodec.HandoffReader();
            int fd = receiveHandoff(reader);
            assertEquals(9, reader.id());
            assertEquals(identity, TestFds.target(fd));
            assertTrue(Native.isCloseOnExec(fd));
            assertFalse(Native.isBlocking(fd), "the descriptor arrived non-blocking");
            assertFalse(reader.peerIsIpv6());
            assertEquals(clientLocal, reader.peerAddress());

            try (SocketChannel ch = wrapper.wrap(fd, reader.peerIsIpv6(), reader.peerAddress())) {
                assertTrue(Native.isBlocking(fd), "wrap puts the descriptor in blocking mode");
                assertTrue(ch.isBlocking());
                assertTrue(ch.isOpen());
                assertTrue(ch.isConnected());
                assertEquals(clientLocal, ch.getRemoteAddress());
                assertEquals(client.getRemoteSocketAddress(), ch.getLocalAddress());
                assertEquals(listener.boundAddress(), ch.getLocalAddress());

                // Client -> worker through the channel's blocking stream.
                OutputStream toWorker = client.getOutputStream();
                byte[] hello = "hello from the client\n".getBytes(StandardCharsets.US_ASCII);
                toWorker.write(hello);
                toWorker.flush();
                ch.socket().setSoTimeout((int) WAIT.toMillis());
                readFully(ch.socket().getInputStream(), hello);

                // Worker -> client through the channel itself.
                byte[] reply = "hello from the worker".getBytes(StandardCharsets.US_ASCII);
                ByteBuffer out = ByteBuffer.wrap(reply);
                while (out.hasRemaining()) {
                    ch.write(out);
                }
                readFully(client.getInputStream(), reply);

                // Non-blocking mode with a Selector.
                ch.configureBlocking(false);
                assertFalse(Native.isBlocking(fd));
                try (Selector selector = Selector.open()) {
                    SelectionKey key = ch.register(selector, SelectionKey.OP_READ);
                    assertEquals(0, selector.selectNow(), "nothing to read yet");
                    ByteBuffer in = ByteBuffer.allocate(64);
                    assertEquals(0, ch.read(in), "a non-blocking read with nothing queued returns 0");
                    byte[] ping = "ping".getBytes(StandardCharsets.US_ASCII);
                    toWorker.write(ping);
                    toWorker.flush();
                    long deadline = System.nanoTime() + WAIT.toNanos();
                    while (in.position() < ping.length) {
                        long leftMs = (deadline - System.nanoTime()) / 1_000_000;
                        assertTrue(leftMs > 0, "the selector never reported the client's bytes");
                        if (selector.select(leftMs) > 0) {
                            assertTrue(selector.selectedKeys().remove(key));
                            assertTrue(key.isReadable());
                            assertTrue(ch.read(in) >= 0);
                        }
                    }
                    assertEquals("ping", new String(in.array(), 0, in.position(), StandardCharsets.US_ASCII));
                    key.cancel();
                    selector.selectNow();
                }
            }
            assertFalse(TestFds.isOpen(fd) && TestFds.target(fd).equals(identity),
                    "closing the channel closes the descriptor");
            // The supervisor's copy is gone too, so the close reached the client as end of stream.
            assertEquals(-1, client.getInputStream().read());
        }
    }

    private static int stableFdCount() throws IOException {
        // Two equal readings in a row: the JVM opens and closes files of its own now and then.
        int previous = TestFds.count();
        for (int i = 0; i < 20; i++) {
            int now = TestFds.count();
            if (now == previous) {
                return now;
            }
            previous = now;
        }
        return previous;
    }

    private void handoffCycle(TestListener listener, ChannelWrapper wrapper, FrameCodec.HandoffReader reader,
                              int i) throws IOException {
        try (Socket client = new Socket()) {
            client.connect(listener.boundAddress(), 5000);
            client.setSoTimeout((int) WAIT.toMillis());
            int accepted = listener.accept();
            try {
                int n = encodeHandoffOf(client, i);
                assertTrue(supervisor.send(n, new int[] {accepted}, 1, false));
            } finally {
                Native.close(accepted);
            }
            int fd = receiveHandoff(reader);
            assertEquals(i, reader.id());
            try (SocketChannel ch = wrapper.wrap(fd, false, reader.peerAddress())) {
                ch.write(ByteBuffer.wrap(new byte[] {(byte) i}));
                assertEquals(i & 0xFF, client.getInputStream().read());
            }
        }
    }

    @Test
    void noDescriptorLeaksOver2000Handoffs() throws Exception {
        ChannelWrapper wrapper = ChannelWrapper.create();
        FrameCodec.HandoffReader reader = new FrameCodec.HandoffReader();
        try (TestListener listener = TestListener.open(new InetSocketAddress("127.0.0.1", 0))) {
            // Warm up: classes, lazily opened jars and the like are loaded before counting.
            for (int i = 0; i < 50; i++) {
                handoffCycle(listener, wrapper, reader, i);
            }
            int before = stableFdCount();
            for (int i = 0; i < 2000; i++) {
                handoffCycle(listener, wrapper, reader, i);
            }
            int after = stableFdCount();
            assertEquals(before, after, "descriptors open before and after 2000 handoffs");
        }
    }

    /** A closed channel's buffers serve a new channel; the old one refuses any further use instead of sharing them. */
    @Test
    void buffersReleasedByAClosedChannelServeTheNextOne() throws Exception {
        assertThrows(IllegalStateException.class, supervisor::releaseBuffers, "an open channel keeps its buffers");
        supervisor.close();
        ControlChannel.Buffers reused = supervisor.releaseBuffers();
        assertThrows(IllegalStateException.class, supervisor::sendBuffer);
        assertThrows(IllegalStateException.class, supervisor::releaseBuffers, "released once only");

        int[] sv = Native.seqpacketPair();
        try (ControlChannel sender = new ControlChannel(sv[0], reused); ControlChannel receiver = new ControlChannel(sv[1])) {
            int length = FrameCodec.encodeId(sender.sendBuffer(), FrameType.LOST, 42);
            assertTrue(sender.send(length, null, 0, false));
            assertEquals(length, receiver.receive(false));
            long[] got = new long[1];
            FrameCodec.readHeader(receiver.receiveBuffer(), length, true);
            FrameCodec.readIds(receiver.receiveBuffer(), length, id -> got[0] = id);
            assertEquals(42, got[0]);
        }
    }
}
