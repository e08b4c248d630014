package io.prefork.examples;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;

/**
 * A worker whose {@link #start} always throws, to exercise the supervisor's boot-failure handling: the worker reports
 * the failure and exits with the reserved code, and the supervisor stops instead of respawning it forever.
 *
 * <p>No worker settings. {@link #handle} is never reached; it throws too, so that reaching it would be noticed.
 */
public final class BootFailWorker implements Worker {

    /** The message {@link #start} fails with, which the supervisor should report. */
    public static final String MESSAGE =
            "BootFailWorker always fails in start(): this worker exists to test the supervisor's boot-failure handling";

    /** Creates the worker; the runtime calls this public no-argument constructor. */
    public BootFailWorker() {
    }

    @Override
    public void start(WorkerContext context) {
        throw new IllegalStateException(MESSAGE);
    }

    @Override
    public void handle(Connection connection) {
        throw new IllegalStateException("BootFailWorker.handle must never run: start() always fails");
    }
}
