package io.prefork.it.workers;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;

/**
 * Legacy start-up code: loads a JDBC driver by name, which is not on the classpath. The boot failure must name the
 * driver, not this class.
 */
public final class NeedsDriverWorker implements Worker {
    /** The class {@link #start} looks for; nothing in the build provides it. */
    public static final String DRIVER = "org.postgresql.Driver";

    @Override
    public void start(WorkerContext context) throws Exception {
        Class.forName(DRIVER);
    }

    @Override
    public void handle(Connection connection) {
        throw new IllegalStateException("never reached: start() fails");
    }
}
