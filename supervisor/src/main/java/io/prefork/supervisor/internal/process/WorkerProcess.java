package io.prefork.supervisor.internal.process;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.wire.SharedRegion;
import io.prefork.supervisor.WorkerStatus;
import io.prefork.supervisor.internal.dispatch.LeastBusyPolicy;
import io.prefork.supervisor.internal.dispatch.LongLongMap;
import io.prefork.supervisor.internal.dispatch.PendingConnection;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.EnumSet;
import java.util.Set;

/**
 * One worker JVM as the supervisor sees it: its process, its end of the control channel, and the connections on
 * their way to it. Called on the loop thread only; nothing here is thread-safe.
 *
 * <p>A connection moves outbox -> unacked (sent, its descriptor still also held by the supervisor) -> held (the
 * worker took it, the supervisor closed its copy) -> gone (DONE). If the worker dies, outbox and unacked
 * connections go back to the supervisor's queue; held ones die with the worker.
 *
 * <p>Its {@link State} changes only through the transition methods here ({@link #booting()}, {@link #ready},
 * {@link #draining}, {@link #stopping}, {@link #killing}, {@link #dead()}); each checks the move is legal, and an
 * illegal one is a bug in the supervisor, so it throws instead of carrying on with a worker in a state nobody
 * planned for.
 */
public final class WorkerProcess implements LeastBusyPolicy.Candidate {
    /** Lifecycle of one worker process. Order matters: states compare by ordinal. */
    public enum State {
        /** Process started; it has not connected back for its channel yet. */
        SPAWNED,
        /** It has its channel; waiting for READY. */
        BOOTING,
        /** Serving. */
        READY,
        /** Takes no new connections; stops once those it has are done (recycled, reloaded or removed). */
        DRAINING,
        /** Told to exit (SIGTERM), or being killed; takes nothing. */
        STOPPING,
        /** Its channel is closed; waiting for the process to be reaped. */
        DEAD
    }

    /** Unique for the supervisor's life; increases with every process started. */
    private final long id;
    /** The slot, stable across replacements: WorkerContext.index(). */
    private final int index;
    private final String token;
    private final long spawnedNanos;
    /** After this many assigned connections it is recycled (Long.MAX_VALUE: never). */
    private final long requestLimit;
    /** The supervisor's end; owned here until the worker is abandoned. */
    private final ControlChannel channel;
    /** The worker's end, owned here until it is sent to the worker in the bootstrap handshake; then -1. */
    private int workerEndFd;
    /** The memory it shares with us (mapped here for its whole life), or null in tests that need none. */
    private SharedRegion region;
    /** The region's descriptor, owned here until it goes to the worker with its channel end; then -1. */
    private int regionFd = -1;
    /** The region's heartbeat counter as last read: it may only grow. */
    private long lastHeartbeat;
    /** The region's done counter as last read: it may only grow, and never past {@link #taken}. */
    private long doneSeen;
    /** Handoff entries sent on its channel: the next entry's number (its claim slot is this modulo the ring). */
    private long nextEntry;
    /**
     * Entries we revoked that the worker may not have passed yet (it settles entries in order, so it has passed every
     * entry below one it claimed or declined): their slots must not be reused until it has. In entry order.
     */
    private final ArrayDeque<Long> revokedEntries = new ArrayDeque<>();
    private Launcher.Child process;
    private State state = State.SPAWNED;
    /** Whether the supervisor chose to stop it (drained, TTOU, reload, shutdown): its exit is no failure. */
    private boolean stopRequested;
    private long readyNanos;
    private long lastFrameNanos;
    /** Connections sent to it, for --max-requests. */
    private long assigned;
    private long served;
    /** Connections it took; a worker that took none before dying counts as a crash for backoff. */
    private long taken;
    /** Set if the worker reported BOOT_FAILED. */
    private String bootFailure;
    /** True once a replacement was started for it; it keeps serving until that replacement is ready. */
    private boolean retiring;
    /**
     * Started as a spare (--spare-workers): once ready it waits outside the rotation, sent nothing, until the pool
     * promotes it into the place of a worker that died, was recycled or reloaded, or that TTIN added. A flag, not a
     * state: a spare boots, heartbeats and is watched exactly like any worker; only dispatch and the pool's count of
     * primaries tell it apart.
     */
    private boolean spare;
    /** The worker this one replaces (until this one is ready), or null. */
    private WorkerProcess replaces;
    /** Why it is being stopped, for the log. */
    private String stopReason;
    /** When a send to it first hit EAGAIN in the current episode (0 while sends go through); for logging. */
    private long sendBlockedSince;
    /** Whether the current blocked episode was logged. */
    private boolean sendBlockedWarned;
    /**
     * False after it gave back prefetched connections (its handlers stayed busy), until it reports one DONE: sending
     * it more ahead would only have them wait and come back again.
     */
    private boolean prefetchOk = true;

    private final ArrayDeque<PendingConnection> outbox = new ArrayDeque<>();
    /**
     * Sent, not yet reported taken, REJECTED or LOST, nor revoked; in send order. The worker reports in the order it
     * received, and SEQPACKET delivers in the order sent, so every report must name the head of this queue: a report
     * that does not is a FIFO violation, which the dispatcher logs and counts. A queue, not a map: no per-connection
     * allocation.
     */
    private final ArrayDeque<PendingConnection> unacked = new ArrayDeque<>();
    /** Taken by the worker and not yet done: connection id -> nanoTime when taken (for --timeout). */
    private final LongLongMap held = new LongLongMap(16);

    public WorkerProcess(long id, int index, String token, ControlChannel channel, int workerEndFd, long requestLimit,
                         long spawnedNanos) {
        this.id = id;
        this.index = index;
        this.token = token;
        this.channel = channel;
        this.workerEndFd = workerEndFd;
        this.requestLimit = requestLimit;
        this.spawnedNanos = spawnedNanos;
    }

    // ------------------------------------------------------------------------------------------------ transitions

    private static final Set<State> MAY_BOOT = EnumSet.of(State.SPAWNED);
    private static final Set<State> MAY_BE_READY = EnumSet.of(State.BOOTING);
    private static final Set<State> MAY_DIE = EnumSet.complementOf(EnumSet.of(State.DEAD));
    private static final Set<State> MAY_DRAIN = EnumSet.of(State.SPAWNED, State.BOOTING, State.READY);
    private static final Set<State> MAY_STOP = EnumSet.of(State.SPAWNED, State.BOOTING, State.READY, State.DRAINING);
    private static final Set<State> MAY_KILL = EnumSet.of(State.READY, State.DRAINING);

    private void move(Set<State> from, State to) {
        if (!from.contains(state)) {
            throw new IllegalStateException(this + ": illegal transition from " + state + " to " + to);
        }
        state = to;
    }

    /** SPAWNED -> BOOTING: it connected back and was handed its channel. */
    public void booting() {
        move(MAY_BOOT, State.BOOTING);
    }

    /** BOOTING -> READY: it reported READY at {@code now}. */
    public void ready(long now) {
        move(MAY_BE_READY, State.READY);
        readyNanos = now;
    }

    /**
     * -> DRAINING: no new connections; it stops once those it has are done. From READY, or from SPAWNED/BOOTING when
     * TTOU removes a worker that is still starting (it is then stopped at once: it has nothing to finish).
     */
    public void draining(String why) {
        move(MAY_DRAIN, State.DRAINING);
        stopReason = why;
    }

    /** -> STOPPING at the supervisor's request (drained, TTOU, reload, shutdown): its exit will be no failure. */
    public void stopping() {
        move(MAY_STOP, State.STOPPING);
        stopRequested = true;
    }

    /** READY/DRAINING -> STOPPING because it is stuck: its exit still counts as a failure (respawn backoff). */
    public void killing(String why) {
        move(MAY_KILL, State.STOPPING);
        stopReason = why;
    }

    /** -> DEAD, from any live state: its channel is closed and it waits to be reaped. */
    public void dead() {
        move(MAY_DIE, State.DEAD);
    }

    /** Whatever its state, its exit is expected from now on (the whole supervisor is stopping). */
    public void stopRequested() {
        stopRequested = true;
    }

    // ------------------------------------------------------------------------------------------------ queries

    public long id() {
        return id;
    }

    public int index() {
        return index;
    }

    public String token() {
        return token;
    }

    public State state() {
        return state;
    }

    public long spawnedNanos() {
        return spawnedNanos;
    }

    public long readyNanos() {
        return readyNanos;
    }

    public boolean isStopRequested() {
        return stopRequested;
    }

    public ControlChannel channel() {
        return channel;
    }

    public int workerEndFd() {
        return workerEndFd;
    }

    public Launcher.Child process() {
        return process;
    }

    /** Set once, right after the launcher started it. */
    public void started(Launcher.Child child) {
        if (process != null) {
            throw new IllegalStateException(this + " was started already");
        }
        process = child;
    }

    public long pid() {
        return process == null ? -1 : process.pid();
    }

    @Override
    public boolean available() {
        return state == State.READY && !spare;
    }

    @Override
    public boolean mayPrefetch() {
        return prefetchOk;
    }

    @Override
    public int inFlight() {
        return outbox.size() + unacked.size() + held.size();
    }

    /** True while its channel is open and worth polling. */
    public boolean hasChannel() {
        return state == State.BOOTING || state == State.READY || state == State.DRAINING || state == State.STOPPING;
    }

    /**
     * True if this worker fills its slot in the pool: starting or serving and not being replaced. The pool keeps
     * as many primaries as the target worker count.
     */
    public boolean isPrimary() {
        return state.compareTo(State.READY) <= 0 && !retiring && !spare;
    }

    /** True if this worker is a spare, starting or ready, that nothing has promoted or stopped yet. */
    public boolean isSpare() {
        return spare && state.compareTo(State.READY) <= 0;
    }

    /** Marks a worker about to be started as a spare (before anything else sees it). */
    public void spare(boolean value) {
        spare = value;
    }

    /** A ready spare joins the rotation: from now on it is a primary like any other. */
    public void promote() {
        if (!spare || state != State.READY) {
            throw new IllegalStateException(this + ": only a ready spare can be promoted (spare " + spare + ", "
                    + state + ")");
        }
        spare = false;
    }

    // ------------------------------------------------------------------------------------------------ bookkeeping

    /** Its last frame (any type) arrived at {@code now}: evidence of life for the watchdog, like a heartbeat. */
    public void frameReceived(long now) {
        lastFrameNanos = now;
    }

    public long lastFrameNanos() {
        return lastFrameNanos;
    }

    /** Counts one more connection assigned to it; true when that reaches its --max-requests limit. */
    public boolean assignOne() {
        return ++assigned >= requestLimit;
    }

    public long assigned() {
        return assigned;
    }

    /** It took a connection (closed our copy of the descriptor). */
    public void tookOne(long connectionId, long now) {
        held.put(connectionId, now);
        taken++;
    }

    public long taken() {
        return taken;
    }

    /**
     * Its done counter moved by {@code n} (validated by the caller against {@link #taken}). A counter says how many
     * finished, not which: the oldest held ones are assumed finished, which is exact at concurrency 1 (one at a
     * time) and, above it, only makes --timeout measure from a later claim than the true one.
     */
    public void finished(long n) {
        if (n >= held.size()) {
            held.clear(); // the usual case, at concurrency 1: no search
        } else {
            for (long i = 0; i < n; i++) {
                held.remove(held.minByValue()[0]);
            }
        }
        served += n;
        if (n > 0) {
            prefetchOk = true;
        }
    }

    public long doneSeen() {
        return doneSeen;
    }

    public void doneSeen(long done) {
        doneSeen = done;
    }

    /** We revoked entry {@code entry}: its slot stays reserved until the worker has passed it. */
    public void revoked(long entry) {
        revokedEntries.addLast(entry);
    }

    /** The worker settled entry {@code entry} (claimed or declined it): it has passed every entry below. */
    public void settled(long entry) {
        while (!revokedEntries.isEmpty() && revokedEntries.peekFirst() < entry) {
            revokedEntries.pollFirst();
        }
    }

    /** The oldest entry whose slot may still be in use: the next entry to send if there is none. */
    public long oldestUnsettled() {
        long oldest = nextEntry;
        if (!unacked.isEmpty()) {
            oldest = Math.min(oldest, unacked.peekFirst().entry);
        }
        if (!revokedEntries.isEmpty()) {
            oldest = Math.min(oldest, revokedEntries.peekFirst());
        }
        return oldest;
    }

    /** Numbers the next handoff entry sent to it. */
    public long nextEntry() {
        return nextEntry++;
    }

    /** Takes back the last {@code n} entry numbers: the sendmsg that was to carry them would have blocked. */
    public void unsent(int n) {
        nextEntry -= n;
    }

    /** A connection sent ahead to it was revoked: send it nothing ahead until one of its connections finishes. */
    public void prefetchReturned() {
        prefetchOk = false;
    }

    public String bootFailure() {
        return bootFailure;
    }

    public void bootFailed(String message) {
        bootFailure = message;
    }

    public boolean retiring() {
        return retiring;
    }

    public void retiring(boolean value) {
        retiring = value;
    }

    public WorkerProcess replaces() {
        return replaces;
    }

    public void replaces(WorkerProcess old) {
        replaces = old;
    }

    public String stopReason() {
        return stopReason;
    }

    public void stopReason(String why) {
        stopReason = why;
    }

    public long sendBlockedSince() {
        return sendBlockedSince;
    }

    /** A send hit EAGAIN at {@code now}, starting a blocked episode (0 ends it). */
    public void sendBlockedSince(long now) {
        sendBlockedSince = now;
    }

    public boolean sendBlockedWarned() {
        return sendBlockedWarned;
    }

    public void sendBlockedWarned(boolean value) {
        sendBlockedWarned = value;
    }

    /** Not yet sent, in assignment order; the dispatcher's to fill and empty. */
    public ArrayDeque<PendingConnection> outbox() {
        return outbox;
    }

    /** Sent and not yet reported on, in send order (see the field's comment). */
    public ArrayDeque<PendingConnection> unacked() {
        return unacked;
    }

    /** Taken and not yet done: id -> nanoTime when taken. */
    public LongLongMap held() {
        return held;
    }

    /**
     * Closes the worker's end and the region's descriptor: after the bootstrap handed them over (the worker has its
     * own copies), or if they never were (spawn failed, or the worker never connected back). The mapping stays.
     */
    public void closeWorkerEnd() {
        if (workerEndFd >= 0) {
            Native.closeQuietly(workerEndFd);
            workerEndFd = -1;
        }
        if (regionFd >= 0) {
            Native.closeQuietly(regionFd);
            regionFd = -1;
        }
    }

    /** Set once, before it starts: the region shared with it and its descriptor (owned here until handed over). */
    public void region(SharedRegion r, int fd) {
        if (region != null) {
            throw new IllegalStateException(this + " has a region already");
        }
        region = r;
        regionFd = fd;
    }

    public SharedRegion region() {
        return region;
    }

    public int regionFd() {
        return regionFd;
    }

    /**
     * Reads its heartbeat counter: a new value is a sign of life at {@code now}.
     *
     * @return false if the counter went backwards (a protocol error: it only ever grows)
     */
    public boolean readHeartbeat(long now) {
        if (region == null) {
            return true;
        }
        long beat = region.heartbeat();
        if (beat < lastHeartbeat) {
            return false;
        }
        if (beat != lastHeartbeat) {
            lastHeartbeat = beat;
            lastFrameNanos = now;
        }
        return true;
    }

    public WorkerStatus status(long now) {
        String s;
        switch (state) {
            case SPAWNED:
            case BOOTING:
                s = "starting";
                break;
            case READY:
                s = spare ? "spare" : retiring ? "ready (replacement starting)" : "ready";
                break;
            default:
                s = state.name().toLowerCase(java.util.Locale.ROOT);
        }
        return new WorkerStatus(id, index, pid(), s, inFlight(), served, Duration.ofNanos(now - spawnedNanos),
                lastFrameNanos == 0 ? null : Duration.ofNanos(now - lastFrameNanos));
    }

    @Override
    public String toString() {
        return "worker " + index + " (pid " + pid() + ")";
    }
}
