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
import io.prefork.supervisor.SupervisorListener;
import io.prefork.supervisor.SupervisorStatus;
import io.prefork.supervisor.WorkerStatus;
import io.prefork.supervisor.Termination;
import io.prefork.supervisor.internal.dispatch.LeastBusyPolicy;
import io.prefork.supervisor.internal.dispatch.PendingConnection;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.log.RateLimitedLog;
import io.prefork.supervisor.internal.process.WorkerExits;
import io.prefork.supervisor.internal.process.WorkerLauncher;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.time.Instant;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
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
 * <p>One {@code poll(2)} covers the wakeup eventfd, the listening sockets (only while there is room to take more)
 * and each worker's channel (POLLOUT too while that worker's outbox waits on a full socket buffer).
 *
 * <p>Descriptor ownership: an accepted socket belongs to its {@link PendingConnection}, which sits in
 * {@link #queue} or in one worker's outbox or unacked map; it is closed exactly once, when a worker reports
 * ACCEPTED, or when the supervisor gives up on it (stop, or returned by workers too many times).
 */
public final class SupervisorLoop implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");
    /** Out of descriptors, accepts pause and retry every 100 ms: one line per 10 s says so. */
    private final RateLimitedLog acceptPausedLog = new RateLimitedLog(LOG, 10, TimeUnit.SECONDS);

    /** After SIGTERM, how long a worker gets to exit before SIGKILL. */
    static final long KILL_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(5);
    /**
     * How long a graceful stop waits, at most, for TCP handshakes under way when it began: a few round trips on any
     * network a supervisor sits on, and a lost final ACK is recovered by the client's first retransmission (200 ms
     * minimum RTO on Linux).
     */
    static final long HANDSHAKE_SETTLE_NANOS = TimeUnit.SECONDS.toNanos(1);
    static final long HANDSHAKE_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);
    /** After SIGQUIT (thread dump), how long before a stuck worker is killed. */
    static final long DUMP_GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(500);
    /** A worker that dies sooner than this after starting counts as a crash for respawn backoff. */
    static final long STABLE_AFTER_NANOS = TimeUnit.SECONDS.toNanos(10);
    static final long BACKOFF_MIN_MS = 100;
    static final long BACKOFF_MAX_MS = 10_000;
    /** How often heartbeats and --timeout are checked. */
    static final long WATCHDOG_PERIOD_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** Connections accepted per wakeup, from all listeners together, before the loop turns to the workers again. */
    static final int ACCEPT_BATCH = 128;
    /** How long a worker's channel must stay full before the log says so. */
    static final long SEND_BLOCKED_WARN_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** How often one connection may come back from workers that lost it or died before it is given up. */
    static final int MAX_TRANSIENT_RETURNS = 1000;
    /**
     * SO_SNDBUF for the supervisor's end of each worker channel, in bytes; 0 keeps the kernel default (room for
     * about 278 single handoffs). A tuning and test knob (system property {@code prefork.channelSendBuffer}):
     * a small buffer makes a stalled worker hit EAGAIN after a few handoffs.
     */
    static final int CHANNEL_SEND_BUFFER = Integer.getInteger("prefork.channelSendBuffer", 0);
    /** Channel buffer sets kept for reuse; more than a burst of restarts needs is left to the GC. */
    static final int SPARE_BUFFERS = 8;

    enum Phase { STARTING, RUNNING, DRAINING, STOPPING, STOPPED }

    private final SupervisorConfig config;
    private final WorkerLauncher launcher;
    /** One per --listen address, in order; all share the queue and the workers. */
    private final List<TcpListener> listeners;
    private final Bootstrap.Server bootServer;
    private final SupervisorMetrics metrics;
    private final SupervisorListener events;
    private final Wakeup wakeup;
    private final Poller poller = new Poller(16);
    private final LeastBusyPolicy policy = new LeastBusyPolicy();
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final PriorityQueue<Timer> timers = new PriorityQueue<>(Comparator.comparingLong((Timer t) -> t.due)
            .thenComparingLong(t -> t.seq));
    private final SecureRandom random = new SecureRandom();
    private final int myUid = Native.uid();
    private final Instant startedAt = Instant.now();

    /** Every worker process not yet reaped: serving, starting, draining, stopping. */
    private final List<WorkerProcess> workers = new ArrayList<>();
    /** The --boot-timeout timer of each worker not yet ready. */
    private final Map<WorkerProcess, Timer> bootTimers = new HashMap<>();
    /** Slots with a spawn scheduled (respawn backoff), so capacity is not requested twice. */
    private final List<Integer> pendingSpawns = new ArrayList<>();
    /** Consecutive early deaths per slot, for the respawn backoff. */
    private final Map<Integer, Integer> crashes = new HashMap<>();
    /** HUP: workers still to be replaced, one at a time. */
    private final ArrayDeque<WorkerProcess> reloadQueue = new ArrayDeque<>();
    private WorkerProcess reloading;
    private int target;

    /** Buffers of dead workers' channels, for the next ones (see ControlChannel.Buffers); at most SPARE_BUFFERS. */
    private final ArrayDeque<ControlChannel.Buffers> spareBuffers = new ArrayDeque<>();
    private final ArrayDeque<PendingConnection> queue = new ArrayDeque<>();
    private final PendingConnection.Pool pool = new PendingConnection.Pool(4096);
    private final List<WorkerProcess> polled = new ArrayList<>();
    private final long[] idScratch = new long[FrameCodec.MAX_IDS_PER_FRAME];
    private final int[] fdScratch = new int[FrameCodec.MAX_FDS_PER_FRAME];
    private final List<PendingConnection> batch = new ArrayList<>(FrameCodec.MAX_FDS_PER_FRAME);
    private int idCount;
    private final LongConsumer collectId = id -> idScratch[idCount++] = id;

    private Phase phase = Phase.STARTING;
    private boolean listenersOpen = true;
    /** The listener looked at first in the next accept round, turning each time, so no busy one starves the others. */
    private int firstListener;
    private long acceptPausedUntil;
    private long nextConnectionId = 1;
    private long nextWorkerId = 1;
    private long timerSeq;
    private Termination termination = new Termination(ExitCodes.OK, null);

    public final CompletableFuture<List<InetSocketAddress>> ready = new CompletableFuture<>();
    public final CompletableFuture<Termination> terminated = new CompletableFuture<>();

    public SupervisorLoop(SupervisorConfig config, WorkerLauncher launcher, List<TcpListener> listeners,
                          Bootstrap.Server bootServer, SupervisorMetrics metrics, SupervisorListener events)
            throws NativeException {
        this.config = config;
        this.launcher = launcher;
        this.listeners = List.copyOf(listeners);
        this.bootServer = bootServer;
        this.metrics = metrics;
        this.events = events;
        this.wakeup = new Wakeup();
        this.target = config.workers();
    }

    // ------------------------------------------------------------------------------------------------ API (any thread)

    /** Runs {@code task} on the loop thread soon. Safe from any thread, including signal handlers. */
    public void post(Runnable task) {
        tasks.add(task);
        wakeup.signal();
    }

    /** Graceful stop: stop accepting, finish what is in flight up to the graceful timeout, stop workers. */
    public void requestStop() {
        post(() -> stop(true));
    }

    /** Quick stop: stop workers now (TERM, then KILL). */
    public void requestStopNow() {
        post(() -> stop(false));
    }

    /** Rolling reload: replace every worker with a fresh JVM, one at a time, without a capacity dip. */
    public void requestReload() {
        post(this::reload);
    }

    /** One more worker. */
    public void requestAddWorker() {
        post(() -> scale(+1));
    }

    /** One fewer worker: the oldest is drained and stopped. */
    public void requestRemoveWorker() {
        post(() -> scale(-1));
    }

    /** A consistent snapshot, taken on the loop thread. */
    public CompletableFuture<SupervisorStatus> status() {
        CompletableFuture<SupervisorStatus> f = new CompletableFuture<>();
        if (terminated.isDone()) {
            f.complete(snapshot());
        } else {
            post(() -> f.complete(snapshot()));
        }
        return f;
    }

    /** Releases what the constructor acquired, for a loop that will never {@link #run}. */
    public void discard() {
        wakeup.close();
    }

    /** A worker connected back to the bootstrap endpoint (posted by the bootstrap thread). */
    public void arrived(Bootstrap.Arrival arrival) {
        post(() -> onArrival(arrival));
    }

    @Override
    public void run() {
        metrics.loopThreadStarted();
        try {
            LOG.info("listening on {}; starting {} worker(s) of {} (concurrency {})",
                    listenText(), target, config.workerClass(), config.concurrency());
            for (int i = 0; i < target; i++) {
                spawn(i, null);
            }
            schedule(WATCHDOG_PERIOD_NANOS, this::watchdog);
            while (phase != Phase.STOPPED) {
                iterate();
            }
        } catch (Throwable t) {
            LOG.error("supervisor loop failed; killing all workers", t);
            termination = new Termination(ExitCodes.INTERNAL, "internal error: " + t);
            try {
                killAll();
            } catch (Throwable again) {
                LOG.error("killing the workers failed", again);
            }
        } finally {
            // Whatever happens while closing, `terminated` must complete: Main waits on it to exit.
            try {
                closeEverything();
            } catch (Throwable t) {
                LOG.error("closing the supervisor's resources failed", t);
                if (termination.exitCode() == ExitCodes.OK) {
                    termination = new Termination(ExitCodes.INTERNAL, "internal error while stopping: " + t);
                }
            } finally {
                phase = Phase.STOPPED;
                ready.completeExceptionally(new IllegalStateException(termination.reason() != null
                        ? termination.reason() : "stopped before ready"));
                notifyListener(() -> events.onTerminated(termination));
                terminated.complete(termination);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ the loop

    private void iterate() throws NativeException {
        poller.clear();
        poller.add(wakeup.fd(), Native.POLLIN);
        // Slots 1..listenSlots: the listeners, in order, or none while there is no room for more connections.
        int listenSlots = 0;
        if (listenersOpen && phase.compareTo(Phase.DRAINING) < 0 && System.nanoTime() >= acceptPausedUntil
                && room() > 0) {
            for (int i = 0; i < listeners.size(); i++) {
                poller.add(listeners.get(i).fd(), Native.POLLIN);
            }
            listenSlots = listeners.size();
        }
        polled.clear();
        for (WorkerProcess w : workers) {
            if (w.hasChannel()) {
                short ev = (short) (Native.POLLIN | (w.outbox.isEmpty() ? 0 : Native.POLLOUT));
                poller.add(w.channel.fd(), ev);
                polled.add(w);
            }
        }
        poller.poll(pollTimeoutMs());

        if ((poller.readyOps(0) & Native.POLLIN) != 0) {
            wakeup.drain();
        }
        runTasks();
        int firstWorkerSlot = 1 + listenSlots;
        for (int i = 0; i < polled.size(); i++) {
            WorkerProcess w = polled.get(i);
            short ops = poller.readyOps(firstWorkerSlot + i);
            if (ops != 0 && w.hasChannel() && (ops & (Native.POLLIN | Native.POLLHUP | Native.POLLERR)) != 0) {
                receiveFrom(w);
            }
        }
        // A task above may have closed the listeners (a stop): their descriptor numbers may already be reused.
        if (listenSlots > 0 && listenersOpen) {
            acceptReady();
        }
        runDueTimers();
        dispatch();
        for (int i = 0; i < workers.size(); i++) {
            WorkerProcess w = workers.get(i);
            if (!w.outbox.isEmpty()) {
                flush(w);
            }
        }
        if (phase == Phase.DRAINING && !listenersOpen && queue.isEmpty() && totalInFlight() == 0) {
            LOG.info("all connections finished; stopping workers");
            terminateWorkers();
        }
        publishMetrics();
    }

    private int pollTimeoutMs() {
        Timer t = timers.peek();
        if (t == null) {
            return -1;
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(t.due - System.nanoTime());
        return (int) Math.max(0, Math.min(ms + 1, Integer.MAX_VALUE));
    }

    private void runTasks() {
        Runnable r;
        while ((r = tasks.poll()) != null) {
            r.run();
        }
    }

    private void runDueTimers() {
        long now = System.nanoTime();
        while (!timers.isEmpty() && timers.peek().due - now <= 0) {
            timers.poll().action.run();
        }
    }

    private Timer schedule(long delayNanos, Runnable action) {
        Timer t = new Timer(System.nanoTime() + delayNanos, timerSeq++, action);
        timers.add(t);
        return t;
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

    private void notifyListener(Runnable call) {
        try {
            call.run();
        } catch (RuntimeException e) {
            LOG.warn("a SupervisorListener threw; ignoring it", e);
        }
    }

    // ------------------------------------------------------------------------------------------------ accepting

    /**
     * Accepts from the listeners the poll found readable, at most {@link #ACCEPT_BATCH} in all and never more than
     * there is room for ({@link #room}), starting with a different listener each round.
     */
    private void acceptReady() throws NativeException {
        int n = listeners.size();
        int first = firstListener;
        firstListener = (first + 1) % n;
        int budget = Math.min(ACCEPT_BATCH, room());
        for (int k = 0; k < n && budget > 0; k++) {
            int i = (first + k) % n;
            if ((poller.readyOps(1 + i) & Native.POLLIN) != 0) {
                budget -= acceptBatch(listeners.get(i), budget);
            }
        }
    }

    /** Connections the loop may still take: the bounded queue's room plus the workers' free slots. */
    private int room() {
        return config.queueSize() + freeCapacity() - queue.size();
    }

    /** Accepts up to {@code max} connections from {@code listener} into the queue; returns how many it queued. */
    private int acceptBatch(TcpListener listener, int max) throws NativeException {
        int queued = 0;
        for (int i = 0; i < max; i++) {
            int fd;
            try {
                fd = listener.accept();
            } catch (NativeException e) {
                if (e.errno() == Native.EMFILE || e.errno() == Native.ENFILE) {
                    // Out of descriptors: the connection stays in the kernel backlog. Pause instead of spinning.
                    acceptPausedLog.warn("cannot accept: {}; pausing accepts for 100 ms (raise the descriptor limit, "
                            + "ulimit -n)", e.getMessage());
                    acceptPausedUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(100);
                    return queued;
                }
                throw e;
            }
            if (fd < 0) {
                return queued;
            }
            PendingConnection c = pool.take(nextConnectionId, fd, System.nanoTime(), System.currentTimeMillis() * 1000);
            c.peerLength = listener.copyLastPeerAddress(c.peer);
            try {
                c.localLength = listener.copyLocalAddress(fd, c.local);
            } catch (NativeException e) {
                // The client reset the connection before we looked at it: nothing to serve.
                Native.closeQuietly(fd);
                c.fd = -1;
                pool.release(c);
                continue;
            }
            nextConnectionId++;
            queue.add(c);
            queued++;
            metrics.accepted.mark();
        }
        return queued;
    }

    private int freeCapacity() {
        int free = 0;
        for (int i = 0; i < workers.size(); i++) {
            WorkerProcess w = workers.get(i);
            if (w.available()) {
                free += Math.max(0, LeastBusyPolicy.limit(w, config.concurrency(), config.prefetch()) - w.inFlight());
            }
        }
        return free;
    }

    // ------------------------------------------------------------------------------------------------ dispatch

    private void dispatch() {
        while (!queue.isEmpty()) {
            int i = policy.pick(workers, config.concurrency(), config.prefetch());
            if (i < 0) {
                return;
            }
            WorkerProcess w = workers.get(i);
            w.outbox.add(queue.poll());
            if (++w.assigned >= w.requestLimit && !w.retiring) {
                LOG.info("{} reached --max-requests ({} connections); starting its replacement", w, w.assigned);
                w.stopReason = "max-requests";
                retire(w);
            }
        }
    }

    /**
     * Sends what waits in a worker's outbox, several handoffs per message when several wait (one sendmsg, one
     * wakeup of the worker). A send that would block leaves the rest for POLLOUT: the acceptor never blocks on a
     * slow worker.
     */
    private void flush(WorkerProcess w) {
        if (!w.hasChannel() || w.state == WorkerProcess.State.BOOTING) {
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
                offset = FrameCodec.putHandoffEntry(buf, offset, c.id, c.acceptedEpochMicros, c.peer, c.peerLength,
                        c.local, c.localLength);
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
                // until POLLOUT; the acceptor and the other workers carry on. A busy worker blocks briefly all the
                // time; only one blocked for a whole second is worth a line.
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
                w.unacked.add(c);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ reports

    private void receiveFrom(WorkerProcess w) {
        for (int i = 0; i < 64 && w.hasChannel(); i++) {
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
        w.lastFrameNanos = now;
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
                    onAccepted(w, idScratch[i], now);
                }
                break;
            }
            case DONE_ACCEPTED: {
                if (readIdList(buf, length) != 2) {
                    throw new FrameException("DONE_ACCEPTED must carry exactly 2 ids, not " + idCount);
                }
                long accepted = idScratch[1];
                onDone(w, idScratch[0]);
                onAccepted(w, accepted, now);
                break;
            }
            case REJECTED:
            case LOST:
            case RETURNED: {
                int n = readIdList(buf, length);
                List<PendingConnection> back = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    back.add(takeUnacked(w, idScratch[i], type));
                }
                if (type == FrameType.LOST) {
                    LOG.warn("{} lost {} descriptor(s) in transit (its descriptor table is full?); sending them again",
                            w, n);
                } else if (type == FrameType.RETURNED) {
                    // Its handlers stayed busy for --prefetch-timeout: send it nothing ahead until one finishes.
                    w.prefetchOk = false;
                    metrics.prefetchReturned.inc(n);
                    LOG.debug("{} gave back {} prefetched connection(s) after --prefetch-timeout", w, n);
                }
                requeueFront(back, type != FrameType.REJECTED);
                break;
            }
            case DONE: {
                int n = readIdList(buf, length);
                for (int i = 0; i < n; i++) {
                    onDone(w, idScratch[i]);
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

    /** The worker took a connection: it holds its own copy now. */
    private void onAccepted(WorkerProcess w, long id, long now) throws FrameException {
        PendingConnection c = takeUnacked(w, id, FrameType.ACCEPTED);
        // Close ours at once, or the worker's close sends no FIN.
        Native.closeQuietly(c.fd);
        c.fd = -1;
        w.held.put(c.id, now);
        w.taken++;
        metrics.handoff.update(now - c.acceptedNanos, TimeUnit.NANOSECONDS);
        pool.release(c);
    }

    /** The worker finished a connection it took. */
    private void onDone(WorkerProcess w, long id) throws FrameException {
        if (!w.held.remove(id)) {
            throw new FrameException("DONE for connection " + id + ", which it did not hold");
        }
        w.served++;
        w.prefetchOk = true;
        if (w.state == WorkerProcess.State.DRAINING && w.inFlight() == 0) {
            stopWorker(w, w.stopReason);
        }
    }

    /**
     * Removes a connection the worker reported on from its unacked map, checking FIFO order: the worker reports in
     * the order it received, so the report must name the oldest connection sent to it.
     */
    private PendingConnection takeUnacked(WorkerProcess w, long id, FrameType type) throws FrameException {
        PendingConnection head = w.unacked.peekFirst();
        if (head != null && head.id == id) {
            return w.unacked.pollFirst();
        }
        // Not the oldest: a FIFO violation (or a report for something never sent). Find it to keep going.
        for (java.util.Iterator<PendingConnection> it = w.unacked.iterator(); it.hasNext(); ) {
            PendingConnection c = it.next();
            if (c.id == id) {
                it.remove();
                metrics.reordered.inc();
                LOG.error("handoffs to {} arrived out of order: {} for connection {} while {} was sent earlier",
                        w, type, id, head.id);
                return c;
            }
        }
        throw new FrameException(type + " for connection " + id + ", which was not sent to it");
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
        int limit = passing ? MAX_TRANSIENT_RETURNS : 2 * Math.max(1, target) + 3;
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
        pool.release(c);
    }

    private void onReady(WorkerProcess w) {
        if (w.state != WorkerProcess.State.BOOTING) {
            return;
        }
        w.state = WorkerProcess.State.READY;
        w.readyNanos = System.nanoTime();
        cancelBootTimer(w);
        LOG.info("{} ready in {} ms", w, TimeUnit.NANOSECONDS.toMillis(w.readyNanos - w.spawnedNanos));
        WorkerStatus st = w.status(w.readyNanos);
        notifyListener(() -> events.onWorkerReady(st));
        WorkerProcess old = w.replaces;
        if (old != null) {
            // The replacement serves now; only then does the old worker stop taking connections.
            w.replaces = null;
            drain(old, old.stopReason != null ? old.stopReason : "replaced");
            if (old == reloading) {
                reloading = null;
                reloadNext();
            }
        }
        if (phase == Phase.STARTING && !workers.isEmpty()
                && workers.stream().filter(WorkerProcess::isPrimary).allMatch(x -> x.state == WorkerProcess.State.READY)
                && primaryCount() >= target) {
            phase = Phase.RUNNING;
            LOG.info("ready: {} worker(s) serving on {}", target, listenText());
            List<InetSocketAddress> bound = boundAddresses();
            notifyListener(() -> events.onReady(bound));
            ready.complete(bound);
        }
    }

    // ------------------------------------------------------------------------------------------------ workers

    private int primaryCount() {
        int n = 0;
        for (WorkerProcess w : workers) {
            if (w.isPrimary()) {
                n++;
            }
        }
        return n;
    }

    /** Starts a worker for slot {@code index}; if {@code replaces} is given, the new one will take over from it. */
    private void spawn(int index, WorkerProcess replaces) {
        if (phase.compareTo(Phase.DRAINING) >= 0) {
            return;
        }
        int[] pair;
        try {
            pair = Native.seqpacketPair();
        } catch (NativeException e) {
            LOG.error("cannot create a channel for worker {}: {}; retrying in 1 s", index, e.getMessage());
            scheduleSpawn(index, TimeUnit.SECONDS.toMillis(1));
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
        long limit = config.maxRequests() == 0 ? Long.MAX_VALUE
                : config.maxRequests() + (config.maxRequestsJitter() == 0 ? 0 : random.nextInt(config.maxRequestsJitter() + 1));
        ControlChannel.Buffers buffers = spareBuffers.poll();
        ControlChannel channel = new ControlChannel(pair[0], buffers != null ? buffers : new ControlChannel.Buffers());
        WorkerProcess w = new WorkerProcess(nextWorkerId++, index, token, channel, pair[1], limit);
        try {
            w.process = launcher.start(index, bootServer.path(), token);
        } catch (IOException e) {
            closeChannel(w);
            w.closeWorkerEnd();
            String why = "cannot start a worker JVM (" + launcher.command().get(0) + "): " + e.getMessage();
            if (phase == Phase.STARTING) {
                fail(ExitCodes.BOOT_FAILED, why);
            } else {
                LOG.error("{}; retrying in 1 s", why);
                if (replaces == null) {
                    scheduleSpawn(index, TimeUnit.SECONDS.toMillis(1));
                } else {
                    replaces.retiring = false;
                }
            }
            return;
        }
        WorkerLauncher.pumpOutput(w.process, index);
        w.replaces = replaces;
        workers.add(w);
        w.process.onExit().thenAccept(p -> post(() -> onExit(w, p.exitValue())));
        // Cancelled on READY and on exit: the timer's reference would otherwise keep a dead worker's WorkerProcess
        // (and its Process) reachable for the whole --boot-timeout.
        bootTimers.put(w, schedule(config.bootTimeout().toNanos(), () -> {
            bootTimers.remove(w);
            if (w.state.compareTo(WorkerProcess.State.READY) < 0) {
                LOG.error("{} did not become ready within {} s (--boot-timeout); killing it", w,
                        config.bootTimeout().toSeconds());
                w.bootFailure = "did not become ready within " + config.bootTimeout().toSeconds() + " s (--boot-timeout)";
                lost(w, "boot timeout");
            }
        }));
        LOG.debug("spawned {} (id {})", w, w.id);
    }

    private void scheduleSpawn(int index, long delayMs) {
        pendingSpawns.add(index);
        schedule(TimeUnit.MILLISECONDS.toNanos(delayMs), () -> {
            pendingSpawns.remove(Integer.valueOf(index));
            if (primaryCount() + pendingSpawns.size() < target && !slotTaken(index)) {
                spawn(index, null);
            }
        });
    }

    private boolean slotTaken(int index) {
        for (WorkerProcess w : workers) {
            if (w.isPrimary() && w.index == index) {
                return true;
            }
        }
        return pendingSpawns.contains(index);
    }

    /** Starts workers until there are {@code target} primaries (serving or starting), lowest free slots first. */
    private void ensureCapacity() {
        if (phase.compareTo(Phase.DRAINING) >= 0) {
            return;
        }
        int have = primaryCount() + pendingSpawns.size();
        for (int index = 0; have < target; index++) {
            if (!slotTaken(index)) {
                int c = crashes.getOrDefault(index, 0);
                long delayMs = c == 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS << Math.min(20, c - 1));
                if (delayMs > 0) {
                    LOG.warn("worker {} died {} time(s) soon after start; starting its replacement in {} ms",
                            index, c, delayMs);
                }
                scheduleSpawn(index, delayMs);
                have++;
            }
        }
    }

    /**
     * Replaces a worker without a capacity dip: starts a new JVM in its slot; the old one keeps serving until the
     * new one is ready, then drains (takes no new connections, finishes what it has) and stops.
     */
    private void retire(WorkerProcess w) {
        if (w.retiring || w.state != WorkerProcess.State.READY || phase.compareTo(Phase.DRAINING) >= 0) {
            return;
        }
        w.retiring = true;
        spawn(w.index, w);
    }

    /** Takes no new connections; stops the worker once it has finished the ones it has. */
    private void drain(WorkerProcess w, String why) {
        if (w.state.compareTo(WorkerProcess.State.DRAINING) >= 0) {
            return;
        }
        w.state = WorkerProcess.State.DRAINING;
        w.stopReason = why;
        // Connections still in its outbox have not been sent: give them to the others.
        List<PendingConnection> back = new ArrayList<>(w.outbox);
        w.outbox.clear();
        requeueFront(back, true);
        if (w.inFlight() == 0) {
            stopWorker(w, why);
        }
    }

    /** SIGTERM now, SIGKILL if it has not exited after the kill timeout. */
    private void stopWorker(WorkerProcess w, String why) {
        if (w.state.compareTo(WorkerProcess.State.STOPPING) >= 0) {
            return;
        }
        w.state = WorkerProcess.State.STOPPING;
        w.stopRequested = true;
        LOG.info("stopping {} ({})", w, why);
        if (w.process != null) {
            w.process.destroy();
        }
        schedule(KILL_TIMEOUT_NANOS, () -> {
            if (w.process != null && w.process.isAlive()) {
                LOG.warn("{} did not exit {} s after SIGTERM; sending SIGKILL", w,
                        TimeUnit.NANOSECONDS.toSeconds(KILL_TIMEOUT_NANOS));
                w.process.destroyForcibly();
            }
        });
    }

    /**
     * A stuck worker: ask its JVM for a thread dump (SIGQUIT: HotSpot prints every thread's stack to stdout, which
     * the output pump copies into our log), then kill it. Its replacement starts at once.
     */
    private void killStuck(WorkerProcess w, String why) {
        LOG.error("{} {}; dumping its threads into the log and killing it", w, why);
        w.state = WorkerProcess.State.STOPPING;
        w.stopReason = why;
        List<PendingConnection> back = new ArrayList<>(w.outbox);
        w.outbox.clear();
        requeueFront(back, true);
        try {
            Native.kill(w.pid(), Native.SIGQUIT);
        } catch (NativeException e) {
            LOG.warn("cannot ask {} for a thread dump: {}", w, e.getMessage());
        }
        schedule(DUMP_GRACE_NANOS, () -> {
            if (w.process.isAlive()) {
                w.process.destroyForcibly();
            }
        });
        ensureCapacity();
    }

    /** Every second: workers silent past --heartbeat-timeout, connections held past --timeout. */
    private void watchdog() {
        if (phase == Phase.STOPPED) {
            return;
        }
        long now = System.nanoTime();
        long heartbeat = config.heartbeatTimeout().toNanos();
        long timeout = config.timeout().toNanos();
        for (WorkerProcess w : new ArrayList<>(workers)) {
            if (w.state != WorkerProcess.State.READY && w.state != WorkerProcess.State.DRAINING) {
                continue;
            }
            long silent = now - (w.lastFrameNanos != 0 ? w.lastFrameNanos : w.readyNanos);
            if (silent > heartbeat) {
                killStuck(w, "sent no heartbeat for " + TimeUnit.NANOSECONDS.toMillis(silent) + " ms (--heartbeat-timeout "
                        + config.heartbeatTimeout().toSeconds() + " s)");
                continue;
            }
            if (timeout > 0 && !w.held.isEmpty()) {
                long[] oldest = w.held.minByValue();
                long age = now - oldest[1];
                if (age > timeout) {
                    killStuck(w, "has held connection " + oldest[0] + " for " + TimeUnit.NANOSECONDS.toMillis(age)
                            + " ms (--timeout " + config.timeout().toSeconds() + " s)");
                }
            }
        }
        schedule(WATCHDOG_PERIOD_NANOS, this::watchdog);
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
                if (w.state == WorkerProcess.State.SPAWNED && w.token.equals(arrival.token)) {
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
        boolean expected = w.stopRequested;
        w.state = WorkerProcess.State.DEAD;
        closeChannel(w);
        w.closeWorkerEnd();
        List<PendingConnection> back = new ArrayList<>(w.unacked);
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
        WorkerProcess replacement = replacementOf(w);
        if (replacement != null) {
            replacement.replaces = null; // nothing left to take over from
        }
        // Capacity is restored when the process is reaped (onExit), which also decides whether this was a boot
        // failure that must stop the supervisor rather than be replaced.
    }

    /**
     * Closes a worker's channel and keeps its buffers for the next worker. Only for a worker the loop will not use
     * again (DEAD, or never started): a released channel throws on any use.
     */
    private void closeChannel(WorkerProcess w) {
        if (w.channel.isClosed()) {
            return;
        }
        w.channel.close();
        ControlChannel.Buffers b = w.channel.releaseBuffers();
        if (spareBuffers.size() < SPARE_BUFFERS) {
            spareBuffers.add(b);
        }
    }

    private WorkerProcess replacementOf(WorkerProcess old) {
        for (WorkerProcess w : workers) {
            if (w.replaces == old) {
                return w;
            }
        }
        return null;
    }

    private void cancelBootTimer(WorkerProcess w) {
        Timer t = bootTimers.remove(w);
        if (t != null) {
            timers.remove(t);
        }
    }

    private void onExit(WorkerProcess w, int code) {
        cancelBootTimer(w);
        boolean wasReady = w.readyNanos != 0;
        boolean expected = w.stopRequested;
        lost(w, WorkerExit.describe(code));
        workers.remove(w);
        WorkerStatus st = w.status(System.nanoTime());
        notifyListener(() -> events.onWorkerExit(st, code));
        if (phase == Phase.STOPPING) {
            LOG.info("{} {}", w, WorkerExits.describe(code, expected));
            if (workers.isEmpty()) {
                phase = Phase.STOPPED;
            }
            return;
        }
        if (w.bootFailure != null || code == WorkerExit.BOOT_FAILED || (phase == Phase.STARTING && !wasReady)) {
            // First line only: the worker printed its full stack trace into the log already.
            String detail = w.bootFailure != null ? w.bootFailure.lines().findFirst().orElse("")
                    : WorkerExit.describe(code) + " before it was ready (its output above says why)";
            fail(ExitCodes.BOOT_FAILED, "worker " + w.index + " failed to boot: " + detail);
            return;
        }
        if (w.replaces != null) {
            // A replacement died before it was ready: the old worker keeps serving; try again later.
            WorkerProcess old = w.replaces;
            old.retiring = false;
            LOG.warn("{}, the replacement for {}, {}; {} keeps serving", w, old, WorkerExit.describe(code), old);
            if (old == reloading) {
                schedule(TimeUnit.SECONDS.toNanos(1), () -> {
                    if (old == reloading) {
                        retire(old);
                    }
                });
            }
        }
        if (expected) {
            LOG.info("{} {}", w, WorkerExits.describe(code, true));
        } else {
            // A worker that died soon after start without serving anything is a crash loop in the making (bad
            // config, a dependency down): each death doubles its slot's respawn delay. One that ran for a while or
            // served connections resets it, so workers killed in ordinary operation are replaced at once.
            long lived = System.nanoTime() - w.spawnedNanos;
            boolean early = lived < STABLE_AFTER_NANOS && w.taken == 0;
            crashes.put(w.index, early ? crashes.getOrDefault(w.index, 0) + 1 : 0);
            LOG.warn("{} {}; starting a replacement", w, WorkerExit.describe(code));
            metrics.restarts.inc();
        }
        ensureCapacity();
    }

    // ------------------------------------------------------------------------------------------------ reload, scale

    private void reload() {
        if (phase != Phase.RUNNING) {
            LOG.warn("reload ignored while {}", phase.name().toLowerCase(java.util.Locale.ROOT));
            return;
        }
        reloadQueue.clear();
        for (WorkerProcess w : workers) {
            if (w.state == WorkerProcess.State.READY && !w.retiring) {
                reloadQueue.add(w);
            }
        }
        LOG.info("reloading: replacing {} worker(s) one at a time", reloadQueue.size());
        if (reloading == null) {
            reloadNext();
        }
    }

    private void reloadNext() {
        while (!reloadQueue.isEmpty()) {
            WorkerProcess w = reloadQueue.poll();
            if (w.state == WorkerProcess.State.READY && !w.retiring) {
                reloading = w;
                w.stopReason = "reload";
                retire(w);
                return;
            }
        }
        LOG.info("reload finished");
    }

    private void scale(int delta) {
        if (phase != Phase.RUNNING) {
            LOG.warn("{} ignored while {}", delta > 0 ? "one more worker" : "one fewer worker",
                    phase.name().toLowerCase(java.util.Locale.ROOT));
            return;
        }
        if (delta > 0) {
            if (target >= SupervisorConfig.MAX_WORKERS) {
                LOG.warn("one more worker ignored: already {} workers, the maximum", target);
                return;
            }
            target++;
            LOG.info("{} worker(s) now", target);
            ensureCapacity();
            return;
        }
        if (target <= 1) {
            LOG.warn("one fewer worker ignored: at least one worker must run");
            return;
        }
        target--;
        WorkerProcess oldest = null;
        for (WorkerProcess w : workers) {
            if (w.isPrimary() && (oldest == null || w.spawnedNanos < oldest.spawnedNanos)) {
                oldest = w;
            }
        }
        LOG.info("{} worker(s) now; draining the oldest, {}", target, oldest);
        if (oldest != null) {
            drain(oldest, "one fewer worker");
        }
    }

    private int totalInFlight() {
        int n = 0;
        for (WorkerProcess w : workers) {
            n += w.inFlight();
        }
        return n;
    }

    // ------------------------------------------------------------------------------------------------ stopping

    private void fail(int exitCode, String reason) {
        if (termination.exitCode() == ExitCodes.OK) {
            termination = new Termination(exitCode, reason);
        }
        LOG.error("{}; stopping", reason);
        stop(false);
    }

    private void stop(boolean graceful) {
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
        reloadQueue.clear();
        // Connections whose handshake the kernel completed are in the accept queues, and closing a listener resets
        // them: they must be accepted first. But a handshake can complete between the last accept that finds a
        // queue empty and the close. So new handshakes are refused first (TcpListener.refuseNewHandshakes), the
        // ones under way are given a moment to finish, and only then is each queue emptied and its listener closed.
        for (TcpListener l : listeners) {
            try {
                l.refuseNewHandshakes();
            } catch (NativeException e) {
                LOG.warn("cannot refuse new connections on {} before closing it: {}; a connection that completes "
                        + "just as it closes may be reset", TcpListener.format(l.boundAddress()), e.getMessage());
            }
        }
        long now = System.nanoTime();
        closeListenersOnceHandshakesFinish(now, now + HANDSHAKE_SETTLE_NANOS);
        schedule(config.gracefulTimeout().toNanos(), () -> {
            if (phase == Phase.DRAINING) {
                LOG.warn("graceful timeout ({} s) passed with {} connection(s) in flight and {} queued; stopping workers",
                        config.gracefulTimeout().toSeconds(), totalInFlight(), queue.size());
                terminateWorkers();
            }
        });
    }

    /**
     * The second step of a graceful stop, after new handshakes were refused: once none is under way on any
     * listener's port, nothing can enter an accept queue any more, so each queue is emptied into the dispatch queue
     * and its listener closed. Polls every {@link #HANDSHAKE_POLL_NANOS} (on loopback the first look usually finds
     * none), at most until {@code deadline}: a client that never finishes its handshake must not hold the stop up,
     * and the kernel never accepted it. One case stays open: under a SYN flood the kernel answers with SYN cookies
     * and keeps no request socket, so a cookie ACK that arrives in the moment between the last accept and the close
     * is not seen coming; without a flood there are no cookies.
     */
    private void closeListenersOnceHandshakesFinish(long began, long deadline) {
        if (phase != Phase.DRAINING || !listenersOpen) {
            return; // a harder stop closed them meanwhile
        }
        java.util.Set<Integer> ports = new java.util.HashSet<>();
        for (TcpListener l : listeners) {
            ports.add(l.boundAddress().getPort());
        }
        int unfinished = TcpListener.handshakesInProgress(ports);
        if (unfinished > 0 && System.nanoTime() - deadline < 0) {
            schedule(HANDSHAKE_POLL_NANOS, () -> closeListenersOnceHandshakesFinish(began, deadline));
            return;
        }
        if (unfinished > 0) {
            LOG.warn("closing the listeners with {} TCP handshake(s) still unfinished after {} ms; those clients will "
                    + "be reset", unfinished, TimeUnit.NANOSECONDS.toMillis(HANDSHAKE_SETTLE_NANOS));
        }
        emptyAndCloseListeners(began);
    }

    /**
     * The last step of {@link #closeListenersOnceHandshakesFinish}: accepts everything in the accept queues, then
     * closes the listeners. Out of descriptors (EMFILE), what is left in a queue would be reset by the close, so the
     * listeners stay open (new handshakes are still refused) and this runs again when the accept pause ends, by which
     * time connections the workers took have given their descriptors back. The graceful timeout bounds the wait.
     */
    private void emptyAndCloseListeners(long began) {
        if (phase != Phase.DRAINING || !listenersOpen) {
            return;
        }
        for (TcpListener l : listeners) {
            try {
                acceptBatch(l, Integer.MAX_VALUE);
            } catch (NativeException e) {
                LOG.warn("accepting the backlog of {} before stopping failed: {}", TcpListener.format(l.boundAddress()),
                        e.getMessage());
            }
            if (System.nanoTime() - acceptPausedUntil < 0) {
                schedule(acceptPausedUntil - System.nanoTime(), () -> emptyAndCloseListeners(began));
                return;
            }
        }
        closeListeners();
        LOG.info("stopping gracefully: listeners closed after {} ms; {} connection(s) in flight, {} queued; "
                + "graceful timeout {} s", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began), totalInFlight(),
                queue.size(), config.gracefulTimeout().toSeconds());
    }

    /** SIGTERM to every worker, SIGKILL to those still alive after the kill timeout; the loop ends when all are reaped. */
    private void terminateWorkers() {
        phase = Phase.STOPPING;
        reloadQueue.clear();
        closeListeners();
        while (!queue.isEmpty()) {
            drop(queue.poll());
        }
        for (WorkerProcess w : new ArrayList<>(workers)) {
            if (w.state.compareTo(WorkerProcess.State.STOPPING) < 0) {
                w.state = WorkerProcess.State.STOPPING;
            }
            w.stopRequested = true;
            if (w.process != null) {
                w.process.destroy();
            }
        }
        if (workers.isEmpty()) {
            phase = Phase.STOPPED;
            return;
        }
        schedule(KILL_TIMEOUT_NANOS, this::killAll);
    }

    private void killAll() {
        for (WorkerProcess w : workers) {
            if (w.process != null && w.process.isAlive()) {
                LOG.warn("{} did not exit after SIGTERM; sending SIGKILL", w);
                w.process.destroyForcibly();
            }
        }
    }

    /** Closes every listener (a listener already closed is left as it is). */
    private void closeListeners() {
        if (listenersOpen) {
            listenersOpen = false;
            for (TcpListener l : listeners) {
                l.close();
            }
        }
    }

    /** The listeners' bound addresses, in --listen order; any thread (they are fixed once bound). */
    public List<InetSocketAddress> boundAddresses() {
        List<InetSocketAddress> bound = new ArrayList<>(listeners.size());
        for (TcpListener l : listeners) {
            bound.add(l.boundAddress());
        }
        return List.copyOf(bound);
    }

    /** The bound listen addresses for the log: {@code 127.0.0.1:8080, [::1]:8080}. */
    private String listenText() {
        return TcpListener.format(boundAddresses());
    }

    /** Last step of {@link #run}: no descriptor or process outlives the loop. */
    private void closeEverything() {
        closeListeners();
        bootServer.close();
        while (!queue.isEmpty()) {
            drop(queue.poll());
        }
        for (WorkerProcess w : workers) {
            for (PendingConnection c : w.unacked) {
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

    // ------------------------------------------------------------------------------------------------ observing

    private void publishMetrics() {
        int ready = 0;
        for (WorkerProcess w : workers) {
            if (w.state == WorkerProcess.State.READY) {
                ready++;
            }
        }
        metrics.publish(queue.size(), ready, totalInFlight(), workers.size());
    }

    private SupervisorStatus snapshot() {
        long now = System.nanoTime();
        List<WorkerStatus> ws = new ArrayList<>(workers.size());
        List<WorkerProcess> sorted = new ArrayList<>(workers);
        sorted.sort(Comparator.comparingInt((WorkerProcess w) -> w.index).thenComparingLong(w -> w.id));
        for (WorkerProcess w : sorted) {
            ws.add(w.status(now));
        }
        return new SupervisorStatus(phase.name().toLowerCase(java.util.Locale.ROOT), boundAddresses(),
                queue.size(), metrics.accepted.getCount(), metrics.restarts.getCount(), target, startedAt,
                List.copyOf(ws));
    }
}
