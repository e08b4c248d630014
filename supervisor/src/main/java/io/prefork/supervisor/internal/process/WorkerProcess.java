package io.prefork.supervisor.internal.process;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.supervisor.internal.dispatch.LeastBusyPolicy;
import io.prefork.supervisor.internal.dispatch.PendingConnection;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.HashSet;
import java.util.Set;

/**
 * One worker JVM as the supervisor sees it: its process, its end of the control channel, and the connections on
 * their way to it. Owned by the supervisor loop thread; nothing here is thread-safe.
 *
 * <p>A connection moves outbox -> unacked (sent, its descriptor still also held by the supervisor) -> held (the
 * worker took it, the supervisor closed its copy) -> gone (DONE). If the worker dies, outbox and unacked
 * connections go back to the supervisor's queue; held ones die with the worker.
 */
public final class WorkerProcess implements LeastBusyPolicy.Candidate {
    /** Lifecycle of one worker process. */
    public enum State {
        /** Process started; it has not connected back for its channel yet. */
        SPAWNED,
        /** It has its channel; waiting for READY. */
        BOOTING,
        /** Serving. */
        READY,
        /** Told to stop (or its channel failed); takes no new connections. */
        STOPPING,
        /** Its channel is closed; waiting for the process to be reaped. */
        DEAD
    }

    public final int slot;
    /** Increases with every process started, across slots: a log-friendly unique worker id. */
    public final long generation;
    public final String token;
    public final long spawnedNanos;
    public Process process;
    public State state = State.SPAWNED;
    /** The supervisor's end; owned here until the worker is lost. */
    public final ControlChannel channel;
    /** The worker's end, owned here until it is sent to the worker in the bootstrap handshake; then -1. */
    public int workerEndFd;
    public long readyNanos;
    public long lastHeartbeatNanos;
    public long served;
    /** When a send to it first hit EAGAIN in the current episode (0 while sends go through); for logging. */
    public long sendBlockedSince;
    /** Whether the current blocked episode was logged. */
    public boolean sendBlockedWarned;
    /** Set if the worker reported BOOT_FAILED. */
    public String bootFailure;

    public final ArrayDeque<PendingConnection> outbox = new ArrayDeque<>();
    /**
     * Sent, not yet ACCEPTED, REJECTED or LOST; in send order. The worker reports in the order it received, and
     * SEQPACKET delivers in the order sent, so every report must name the oldest entry: a report that does not is
     * a FIFO violation, which the loop logs and counts.
     */
    public final LinkedHashMap<Long, PendingConnection> unacked = new LinkedHashMap<>();
    public final Set<Long> held = new HashSet<>();

    public WorkerProcess(int slot, long generation, String token, ControlChannel channel, int workerEndFd) {
        this.slot = slot;
        this.generation = generation;
        this.token = token;
        this.channel = channel;
        this.workerEndFd = workerEndFd;
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
    public int inFlight() {
        return outbox.size() + unacked.size() + held.size();
    }

    /** Closes the worker's end if it was never handed over (spawn failed, or the worker never connected back). */
    public void closeWorkerEnd() {
        if (workerEndFd >= 0) {
            Native.closeQuietly(workerEndFd);
            workerEndFd = -1;
        }
    }

    @Override
    public String toString() {
        return "worker " + slot + " (pid " + pid() + ")";
    }
}
