package io.prefork.bench;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.runtime.ChannelWrapper;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.FrameException;
import io.prefork.internal.wire.FrameType;
import io.prefork.internal.wire.WireAddress;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongConsumer;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The handoff hot path, one thread playing both sides: the supervisor encodes a HANDOFF frame and sends it with a
 * real connected TCP descriptor over a real SOCK_SEQPACKET socketpair; the worker receives it, validates the frame and
 * closes (or wraps and closes) the descriptor it got. What is left out on purpose: the supervisor's accept (one
 * connection is accepted once and re-sent every time), the worker's claim (a compare-and-set in the region it shares
 * with the supervisor, no message since wire version 4) and the supervisor's close of its copy on seeing it, and the cost of waking a second process (both ends live in this thread, so nothing ever blocks).
 *
 * <p>Ownership, as in production: the supervisor owns {@link #tcpFd} for the whole trial and only lends it to
 * sendmsg; the kernel installs a new descriptor in the receiver for every copy sent, and each benchmark closes every
 * descriptor it received, so the process's descriptor count is the same after every iteration (checked, see
 * {@link #checkNothingLeaked()}). While the supervisor holds its copy, closing the worker's copy sends no FIN, so
 * the one connection stays usable for the whole trial.
 *
 * <p>{@code src/main/c/handoff_floor.c} does the same system calls in C: the floor that {@link #sendRecvClose} and
 * {@link #sendRecvWrapClose} are compared with in README.md.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
        "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Thread)
public class HandoffBenchmark {
    private static final long ACCEPT_DEADLINE_NANOS = TimeUnit.SECONDS.toNanos(5);

    private TcpListener listener;
    private SocketChannel client;
    /** The accepted server side of the loopback connection: the supervisor's copy, owned here for the trial. */
    private int tcpFd = -1;
    private ControlChannel supervisor;
    private ControlChannel worker;
    private ChannelWrapper wrapper;

    /** Wire-form addresses, encoded once per connection as the supervisor does at accept time. */
    private byte[] peerWire;
    /** The peer address the worker would decode; pre-built so sendRecvWrapClose measures only the wrap. */
    private InetSocketAddress remote;
    private long acceptedEpochMicros;
    private long nextId;

    /** {@link #tcpFd} repeated: the same file sent as N descriptors of one message. */
    private int[] fds;
    private final FrameCodec.HandoffReader reader = new FrameCodec.HandoffReader();

    // Codec-only benchmarks: direct big-endian buffers like the channel's own.
    private ByteBuffer encodeBuffer;
    private ByteBuffer handoffFrame;
    private int handoffFrameLength;
    private ByteBuffer acceptedFrame;
    private int acceptedFrameLength;
    private final long[] ids = new long[1];
    private long idSum;
    private LongConsumer idSink;

    private long descriptorsAtStart;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        Native.checkPlatform();
        wrapper = ChannelWrapper.create();
        ControlChannel[] pair = ControlChannel.pair();
        supervisor = pair[0];
        worker = pair[1];

        listener = TcpListener.open(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 16);
        client = SocketChannel.open(StandardProtocolFamily.INET);
        client.connect(listener.boundAddress());
        long deadline = System.nanoTime() + ACCEPT_DEADLINE_NANOS;
        while ((tcpFd = listener.accept()) < 0) {
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("no connection to accept on " + TcpListener.format(listener.boundAddress())
                        + " within 5 s although the client connected");
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        if (!Native.isBlocking(tcpFd)) {
            // sendRecvWrapClose wraps it as known blocking, as the worker does with what the supervisor accepts.
            throw new IllegalStateException("the accepted socket is non-blocking: the supervisor's accept4 must not "
                    + "set SOCK_NONBLOCK");
        }

        remote = (InetSocketAddress) client.getLocalAddress();
        peerWire = WireAddress.encode(remote);
        byte[] reported = new byte[WireAddress.MAX_BYTES];
        if (!Arrays.equals(peerWire, Arrays.copyOf(reported, listener.copyLastPeerAddress(reported)))) {
            throw new IllegalStateException("the client's address " + remote + " is not the peer accept4 reported");
        }
        if (peerWire.length != WireAddress.IPV4_BYTES) {
            throw new IllegalStateException("expected an IPv4 peer (7 wire bytes), the C floor assumes it");
        }
        acceptedEpochMicros = TimeUnit.MILLISECONDS.toMicros(System.currentTimeMillis());
        fds = new int[FrameCodec.MAX_FDS_PER_FRAME];
        Arrays.fill(fds, tcpFd);

        encodeBuffer = ByteBuffer.allocateDirect(FrameCodec.MAX_FRAME_BYTES);
        handoffFrame = ByteBuffer.allocateDirect(FrameCodec.MAX_FRAME_BYTES + 1);
        int off = FrameCodec.putHandoffEntry(handoffFrame, FrameCodec.beginHandoff(), 42L, acceptedEpochMicros,
                peerWire, peerWire.length);
        handoffFrameLength = FrameCodec.finishHandoff(handoffFrame, 1, off);
        if (handoffFrameLength != 34) {
            throw new IllegalStateException("a one-entry IPv4 HANDOFF frame is " + handoffFrameLength
                    + " bytes; handoff_floor.c sends 34: update it");
        }
        acceptedFrame = ByteBuffer.allocateDirect(FrameCodec.MAX_FRAME_BYTES + 1);
        ids[0] = 42L;
        acceptedFrameLength = FrameCodec.encodeIds(acceptedFrame, FrameType.REJECTED, ids, 1);
        idSink = id -> idSum += id;

        descriptorsAtStart = openDescriptors();
    }

    /**
     * After every iteration: nothing may be left queued in the socketpair and the process must hold as many
     * descriptors as before the first one. A JVM opens files now and then on its own (HotSpot 17 reads cgroup files),
     * so a mismatch is looked at again a few times before it counts as a leak.
     */
    @TearDown(Level.Iteration)
    public void checkNothingLeaked() throws Exception {
        int pending = worker.receive(true);
        if (pending != ControlChannel.WOULD_BLOCK) {
            worker.closeReceivedDescriptors();
            throw new IllegalStateException("a message of " + pending + " bytes was left in the socketpair");
        }
        long now = openDescriptors();
        for (int attempt = 0; attempt < 10 && now != descriptorsAtStart; attempt++) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
            now = openDescriptors();
        }
        if (now != descriptorsAtStart) {
            throw new IllegalStateException("descriptor leak: " + descriptorsAtStart + " open before the first "
                    + "iteration, " + now + " now");
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        if (worker != null) {
            worker.close();
        }
        if (supervisor != null) {
            supervisor.close();
        }
        Native.closeQuietly(tcpFd);
        if (client != null) {
            client.close();
        }
        if (listener != null) {
            listener.close();
        }
    }

    private static long openDescriptors() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    // ------------------------------------------------------------------------------------------------ full handoff

    /**
     * One handoff as the supervisor's flush() and the worker's onHandoff() do it, minus the address objects: encode
     * one entry, sendmsg with one SCM_RIGHTS descriptor, recvmsg, validate header, count and entry.
     *
     * @return the received descriptor, owned by the caller
     */
    private int handoffOne(Blackhole bh) throws NativeException, FrameException {
        ByteBuffer out = supervisor.sendBuffer();
        int off = FrameCodec.putHandoffEntry(out, FrameCodec.beginHandoff(), nextId++, acceptedEpochMicros,
                peerWire, peerWire.length);
        int length = FrameCodec.finishHandoff(out, 1, off);
        supervisor.send(length, fds, 1, false);
        int n = receiveHandoff(1);
        ByteBuffer in = worker.receiveBuffer();
        reader.reset(in, n);
        reader.next();
        reader.finish();
        bh.consume(reader.id());
        return worker.receivedDescriptor(0);
    }

    /**
     * Receives a HANDOFF frame and checks it carries {@code expected} entries and as many descriptors (a wrong count
     * would make the figures meaningless, e.g. a control length that is not reset between receives).
     *
     * @return the frame's length
     */
    private int receiveHandoff(int expected) throws NativeException, FrameException {
        int n = worker.receive(false);
        ByteBuffer in = worker.receiveBuffer();
        FrameType type = FrameCodec.readHeader(in, n, false);
        int count = FrameCodec.readHandoffCount(in, n);
        if (type != FrameType.HANDOFF || count != expected || worker.receivedDescriptorCount() != expected
                || worker.descriptorsTruncated()) {
            int got = worker.receivedDescriptorCount();
            boolean truncated = worker.descriptorsTruncated();
            worker.closeReceivedDescriptors();
            throw new IllegalStateException("sent a HANDOFF of " + expected + " entries and descriptors, received a "
                    + type + " of " + count + " entries with " + got + " descriptors" + (truncated ? " (MSG_CTRUNC)" : ""));
        }
        return n;
    }

    /** sendmsg + recvmsg + close: the kernel's work plus the Java and jnr-ffi overhead around it. */
    @Benchmark
    public int sendRecvClose(Blackhole bh) throws NativeException, FrameException {
        int fd = handoffOne(bh);
        Native.close(fd);
        return fd;
    }

    /**
     * As {@link #sendRecvClose}, but the worker wraps the descriptor into a SocketChannel and closes that. Wrapped
     * as the worker wraps a new connection: known blocking (the supervisor's accept4 left it so), so no fcntl.
     */
    @Benchmark
    public void sendRecvWrapClose(Blackhole bh) throws IOException, FrameException {
        int fd = handoffOne(bh);
        SocketChannel ch = wrapper.wrap(fd, false, remote, true);
        ch.close();
    }

    /** N entries and N descriptors in one message (the supervisor batches when a worker's outbox has several). */
    private void handoffBatch(int count, Blackhole bh) throws NativeException, FrameException {
        ByteBuffer out = supervisor.sendBuffer();
        int off = FrameCodec.beginHandoff();
        for (int i = 0; i < count; i++) {
            off = FrameCodec.putHandoffEntry(out, off, nextId++, acceptedEpochMicros, peerWire, peerWire.length);
        }
        int length = FrameCodec.finishHandoff(out, count, off);
        supervisor.send(length, fds, count, false);
        int n = receiveHandoff(count);
        reader.reset(worker.receiveBuffer(), n);
        for (int i = 0; i < count; i++) {
            reader.next();
            bh.consume(reader.id());
        }
        reader.finish();
        for (int i = 0; i < count; i++) {
            Native.close(worker.receivedDescriptor(i));
        }
    }

    @Benchmark
    @OperationsPerInvocation(8)
    public void sendRecvCloseBatch8(Blackhole bh) throws NativeException, FrameException {
        handoffBatch(8, bh);
    }

    @Benchmark
    @OperationsPerInvocation(64)
    public void sendRecvCloseBatch64(Blackhole bh) throws NativeException, FrameException {
        handoffBatch(64, bh);
    }

    @Benchmark
    @OperationsPerInvocation(FrameCodec.MAX_FDS_PER_FRAME)
    public void sendRecvCloseBatch253(Blackhole bh) throws NativeException, FrameException {
        handoffBatch(FrameCodec.MAX_FDS_PER_FRAME, bh);
    }

    /**
     * What the worker's receive loop adds around every recvmsg for its descriptor-table sentinel: release the
     * reserved slot, then reserve it again (a dup of the channel descriptor). Not part of {@link #sendRecvClose}, which calls
     * ControlChannel directly; add the two to estimate a production receive.
     */
    @Benchmark
    public int sentinelReleaseReserve() throws NativeException {
        int reserve = Native.reserveDescriptor(worker.fd());
        if (reserve < 0) {
            throw new IllegalStateException("descriptor table full: cannot reserve a slot");
        }
        Native.closeQuietly(reserve);
        return reserve;
    }

    // ------------------------------------------------------------------------------------------------ codec only

    /** The supervisor's share of one handoff in flush(): one entry, header and count. */
    @Benchmark
    public int encodeHandoff() {
        int off = FrameCodec.putHandoffEntry(encodeBuffer, FrameCodec.beginHandoff(), nextId++, acceptedEpochMicros,
                peerWire, peerWire.length);
        return FrameCodec.finishHandoff(encodeBuffer, 1, off);
    }

    /** The worker's validation of a one-entry HANDOFF frame, without building address objects. */
    @Benchmark
    public long decodeHandoff() throws FrameException {
        FrameCodec.readHeader(handoffFrame, handoffFrameLength, false);
        int count = FrameCodec.readHandoffCount(handoffFrame, handoffFrameLength);
        reader.reset(handoffFrame, handoffFrameLength);
        reader.next();
        reader.finish();
        return reader.id() + count;
    }

    /**
     * A worker's id-list report for one connection (REJECTED here; LOST is alike). Up to wire version 3
     * every connection cost one (TAKEN); since version 4 a claim is a compare-and-set in the shared region instead.
     */
    @Benchmark
    public int encodeIds() {
        ids[0] = nextId++;
        return FrameCodec.encodeIds(encodeBuffer, FrameType.REJECTED, ids, 1);
    }

    /** The supervisor's decoding of that reply (header, count, one id to a sink). */
    @Benchmark
    public long readIds() throws FrameException {
        FrameCodec.readHeader(acceptedFrame, acceptedFrameLength, true);
        FrameCodec.readIds(acceptedFrame, acceptedFrameLength, idSink);
        return idSum;
    }
}
