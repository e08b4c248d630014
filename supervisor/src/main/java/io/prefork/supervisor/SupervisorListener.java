package io.prefork.supervisor;

import java.net.InetSocketAddress;
import java.util.List;

/**
 * Lifecycle events of an embedded {@link Supervisor}. Every method is called on the supervisor's loop thread, in
 * order: it must return quickly and must not block (hand long work to your own executor), or the supervisor stops
 * accepting and dispatching while it runs. An exception thrown here is logged and otherwise ignored.
 */
public interface SupervisorListener {
    /** Every initial worker is ready; the supervisor serves on {@code addresses} (as bound, in --listen order). */
    default void onReady(List<InetSocketAddress> addresses) {
    }

    /** A worker (initial, replacement, or added) became ready. */
    default void onWorkerReady(WorkerStatus worker) {
    }

    /** A worker process exited and was reaped; {@code exitCode} as from {@code Process.exitValue()}. */
    default void onWorkerExit(WorkerStatus worker, int exitCode) {
    }

    /**
     * A reload (SIGHUP, {@link Supervisor#reload()}) began: every ready worker is about to be replaced, one at a time.
     * Not called for a reload that is ignored (while starting or stopping).
     */
    default void onReloading() {
    }

    /** The reload that {@link #onReloading()} announced is complete: every worker it replaced has a ready successor. */
    default void onReloaded() {
    }

    /**
     * An upgrade's new supervisor, pid {@code newPid}, is ready and serves the same sockets; this one stops accepting
     * and drains. Called just before {@link #onStopping(boolean)}.
     */
    default void onHandOver(long newPid) {
    }

    /**
     * A stop began: graceful ({@code true}: no new connections, those in flight finish up to the graceful timeout)
     * or quick. Called once, for the first stop; a graceful stop made quick later is not announced again.
     */
    default void onStopping(boolean graceful) {
    }

    /** The supervisor stopped; every worker has been reaped. */
    default void onTerminated(Termination termination) {
    }

    /** A listener that does nothing. */
    SupervisorListener NONE = new SupervisorListener() {
    };
}
