package io.prefork.supervisor.internal.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.nativeio.TestFds;
import io.prefork.internal.runtime.ChannelWrapper;
import io.prefork.internal.runtime.WorkerExit;
import io.prefork.internal.runtime.WorkerMain;
import io.prefork.internal.runtime.WorkerStartup;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.FrameException;
import io.prefork.internal.wire.FrameType;
import io.prefork.internal.wire.SharedRegion;
import io.prefork.internal.wire.WireAddress;
import io.prefork.supervisor.internal.nativeio.BootstrapServer;
import io.prefork.supervisor.internal.nativeio.Memfd;
import io.prefork.supervisor.internal.nativeio.Poller;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.supervisor.internal.nativeio.TestSockets;
import io.prefork.testing.Poll;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A protocol error met by the heartbeat thread's give-back receive (prefetch, concurrency 1) exits the worker with
 * {@link WorkerExit#PROTOCOL_ERROR}, as it would had the receiving thread met it. Real processes, real sockets: this
 * test plays the supervisor. It opens a {@link BootstrapServer}, starts a worker JVM ({@link WorkerMain} running
 * {@link BlockingHandlerWorker} at concurrency 1 with a {@value #PREFETCH_TIMEOUT_MS} ms prefetch timeout), hands it
 * its channel, then a real loopback TCP connection over SCM_RIGHTS, and then a frame that is not a valid frame.
 *
 * <p><b>Why the heartbeat thread, and only it, receives the bad frame.</b> Read from the runtime's
 * {@code WorkerRuntime} and {@code Receiver}:
 * <ol>
 *   <li>At concurrency 1 the receiving thread ({@code prefork-receive}) serves inline: {@code Receiver.run}
 *       receives HANDOFF 1 (blocking {@code receiveOnce}, then releases the receiver's lock), {@code pump} takes it
 *       (claims 1 in the shared region) and {@code c.run()} calls {@code handle()} on that same thread. It touches the channel again
 *       only after {@code handle()} returns.</li>
 *   <li>{@link BlockingHandlerWorker#handle} writes one byte to the client, then blocks until the client closes,
 *       which this test does only after the worker has exited. So once the test has read that byte, the receiving
 *       thread is inside {@code handle()} and stays there: it cannot receive anything.</li>
 *   <li>The heartbeat thread runs {@code returnStale()} every half prefetch timeout. Once every slot is taken
 *       ({@code taken == concurrency == 1}) and {@value #PREFETCH_TIMEOUT_MS} ms have passed since the take
 *       ({@code staleNow}), it takes the receiver's lock with {@code tryLock} ({@code receivePending}; free: the
 *       receiving thread released it before serving) and receives, non-blocking, until nothing is left. It receives whether or not anything waits
 *       (the {@code waiting} queue is consulted only after receiving), so the bad frame alone reaches it; no
 *       prefetched handoff has to go first. {@link #unknownFrameTypeAfterAGiveBackExitsWithProtocolError} sends one
 *       anyway and waits for its RETURNED, which only that path sends, to show the path at work on the wire right
 *       before the bad frame.</li>
 * </ol>
 * Hence the bad frame sent after the byte was read is consumed by the heartbeat thread. The test checks the traces
 * of that too: {@code Worker.stop()} (called by {@code stopOnce} on the thread that met the error) ran on
 * {@code prefork-heartbeat}; {@code handle(1)} never returned; the supervisor got no DONE for connection 1.
 *
 * <p>Without the behaviour of commit 16acde3 the heartbeat thread swallows the bad frame (it stops the runtime and
 * ends its loop) while the receiving thread stays in {@code handle()}, so the worker never exits: the test fails at
 * the exit deadline.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GiveBackProtocolErrorTest {
    private static final long PREFETCH_TIMEOUT_MS = 50;
    /** Deadline for each step that should take milliseconds (a JVM start takes about a second). */
    private static final Duration WAIT = Duration.ofSeconds(20);
    /** How long the worker gets to exit after the bad frame (it needs about one prefetch timeout). */
    private static final Duration EXIT_WAIT = Duration.ofSeconds(10);

    @TempDir
    Path tempDir;

    private int baselineFds;
    private Map<String, String> baselineTable;
    private Path log;
    private BootstrapServer server;
    private TcpListener listener;
    private ExecutorService acceptor;
    private Process worker;
    /** The supervisor's end of the worker's channel. */
    private ControlChannel supervisor;
    private final Poller poller = new Poller(1);
    /** The supervisor's copies of connections handed off and not yet acknowledged, by id. */
    private final Map<Long, Integer> held = new HashMap<>();
    private final List<Socket> clients = new ArrayList<>();
    /** Frames received from the worker, in order, for failure messages. */
    private final List<String> received = new ArrayList<>();
    private int lastLength;
    /** The region shared with the worker (its claims), and the handoff entries sent so far. */
    private SharedRegion region;
    private long entries;

    /**
     * The first java.net socket a JDK 25 JVM creates makes it open one AF_UNIX socket that it keeps for its lifetime
     * (seen on 25.0.3; presumably the NIO dispatcher's pre-close descriptor, which a JDK 17 JVM already has at
     * startup). Create it before any baseline is taken, so the descriptor count compares only what the test opens.
     */
    @BeforeAll
    static void openTheJdksOwnSocketDescriptors() throws IOException {
        new Socket().close();
    }

    @BeforeEach
    void setUp() throws IOException {
        baselineFds = TestFds.count();
        baselineTable = descriptorTable();
        log = tempDir.resolve("worker.log");
        server = BootstrapServer.open();
        listener = TcpListener.open(new InetSocketAddress("127.0.0.1", 0), 16);
        acceptor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "test-bootstrap-accept");
            t.setDaemon(true);
            return t;
        });
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            if (worker != null) {
                worker.destroyForcibly();
                assertTrue(worker.waitFor(WAIT.toMillis(), TimeUnit.MILLISECONDS), "worker " + worker.pid() + " survived SIGKILL");
            }
        } finally {
            for (Socket c : clients) {
                c.close();
            }
            for (int fd : held.values()) {
                Native.closeQuietly(fd);
            }
            held.clear();
            if (supervisor != null) {
                supervisor.close();
            }
            listener.close();
            server.close(); // also wakes an accept still blocked on a worker that never came
            acceptor.shutdownNow();
            assertTrue(acceptor.awaitTermination(WAIT.toMillis(), TimeUnit.MILLISECONDS), "bootstrap accept is stuck");
        }
        assertEquals(baselineFds, TestFds.count(), () -> "this JVM's descriptor count is back to where the test "
                + "started; opened since: " + opened(baselineTable, descriptorTable()));
    }

    /** A bad magic: the give-back receive meets it while the only slot is busy in handle(). */
    @Test
    void badMagicReceivedByTheGiveBackPathExitsWithProtocolError() throws Exception {
        Socket client = startWorkerServingOneBlockingConnection();

        // The receiving thread is inside handle(1) and stays there (see the class comment): only the heartbeat
        // thread's give-back receive can take this.
        sendGarbage(new byte[] {'X', 'X', (byte) FrameCodec.VERSION, (byte) FrameType.HANDOFF.code, 0, 0, 0, 0});

        assertExitedWithProtocolErrorFromTheHeartbeatThread("bad magic 0x5858");
        assertClientSeesEndOfStream(client);
    }

    /** A prefetched handoff is given back first (RETURNED: the give-back path at work), then an unknown frame type. */
    @Test
    void unknownFrameTypeAfterAGiveBackExitsWithProtocolError() throws Exception {
        startWorkerServingOneBlockingConnection();

        // A second connection while the only slot is busy: the heartbeat thread receives it and, every slot having
        // been busy for the prefetch timeout, gives it back.
        Socket second = handOff(2);
        expect(FrameType.RETURNED, 2);
        closeSupervisorCopy(2);
        assertClientSeesEndOfStream(second);

        sendGarbage(new byte[] {(byte) (FrameCodec.MAGIC >>> 8), (byte) FrameCodec.MAGIC, (byte) FrameCodec.VERSION,
                0x7F, 0, 0, 0, 0});

        assertExitedWithProtocolErrorFromTheHeartbeatThread("unknown frame type 0x7f");
    }

    // ------------------------------------------------------------------------------------------------ the steps

    /**
     * Starts the worker, gives it its channel, waits for READY, hands it connection 1 and waits until handle(1)
     * runs (the client reads {@link BlockingHandlerWorker#ENTERED}).
     *
     * @return connection 1's client socket
     */
    private Socket startWorkerServingOneBlockingConnection() throws Exception {
        String token = UUID.randomUUID().toString();
        startWorker(token);
        try (BootstrapServer.Arrival arrival = awaitArrival()) {
            assertEquals(token, arrival.token, "the worker presented the token it was started with");
            assertEquals(worker.pid(), arrival.pid, "SO_PEERCRED: the connecting process is the worker started");
            ControlChannel[] pair = ControlChannel.pair();
            supervisor = pair[0];
            int regionFd = Memfd.create("give-back-test");
            try {
                region = SharedRegion.create(regionFd, SharedRegion.MIN_SLOTS);
                arrival.sendChannel(pair[1].fd(), regionFd);
            } finally {
                pair[1].close();
                Native.close(regionFd);
            }
        }
        poller.add(supervisor.fd(), Native.POLLIN);
        expect(FrameType.READY, -1);
        assertEquals(worker.pid(), FrameCodec.readReady(supervisor.receiveBuffer(), lastLength));

        Socket client = handOff(1);
        long entry = entries - 1;
        Poll.within(WAIT).until("the worker claims connection 1 in its region",
                () -> region.slot(entry) == SharedRegion.slotValue(1, SharedRegion.CLAIMED));
        closeSupervisorCopy(1);
        assertEquals(BlockingHandlerWorker.ENTERED, client.getInputStream().read(),
                "handle(1) runs and wrote its byte; worker log:\n" + log());
        return client;
    }

    private void startWorker(String token) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // As WorkerLauncher builds it (the worker-api pom's surefire argLine carries the same flags).
        cmd.addAll(List.of(ChannelWrapper.REQUIRED_FLAG.split(" ")));
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-Djava.util.logging.SimpleFormatter.format=%1$tF %1$tT %4$s %3$s - %5$s%6$s%n");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(WorkerMain.class.getName());
        ProcessBuilder pb = new ProcessBuilder(cmd);
        Map<String, String> env = pb.environment();
        env.putAll(new WorkerStartup(server.path(), token, BlockingHandlerWorker.class.getName(), 0, 1,
                PREFETCH_TIMEOUT_MS, Map.of()).toEnvironment());
        // Files, not pipes: this JVM keeps no descriptor per worker, and the log survives the process.
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.redirectErrorStream(true);
        pb.redirectOutput(log.toFile());
        worker = pb.start();
    }

    /** The worker's bootstrap connection, accepted on a helper thread while checking that the worker lives. */
    private BootstrapServer.Arrival awaitArrival() throws Exception {
        Future<BootstrapServer.Arrival> arrival = acceptor.submit(() -> server.accept((int) WAIT.toMillis()));
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            try {
                BootstrapServer.Arrival a = arrival.get(100, TimeUnit.MILLISECONDS);
                assertNotNull(a, "bootstrap server closed");
                return a;
            } catch (TimeoutException e) {
                if (!worker.isAlive()) {
                    fail("the worker exited with " + worker.exitValue() + " before connecting back; log:\n" + log());
                }
                if (System.nanoTime() - deadline > 0) {
                    fail("the worker did not connect back within " + WAIT + "; log:\n" + log());
                }
            } catch (ExecutionException e) {
                throw new AssertionError("bootstrap accept failed", e.getCause());
            }
        }
    }

    /** Connects a client and hands its accepted socket to the worker in a HANDOFF, keeping the supervisor's copy. */
    private Socket handOff(long id) throws IOException {
        Socket client = new Socket();
        clients.add(client);
        client.connect(listener.boundAddress(), (int) WAIT.toMillis());
        client.setSoTimeout((int) WAIT.toMillis());
        int fd = TestSockets.accept(listener, WAIT);
        held.put(id, fd);
        ByteBuffer b = supervisor.sendBuffer();
        long nowMicros = TimeUnit.MILLISECONDS.toMicros(System.currentTimeMillis());
        byte[] peer = new byte[WireAddress.MAX_BYTES];
        int end = FrameCodec.putHandoffEntry(b, FrameCodec.beginHandoff(), id, nowMicros, peer,
                listener.copyLastPeerAddress(peer));
        int n = FrameCodec.finishHandoff(b, 1, end);
        region.offer(entries++, id);
        assertTrue(supervisor.send(n, new int[] {fd}, 1, false));
        return client;
    }

    /** The supervisor closes its copy once the worker has answered for the connection (claimed, RETURNED). */
    private void closeSupervisorCopy(long id) throws NativeException {
        Native.close(held.remove(id));
    }

    /** The only hand-made bytes in this test: a frame the worker must reject. */
    private void sendGarbage(byte[] frame) throws NativeException {
        supervisor.sendBuffer().put(0, frame);
        assertTrue(supervisor.send(frame.length, null, 0, false));
    }

    /**
     * Reads the next frame and checks it is {@code type}, with {@code id} as its only id unless
     * {@code id} is -1.
     */
    private void expect(FrameType type, long id) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        FrameType got = nextFrame(deadline, type.toString());
        assertNotNull(got, "the worker closed its channel while " + type + " was expected; frames " + received
                + "; log:\n" + log());
        assertEquals(type, got, "frames " + received + "; log:\n" + log());
        if (id >= 0) {
            List<Long> ids = new ArrayList<>();
            FrameCodec.readIds(supervisor.receiveBuffer(), lastLength, ids::add);
            assertEquals(List.of(id), ids, type + " ids");
        }
    }

    /** The next frame from the worker (its header validated), or null at end of stream; fails at the deadline. */
    private FrameType nextFrame(long deadline, String waitingFor) throws IOException, FrameException {
        while (true) {
            int n = supervisor.receive(true);
            if (n == ControlChannel.END_OF_STREAM) {
                received.add("end of stream");
                return null;
            }
            if (n > 0) {
                assertEquals(0, supervisor.receivedDescriptorCount(), "a worker sends no descriptors");
                lastLength = n;
                FrameType type = FrameCodec.readHeader(supervisor.receiveBuffer(), n, true);
                received.add(type.toString());
                return type;
            }
            long leftMs = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (leftMs <= 0) {
                fail("no frame from the worker within " + WAIT + " while waiting for " + waitingFor + "; frames "
                        + received + "; worker alive: " + worker.isAlive() + "; log:\n" + log());
            }
            poller.poll((int) Math.min(leftMs, 1000));
        }
    }

    private void assertExitedWithProtocolErrorFromTheHeartbeatThread(String problem) throws Exception {
        if (!worker.waitFor(EXIT_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
            fail("the worker is still running " + EXIT_WAIT.toSeconds() + " s after the invalid frame: the heartbeat "
                    + "thread consumed it without exiting, and the receiving thread is still in handle(); frames "
                    + received + "; log:\n" + log());
        }
        String text = log();
        assertEquals(WorkerExit.PROTOCOL_ERROR, worker.exitValue(), "exit code; log:\n" + text);

        // The supervisor sees the channel close; before that, nothing (heartbeats are a counter in the region, not
        // frames): no DONE for connection 1.
        long deadline = System.nanoTime() + WAIT.toNanos();
        FrameType t = nextFrame(deadline, "end of stream");
        assertEquals(null, t, "after the bad frame nothing, then end of stream; frames " + received + "; log:\n" + text);

        assertTrue(text.contains(BlockingHandlerWorker.PREFIX + "started on Java " + Runtime.version()),
                "the worker ran on this JDK; log:\n" + text);
        assertTrue(text.contains("invalid frame from the supervisor"), "stderr names the problem; log:\n" + text);
        assertTrue(text.contains(problem), "stderr says '" + problem + "'; log:\n" + text);
        assertTrue(text.contains(BlockingHandlerWorker.PREFIX + "handle(1) entered on thread prefork-receive"),
                "connection 1 served inline on the receiving thread; log:\n" + text);
        assertTrue(text.contains(BlockingHandlerWorker.PREFIX + "stop() on thread prefork-heartbeat"),
                "the heartbeat thread met the bad frame (stopOnce runs on the thread that did); log:\n" + text);
        assertFalse(text.contains("handle(1) returned"), "the receiving thread never left handle(1); log:\n" + text);
        System.out.println("[" + getClass().getSimpleName() + "] worker log:\n" + text);
    }

    private static void assertClientSeesEndOfStream(Socket client) throws IOException {
        assertEquals(-1, client.getInputStream().read(), "no one holds the connection any more");
    }

    /** This JVM's descriptors and what they point to, for failure messages. */
    private static Map<String, String> descriptorTable() {
        Map<String, String> out = new java.util.TreeMap<>();
        try (java.util.stream.Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                try {
                    out.put(p.getFileName().toString(), Files.readSymbolicLink(p).toString());
                } catch (IOException e) {
                    // Closed meanwhile (the listing's own descriptor, for one).
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out;
    }

    private static Map<String, String> opened(Map<String, String> before, Map<String, String> after) {
        Map<String, String> out = new java.util.TreeMap<>(after);
        out.entrySet().removeIf(e -> e.getValue().equals(before.get(e.getKey())));
        return out;
    }

    private String log() {
        try {
            return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "(no output)";
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }
}
