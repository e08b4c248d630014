package io.prefork.it.workers;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;

/** A worker whose {@code start} never returns (a boot stuck on a dead dependency), for {@code --boot-timeout}. */
public final class NeverReadyWorker implements Worker {
    @Override
    public void start(WorkerContext context) throws InterruptedException {
        // Blocking forever is the point: only the supervisor's boot timeout ends this JVM.
        new java.util.concurrent.CountDownLatch(1).await();
    }

    @Override
    public void handle(Connection connection) {
        throw new IllegalStateException("never called: start never returns");
    }
}
