package io.prefork.supervisor.internal.loop;

import io.prefork.internal.nativeio.Bootstrap;
import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.nativeio.Poller;
import io.prefork.internal.nativeio.TcpListener;
import io.prefork.internal.nativeio.Wakeup;
import io.prefork.internal.runtime.WorkerExit;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.FrameException;
import io.prefork.internal.wire.FrameType;
import io.prefork.supervisor.ExitCodes;
import io.prefork.supervisor.SupervisorConfig;
import io.prefork.supervisor.Termination;
import io.prefork.supervisor.internal.dispatch.LeastBusyPolicy;
import io.prefork.supervisor.internal.dispatch.PendingConnection;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.process.WorkerLauncher;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The supervisor's one state-owning thread. It accepts connections, dispatches them, sends handoffs, reads the
 * workers' reports, spawns and reaps workers and runs the stop sequence. Every other thread (signal handlers,
 * process-exit callbacks, the bootstrap acceptor, API callers) only {@link #post}s a task here; so no lock guards
 * any of this state, and every decision sees a consistent picture (gunicorn's arbiter works the same way).
 *
 * <p>One {@code poll(2)} covers the wakeup eventfd, the listening socket (only while there is room to take more)
 * and each worker's channel (POLLOUT too while that worker's outbox waits on a full socket buffer).
 *
 * <p>Descriptor ownership: an accepted socket belongs to its {@link PendingConnection}, which sits in
 * {@link #queue} or in one worker's outbox or unacked map; it is closed exactly once, when a worker reports
 * ACCEPTED, or when the supervisor gives up on it (stop, or returned by workers too many times).
 */
public final class SupervisorLoop implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");

    /** After SIGTERM, how long a worker gets to exit before SIGKILL. */
    static final long KILL_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** A worker that dies sooner than this after starting counts as a crash for respawn backoff. */
    static final long STABLE_AFTER_NANOS = TimeUnit.SECONDS.toNanos(10);
    static final long BACKOFF_MIN_MS = 100;
    static final long BACKOFF_MAX_MS = 10_000;
    /** Connections accepted per wakeup before the loop turns to the workers again (fairness). */
    static final int ACCEPT_BATCH = 128;
    /** How long a worker's channel must stay full before the log says so. */
    static final long SEND_BLOCKED_WARN_NANOS = TimeUnit.SECONDS.toNanos(1);
    /**
     * SO_SNDBUF for the supervisor's end of each worker channel, in bytes; 0 keeps the kernel default (room for
     * about 278 single handoffs). A tuning and test knob (system property {@code prefork.channelSendBuffer}):
     * a small buffer makes a stalled worker hit EAGAIN after a few handoffs.
     */
    static final int CHANNEL_SEND_BUFFER = Integer.getInteger("prefork.channelSendBuffer", 0);
    /** How often one connection may come back from workers that lost it or died before it is given up. */
    static final int MAX_TRANSIENT_RETURNS = 1000;

    enum Phase { STARTING, RUNNING, DRAINING, STOPPING, STOPPED }

    private final SupervisorConfig config;
    private final WorkerLauncher launcher;
    private final TcpListener listener;
    private final Bootstrap.Server bootServer;
    private final SupervisorMetrics metrics;
    private final Wakeup wakeup;
    private final Poller poller = new Poller(16);
    private final LeastBusyPolicy policy = new LeastBusyPolicy();
    private final ConcurrentLinkedQueue<Runnable> events = new ConcurrentLinkedQueue<>();
    private final PriorityQueue<Timer> timers = new PriorityQueue<>(Comparator.comparingLong((Timer t) -> t.due)
            .thenComparingLong(t -> t.seq));
    private final SecureRandom random = new SecureRandom();
    private final int myUid = Native.uid();

    private final WorkerProcess[] workers;
    private final int[] crashes;
    private final ArrayDeque<PendingConnection> queue = new ArrayDeque<>();
    private final List<WorkerProcess> polled = new ArrayList<>();
    private final long[] idScratch = new long[FrameCodec.MAX_IDS_PER_FRAME];
    private final int[] fdScratch = new int[FrameCodec.MAX_FDS_PER_FRAME];
    private final List<PendingConnection> batch = new ArrayList<>(FrameCodec.MAX_FDS_PER_FRAME);
    private int idCount;
    private final LongConsumer collectId = id -> idScratch[idCount++] = id;

    private Phase phase = Phase.STARTING;
    private boolean listenerOpen = true;
    private long acceptPausedUntil;
    private long nextConnectionId = 1;
    private long nextGeneration = 1;
    private long timerSeq;
    private Termination termination = new Termination(ExitCodes.OK, null);

    public final CompletableFuture<InetSocketAddress> ready = new CompletableFuture<>();
    public final CompletableFuture<Termination> terminated = new CompletableFuture<>();

    public SupervisorLoop(SupervisorConfig config, WorkerLauncher launcher, TcpListener listener,
                          Bootstrap.Server bootServer, SupervisorMetrics metrics) throws NativeException {
        this.config = config;
        this.launcher = launcher;
        this.listener = listener;
        this.bootServer = bootServer;
        this.metrics = metrics;
        this.wakeup = new Wakeup();
        this.workers = new WorkerProcess[config.workers()];
        this.crashes = new int[config.workers()];
    }

    /** Runs {@code task} on the loop thread soon. Safe from any thread, including signal handlers. */
    public void post(Runnable task) {
        events.add(task);
        wakeup.signal();
    }

    /** Graceful stop: stop accepting, finish what is in flight up to the graceful timeout, stop workers. */
    public void requestStop() {
        post(() -> stop(true, null));
    }

    /** Quick stop: stop workers now (TERM, then KILL). */
    public void requestStopNow() {
        post(() -> stop(false, null));
    }

    /** A worker connected back to the bootstrap endpoint (posted by the bootstrap thread). */
    public void arrived(Bootstrap.Arrival arrival) {
        post(() -> onArrival(arrival));
    }

    @Override
    public void run() {
        try {
            LOG.info("listening on {}; starting {} worker(s) of {} (concurrency {})",
                    TcpListener.format(listener.boundAddress()), workers.length, config.workerClass(),
                    config.concurrency());
            for (int slot = 0; slot < workers.length; slot++) {
                spawn(slot);
            }
            while (phase != Phase.STOPPED) {
                iterate();
            }
        } catch (Throwable t) {
            LOG.error("supervisor loop failed; killing all workers", t);
            termination = new Termination(ExitCodes.INTERNAL, "internal error: " + t);
            killAll();
        } finally {
            closeEverything();
            ready.completeExceptionally(new IllegalStateException(termination.reason() != null
                    ? termination.reason() : "stopped before ready"));
            terminated.complete(termination);
        }
    }

    // ------------------------------------------------------------------------------------------------ the loop

    private void iterate() throws NativeException {
        poller.clear();
        poller.add(wakeup.fd(), Native.POLLIN);
        int listenSlot = -1;
        if (listenerOpen && phase.compareTo(Phase.DRAINING) < 0 && System.nanoTime() >= acceptPausedUntil
                && queue.size() < config.queueSize() + freeCapacity()) {
            listenSlot = poller.add(listener.fd(), Native.POLLIN);
        }
        polled.clear();
        for (WorkerProcess w : workers) {
            if (w != null && hasChannel(w)) {
                short ev = (short) (Native.POLLIN | (w.outbox.isEmpty() ? 0 : Native.POLLOUT));
                poller.add(w.channel.fd(), ev);
                polled.add(w);
            }
        }
        poller.poll(pollTimeoutMs());

        if ((poller.readyOps(0) & Native.POLLIN) != 0) {
            wakeup.drain();
        }
        runEvents();
        for (int i = 0; i < polled.size(); i++) {
            WorkerProcess w = polled.get(i);
            short ops = poller.readyOps(1 + (listenSlot >= 0 ? 1 : 0) + i);
            if (ops == 0 || !hasChannel(w)) {
                continue;
            }
            if ((ops & (Native.POLLIN | Native.POLLHUP | Native.POLLERR)) != 0) {
                receiveFrom(w);
            }
        }
        if (listenSlot >= 0 && (poller.readyOps(listenSlot) & Native.POLLIN) != 0) {
            acceptBatch(ACCEPT_BATCH);
        }
        runDueTimers();
        dispatch();
        for (WorkerProcess w : workers) {
            if (w != null && !w.outbox.isEmpty()) {
                flush(w);
            }
        }
        if (phase == Phase.DRAINING && queue.isEmpty() && totalInFlight() == 0) {
            LOG.info("all connections finished; stopping workers");
            terminateWorkers();
        }
        publishMetrics();
    }

    private static boolean hasChannel(WorkerProcess w) {
        return w.state == WorkerProcess.State.BOOTING || w.state == WorkerProcess.State.READY
                || w.state == WorkerProcess.State.STOPPING;
    }

    private int pollTimeoutMs() {
        Timer t = timers.peek();
        if (t == null) {
            return -1;
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(t.due - System.nanoTime());
        return (int) Math.max(0, Math.min(ms + 1, Integer.MAX_VALUE));
    }

    private void runEvents() {
        Runnable r;
        while ((r = events.poll()) != null) {
            r.run();
        }
    }

    private void runDueTimers() {
        long now = System.nanoTime();
        while (!timers.isEmpty() && timers.peek().due - now <= 0) {
            timers.poll().action.run();
        }
    }

    private void schedule(long delayNanos, Runnable action) {
        timers.add(new Timer(System.nanoTime() + delayNanos, timerSeq++, action));
    }

    private static final class Timer {
        final long due;
        final long seq;
        final Runnable action;

        Timer(long due, long seq, Runnable action) {
            this.due = due;
            this.seq = seq;
            this.action = action;
        }
    }

    // ------------------------------------------------------------------------------------------------ accepting

    private void acceptBatch(int max) throws NativeException {
        for (int i = 0; i < max; i++) {
            int fd;
            try {
                fd = listener.accept();
            } catch (NativeException e) {
                if (e.errno() == Native.EMFILE || e.errno() == Native.ENFILE) {
                    // Out of descriptors: the connection stays in the kernel backlog. Pause instead of spinning.
                    LOG.warn("cannot accept: {}; pausing accepts for 100 ms (raise the descriptor limit, "
                            + "ulimit -n)", e.getMessage());
                    acceptPausedUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(100);
                    return;
                }
                throw e;
            }
            if (fd < 0) {
                return;
            }
            long now = System.nanoTime();
            byte[] local;
            try {
                local = listener.localAddressOf(fd);
            } catch (NativeException e) {
                // The client reset the connection before we looked at it: nothing to serve.
                Native.closeQuietly(fd);
                continue;
            }
            long micros = System.currentTimeMillis() * 1000;
            queue.add(new PendingConnection(nextConnectionId++, fd, now, micros, listener.lastPeerAddress(), local));
            metrics.accepted.mark();
        }
    }

    private int freeCapacity() {
        int free = 0;
        for (WorkerProcess w : workers) {
            if (w != null && w.available()) {
                free += Math.max(0, config.concurrency() - w.inFlight());
            }
        }
        return free;
    }

    // ------------------------------------------------------------------------------------------------ dispatch

    private void dispatch() {
        while (!queue.isEmpty()) {
            int slot = policy.pick(workers, config.concurrency());
            if (slot < 0) {
                return;
            }
            workers[slot].outbox.add(queue.poll());
        }
    }

    /**
     * Sends what waits in a worker's outbox, several handoffs per message when several wait (one sendmsg, one
     * wakeup of the worker). A send that would block leaves the rest for POLLOUT: the acceptor never blocks on a
     * slow worker.
     */
    private void flush(WorkerProcess w) {
        if (w.state != WorkerProcess.State.READY && w.state != WorkerProcess.State.STOPPING) {
            return;
        }
        ByteBuffer buf = w.channel.sendBuffer();
        while (!w.outbox.isEmpty()) {
            batch.clear();
            int offset = FrameCodec.beginHandoff();
            for (PendingConnection c : w.outbox) {
                if (batch.size() == FrameCodec.MAX_FDS_PER_FRAME
                        || offset + FrameCodec.MAX_HANDOFF_ENTRY_BYTES > FrameCodec.MAX_FRAME_BYTES) {
                    break;
                }
                offset = FrameCodec.putHandoffEntry(buf, offset, c.id, c.acceptedEpochMicros, c.peer, c.local);
                fdScratch[batch.size()] = c.fd;
                batch.add(c);
            }
            int length = FrameCodec.finishHandoff(buf, batch.size(), offset);
            boolean sent;
            try {
                sent = w.channel.send(length, fdScratch, batch.size(), true);
            } catch (NativeException e) {
                lost(w, "sending to it failed: " + e.getMessage());
                return;
            }
            if (!sent) {
                // EAGAIN: the worker's socket buffer is full (it is slow or stopped). The rest waits in its outbox
                // until POLLOUT; the acceptor and the other workers carry on.
                // A busy worker blocks briefly all the time; only one blocked for a whole second is worth a line.
                if (w.sendBlockedSince == 0) {
                    long episode = System.nanoTime();
                    w.sendBlockedSince = episode;
                    schedule(SEND_BLOCKED_WARN_NANOS, () -> {
                        if (w.sendBlockedSince == episode && w.state != WorkerProcess.State.DEAD) {
                            w.sendBlockedWarned = true;
                            LOG.warn("{} has not read its channel for {} ms; {} handoff(s) wait in its outbox", w,
                                    TimeUnit.NANOSECONDS.toMillis(SEND_BLOCKED_WARN_NANOS), w.outbox.size());
                        }
                    });
                }
                return;
            }
            if (w.sendBlockedSince != 0) {
                w.sendBlockedSince = 0;
                if (w.sendBlockedWarned) {
                    w.sendBlockedWarned = false;
                    LOG.info("{} is reading its channel again", w);
                }
            }
            for (PendingConnection c : batch) {
                w.outbox.poll();
                w.unacked.put(c.id, c);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ reports

    private void receiveFrom(WorkerProcess w) {
        for (int i = 0; i < 64 && hasChannel(w); i++) {
            int length;
            try {
                length = w.channel.receive(true);
            } catch (NativeException e) {
                lost(w, "its channel failed: " + e.getMessage());
                return;
            }
            if (length == ControlChannel.WOULD_BLOCK) {
                return;
            }
            if (length == ControlChannel.END_OF_STREAM) {
                lost(w, "it closed its channel");
                return;
            }
            try {
                if (w.channel.receivedDescriptorCount() > 0) {
                    w.channel.closeReceivedDescriptors();
                    throw new FrameException("a worker sent descriptors; workers never send descriptors");
                }
                onFrame(w, w.channel.receiveBuffer(), length);
            } catch (FrameException e) {
                LOG.error("{} sent an invalid frame; killing it: {}", w, e.getMessage());
                lost(w, "protocol error");
                return;
            }
        }
    }

    private void onFrame(WorkerProcess w, ByteBuffer buf, int length) throws FrameException {
        FrameType type = FrameCodec.readHeader(buf, length, true);
        long now = System.nanoTime();
        w.lastHeartbeatNanos = now;
        switch (type) {
            case READY:
                FrameCodec.readReady(buf, length);
                onReady(w);
                break;
            case BOOT_FAILED:
                w.bootFailure = FrameCodec.readBootFailed(buf, length);
                break;
            case ACCEPTED: {
                int n = readIdList(buf, length);
                for (int i = 0; i < n; i++) {
                    PendingConnection c = takeUnacked(w, idScratch[i], type);
                    // The worker holds its own copy now: close ours at once, or the worker's close sends no FIN.
                    Native.closeQuietly(c.fd);
                    c.fd = -1;
                    w.held.add(c.id);
                    metrics.handoff.update(now - c.acceptedNanos, TimeUnit.NANOSECONDS);
                }
                break;
            }
            case REJECTED:
            case LOST: {
                int n = readIdList(buf, length);
                List<PendingConnection> back = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    back.add(takeUnacked(w, idScratch[i], type));
                }
                if (type == FrameType.LOST) {
                    LOG.warn("{} lost {} descriptor(s) in transit (its descriptor table is full?); sending them again",
                            w, n);
                }
                requeueFront(back, type == FrameType.LOST);
                break;
            }
            case DONE: {
                int n = readIdList(buf, length);
                for (int i = 0; i < n; i++) {
                    if (!w.held.remove(idScratch[i])) {
                        throw new FrameException("DONE for connection " + idScratch[i] + ", which it did not hold");
                    }
                    w.served++;
                }
                break;
            }
            case HEARTBEAT:
                FrameCodec.readHeartbeat(buf, length);
                break;
            default:
                throw new FrameException("unexpected frame type " + type);
        }
    }

    /**
     * Removes a connection the worker reported on from its unacked map, checking FIFO order: the worker reports in
     * the order it received, so the report must name the oldest connection sent to it.
     */
    private PendingConnection takeUnacked(WorkerProcess w, long id, FrameType type) throws FrameException {
        Long oldest = w.unacked.isEmpty() ? null : w.unacked.keySet().iterator().next();
        PendingConnection c = w.unacked.remove(id);
        if (c == null) {
            throw new FrameException(type + " for connection " + id + ", which was not sent to it");
        }
        if (oldest != null && oldest != id) {
            metrics.reordered.inc();
            LOG.error("handoffs to {} arrived out of order: {} for connection {} while {} was sent earlier",
                    w, type, id, oldest);
        }
        return c;
    }

    /** Decodes an id list into {@link #idScratch}; returns the count. */
    private int readIdList(ByteBuffer buf, int length) throws FrameException {
        idCount = 0;
        FrameCodec.readIds(buf, length, collectId);
        return idCount;
    }

    /**
     * Puts connections back at the head of the queue, oldest first, so they are served before newer ones.
     *
     * @param passing true when the worker could not take them for a passing reason (its descriptor table was
     *     full, it died): such returns are counted against a much higher limit than a worker's explicit REJECTED
     */
    private void requeueFront(List<PendingConnection> back, boolean passing) {
        back.sort(Comparator.comparingLong(c -> c.id));
        int limit = passing ? MAX_TRANSIENT_RETURNS : 2 * workers.length + 3;
        for (int i = back.size() - 1; i >= 0; i--) {
            PendingConnection c = back.get(i);
            if (phase == Phase.STOPPING || ++c.returns > limit) {
                if (c.returns > limit) {
                    LOG.warn("{} was handed back by workers {} times; closing it", c, c.returns - 1);
                }
                drop(c);
                continue;
            }
            queue.addFirst(c);
            metrics.redispatched.inc();
        }
    }

    private void drop(PendingConnection c) {
        if (c.fd >= 0) {
            Native.closeQuietly(c.fd);
            c.fd = -1;
        }
        metrics.dropped.inc();
    }

    private void onReady(WorkerProcess w) {
        if (w.state != WorkerProcess.State.BOOTING) {
            return;
        }
        w.state = WorkerProcess.State.READY;
        w.readyNanos = System.nanoTime();
        LOG.info("{} ready in {} ms", w, TimeUnit.NANOSECONDS.toMillis(w.readyNanos - w.spawnedNanos));
        if (phase == Phase.STARTING) {
            for (WorkerProcess o : workers) {
                if (o == null || o.state != WorkerProcess.State.READY) {
                    return;
                }
            }
            phase = Phase.RUNNING;
            ready.complete(listener.boundAddress());
        }
    }

    // ------------------------------------------------------------------------------------------------ workers

    private void spawn(int slot) {
        if (phase.compareTo(Phase.DRAINING) > 0) {
            return;
        }
        int[] pair;
        try {
            pair = Native.seqpacketPair();
        } catch (NativeException e) {
            LOG.error("cannot create a channel for worker {}: {}; retrying in 1 s", slot, e.getMessage());
            schedule(TimeUnit.SECONDS.toNanos(1), () -> spawn(slot));
            return;
        }
        if (CHANNEL_SEND_BUFFER > 0) {
            try {
                Native.setIntOption(pair[0], Native.SOL_SOCKET, Native.SO_SNDBUF, CHANNEL_SEND_BUFFER, "SO_SNDBUF");
            } catch (NativeException e) {
                LOG.warn("cannot set the channel send buffer: {}", e.getMessage());
            }
        }
        String token = HexFormat.of().formatHex(randomBytes());
        WorkerProcess w = new WorkerProcess(slot, nextGeneration++, token, new ControlChannel(pair[0]), pair[1]);
        try {
            w.process = launcher.start(slot, bootServer.path(), token);
        } catch (IOException e) {
            w.channel.close();
            w.closeWorkerEnd();
            String why = "cannot start a worker JVM (" + launcher.command().get(0) + "): " + e.getMessage();
            if (phase == Phase.STARTING) {
                fail(ExitCodes.BOOT_FAILED, why);
            } else {
                LOG.error("{}; retrying in 1 s", why);
                schedule(TimeUnit.SECONDS.toNanos(1), () -> spawn(slot));
            }
            return;
        }
        workers[slot] = w;
        w.process.onExit().thenAccept(p -> post(() -> onExit(w, p.exitValue())));
        schedule(config.bootTimeout().toNanos(), () -> {
            if (workers[slot] == w && w.state.compareTo(WorkerProcess.State.READY) < 0) {
                LOG.error("{} did not become ready within {} s (--boot-timeout); killing it", w,
                        config.bootTimeout().toSeconds());
                w.bootFailure = "did not become ready within " + config.bootTimeout().toSeconds() + " s (--boot-timeout)";
                lost(w, "boot timeout");
            }
        });
        LOG.debug("spawned {} (generation {})", w, w.generation);
    }

    private byte[] randomBytes() {
        byte[] b = new byte[16];
        random.nextBytes(b);
        return b;
    }

    private void onArrival(Bootstrap.Arrival arrival) {
        try {
            WorkerProcess match = null;
            for (WorkerProcess w : workers) {
                if (w != null && w.state == WorkerProcess.State.SPAWNED && w.token.equals(arrival.token)) {
                    match = w;
                }
            }
            if (match == null) {
                LOG.warn("refused a bootstrap connection from pid {}: unknown or already used token", arrival.pid);
                return;
            }
            if (arrival.uid != myUid || arrival.pid != match.pid()) {
                LOG.warn("refused a bootstrap connection presenting {}'s token: it came from pid {} uid {}", match,
                        arrival.pid, arrival.uid);
                return;
            }
            try {
                arrival.sendChannel(match.workerEndFd);
            } catch (NativeException e) {
                match.closeWorkerEnd();
                lost(match, "handing it its channel failed: " + e.getMessage());
                return;
            }
            // The worker has its own copy now. Ours must go, or the worker would never see end-of-stream when we
            // close our end, and would outlive us.
            match.closeWorkerEnd();
            match.state = WorkerProcess.State.BOOTING;
        } finally {
            arrival.close();
        }
    }

    /**
     * A worker can no longer be used: its channel closed or failed, it broke the protocol, or it timed out. Gives
     * back every connection it had not taken, kills the process if it still runs, and waits for the reaper.
     */
    private void lost(WorkerProcess w, String reason) {
        if (w.state == WorkerProcess.State.DEAD) {
            return;
        }
        boolean expected = w.state == WorkerProcess.State.STOPPING;
        w.state = WorkerProcess.State.DEAD;
        w.channel.close();
        w.closeWorkerEnd();
        List<PendingConnection> back = new ArrayList<>(w.unacked.values());
        back.addAll(w.outbox);
        w.unacked.clear();
        w.outbox.clear();
        int diedWith = w.held.size();
        w.held.clear();
        if (!expected || !back.isEmpty() || diedWith > 0) {
            LOG.warn("{} lost: {}; {} connection(s) it had not taken go to other workers, {} it was serving are gone",
                    w, reason, back.size(), diedWith);
        }
        requeueFront(back, true);
        if (w.process != null && w.process.isAlive()) {
            w.process.destroyForcibly();
        }
    }

    private void onExit(WorkerProcess w, int code) {
        boolean wasReady = w.readyNanos != 0;
        lost(w, WorkerExit.describe(code));
        if (workers[w.slot] == w) {
            workers[w.slot] = null;
        }
        if (phase == Phase.STOPPING) {
            LOG.info("{} {}", w, WorkerExit.describe(code));
            if (allGone()) {
                phase = Phase.STOPPED;
            }
            return;
        }
        if (w.bootFailure != null || code == WorkerExit.BOOT_FAILED || (phase == Phase.STARTING && !wasReady)) {
            // First line only: the worker printed its full stack trace to the shared stderr already.
            String detail = w.bootFailure != null ? w.bootFailure.lines().findFirst().orElse("")
                    : WorkerExit.describe(code) + " before it was ready (its output above says why)";
            fail(ExitCodes.BOOT_FAILED, "worker " + w.slot + " failed to boot: " + detail);
            return;
        }
        long lived = System.nanoTime() - w.spawnedNanos;
        crashes[w.slot] = lived < STABLE_AFTER_NANOS ? crashes[w.slot] + 1 : 0;
        long delayMs = crashes[w.slot] == 0 ? 0
                : Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS << Math.min(20, crashes[w.slot] - 1));
        LOG.warn("{} {}; starting a replacement{}", w, WorkerExit.describe(code),
                delayMs > 0 ? " in " + delayMs + " ms (it died " + crashes[w.slot] + " time(s) soon after start)" : "");
        metrics.restarts.inc();
        int slot = w.slot;
        schedule(TimeUnit.MILLISECONDS.toNanos(delayMs), () -> {
            if (workers[slot] == null) {
                spawn(slot);
            }
        });
    }

    private boolean allGone() {
        for (WorkerProcess w : workers) {
            if (w != null) {
                return false;
            }
        }
        return true;
    }

    private int totalInFlight() {
        int n = 0;
        for (WorkerProcess w : workers) {
            if (w != null) {
                n += w.inFlight();
            }
        }
        return n;
    }

    // ------------------------------------------------------------------------------------------------ stopping

    private void fail(int exitCode, String reason) {
        if (termination.exitCode() == ExitCodes.OK) {
            termination = new Termination(exitCode, reason);
        }
        LOG.error("{}; stopping", reason);
        stop(false, reason);
    }

    private void stop(boolean graceful, String reason) {
        if (phase == Phase.STOPPED) {
            return;
        }
        if (phase == Phase.STOPPING) {
            if (!graceful) {
                killAll();
            }
            return;
        }
        if (phase == Phase.DRAINING || !graceful) {
            terminateWorkers();
            return;
        }
        phase = Phase.DRAINING;
        // Connections whose handshake the kernel completed are in the backlog: take them before closing the
        // listener, or closing it would reset them.
        try {
            acceptBatch(Integer.MAX_VALUE);
        } catch (NativeException e) {
            LOG.warn("accepting the backlog before stopping failed: {}", e.getMessage());
        }
        closeListener();
        LOG.info("stopping gracefully: {} connection(s) in flight, {} queued; graceful timeout {} s",
                totalInFlight(), queue.size(), config.gracefulTimeout().toSeconds());
        schedule(config.gracefulTimeout().toNanos(), () -> {
            if (phase == Phase.DRAINING) {
                LOG.warn("graceful timeout ({} s) passed with {} connection(s) in flight and {} queued; stopping workers",
                        config.gracefulTimeout().toSeconds(), totalInFlight(), queue.size());
                terminateWorkers();
            }
        });
    }

    /** SIGTERM to every worker, SIGKILL to those still alive after the kill timeout; the loop ends when all are reaped. */
    private void terminateWorkers() {
        phase = Phase.STOPPING;
        closeListener();
        while (!queue.isEmpty()) {
            drop(queue.poll());
        }
        for (WorkerProcess w : workers) {
            if (w == null) {
                continue;
            }
            if (w.state == WorkerProcess.State.READY || w.state == WorkerProcess.State.BOOTING) {
                w.state = WorkerProcess.State.STOPPING;
            }
            if (w.process != null) {
                w.process.destroy();
            }
        }
        if (allGone()) {
            phase = Phase.STOPPED;
            return;
        }
        schedule(KILL_TIMEOUT_NANOS, this::killAll);
    }

    private void killAll() {
        for (WorkerProcess w : workers) {
            if (w != null && w.process != null && w.process.isAlive()) {
                LOG.warn("{} did not exit after SIGTERM; sending SIGKILL", w);
                w.process.destroyForcibly();
            }
        }
    }

    private void closeListener() {
        if (listenerOpen) {
            listenerOpen = false;
            listener.close();
        }
    }

    /** Last step of {@link #run}: no descriptor or process outlives the loop. */
    private void closeEverything() {
        closeListener();
        bootServer.close();
        while (!queue.isEmpty()) {
            drop(queue.poll());
        }
        for (WorkerProcess w : workers) {
            if (w == null) {
                continue;
            }
            for (PendingConnection c : w.unacked.values()) {
                drop(c);
            }
            for (PendingConnection c : w.outbox) {
                drop(c);
            }
            w.channel.close();
            w.closeWorkerEnd();
            if (w.process != null) {
                w.process.destroyForcibly();
                try {
                    w.process.waitFor(KILL_TIMEOUT_NANOS, TimeUnit.NANOSECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        wakeup.close();
        publishMetrics();
    }

    private void publishMetrics() {
        int ready = 0;
        for (WorkerProcess w : workers) {
            if (w != null && w.state == WorkerProcess.State.READY) {
                ready++;
            }
        }
        metrics.publish(queue.size(), ready, totalInFlight());
    }
}
