package io.prefork.supervisor.internal.process;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.supervisor.WorkerStatus;
import io.prefork.supervisor.internal.dispatch.LeastBusyPolicy;
import io.prefork.supervisor.internal.dispatch.LongLongMap;
import io.prefork.supervisor.internal.dispatch.PendingConnection;
import java.time.Duration;
import java.util.ArrayDeque;

/**
 * One worker JVM as the supervisor sees it: its process, its end of the control channel, and the connections on
 * their way to it. Owned by the supervisor loop thread; nothing here is thread-safe.
 *
 * <p>A connection moves outbox -> unacked (sent, its descriptor still also held by the supervisor) -> held (the
 * worker took it, the supervisor closed its copy) -> gone (DONE). If the worker dies, outbox and unacked
 * connections go back to the supervisor's queue; held ones die with the worker.
 */
public final class WorkerProcess implements LeastBusyPolicy.Candidate {
    /** Whether the supervisor chose to stop it (drained, TTOU, reload, shutdown): its exit is no failure. */
    public boolean stopRequested;

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
    public final long id;
    /** The slot, stable across replacements: WorkerContext.index(). */
    public final int index;
    public final String token;
    public final long spawnedNanos;
    public Process process;
    public State state = State.SPAWNED;
    /** The supervisor's end; owned here until the worker is lost. */
    public final ControlChannel channel;
    /** The worker's end, owned here until it is sent to the worker in the bootstrap handshake; then -1. */
    public int workerEndFd;
    public long readyNanos;
    public long lastFrameNanos;
    /** Connections sent to it, for --max-requests. */
    public long assigned;
    /** After this many assigned connections it is recycled (Long.MAX_VALUE: never). */
    public final long requestLimit;
    public long served;
    /** Connections it took (TAKEN); a worker that took none before dying counts as a crash for backoff. */
    public long taken;
    /** Set if the worker reported BOOT_FAILED. */
    public String bootFailure;
    /** True once a replacement was started for it; it keeps serving until that replacement is ready. */
    public boolean retiring;
    /** The worker this one replaces (until this one is ready), or null. */
    public WorkerProcess replaces;
    /** Why it is being stopped, for the log. */
    public String stopReason;
    /** When a send to it first hit EAGAIN in the current episode (0 while sends go through); for logging. */
    public long sendBlockedSince;
    /** Whether the current blocked episode was logged. */
    public boolean sendBlockedWarned;
    /**
     * False after it gave back prefetched connections (its handlers stayed busy), until it reports one DONE: sending
     * it more ahead would only have them wait and come back again.
     */
    public boolean prefetchOk = true;

    public final ArrayDeque<PendingConnection> outbox = new ArrayDeque<>();
    /**
     * Sent, not yet TAKEN, REJECTED, LOST or RETURNED; in send order. The worker reports in the order it received, and
     * SEQPACKET delivers in the order sent, so every report must name the head of this queue: a report that does
     * not is a FIFO violation, which the loop logs and counts. A queue, not a map: no per-connection allocation.
     */
    public final ArrayDeque<PendingConnection> unacked = new ArrayDeque<>();
    /** Taken by the worker and not yet done: connection id -> System.nanoTime() when taken (for --timeout). */
    public final LongLongMap held = new LongLongMap(16);

    public WorkerProcess(long id, int index, String token, ControlChannel channel, int workerEndFd, long requestLimit) {
        this.id = id;
        this.index = index;
        this.token = token;
        this.channel = channel;
        this.workerEndFd = workerEndFd;
        this.requestLimit = requestLimit;
        this.spawnedNanos = System.nanoTime();
    }

    public long pid() {
        return process == null ? -1 : process.pid();
    }

    @Override
    public boolean available() {
        return state == State.READY;
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
     * True if this worker fills its slot in the pool: starting or serving and not being replaced. The loop keeps
     * as many primaries as the target worker count.
     */
    public boolean isPrimary() {
        return state.compareTo(State.READY) <= 0 && !retiring;
    }

    /** Closes the worker's end if it was never handed over (spawn failed, or the worker never connected back). */
    public void closeWorkerEnd() {
        if (workerEndFd >= 0) {
            Native.closeQuietly(workerEndFd);
            workerEndFd = -1;
        }
    }

    public WorkerStatus status(long now) {
        String s;
        switch (state) {
            case SPAWNED:
            case BOOTING:
                s = "starting";
                break;
            case READY:
                s = retiring ? "ready (replacement starting)" : "ready";
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
