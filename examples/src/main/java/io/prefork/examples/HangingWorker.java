package io.prefork.examples;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;

/**
 * A handler with a bug that hangs: a request for {@code /hang} never completes (the handler blocks forever, the way
 * a legacy handler stuck on a lock or a dead backend would); every other path answers 200 like
 * {@link HelloHttpWorker}. It exists to show {@code --timeout}: the supervisor asks the stuck JVM for a thread dump
 * (which appears in its log, showing this class's {@code handle} parked in {@code hangForever}), kills it, and
 * replaces it while the other workers keep serving.
 *
 * <p>Settings: {@code keepAliveTimeoutMs} as for {@link HelloHttpWorker}.
 */
public final class HangingWorker implements Worker {
    /** Never counted down: waiting on it is the hang. */
    private static final CountDownLatch NEVER = new CountDownLatch(1);

    private final byte[] body = ("Hello from prefork worker " + HttpExchange.PID + "\n").getBytes(StandardCharsets.UTF_8);
    private int keepAliveTimeoutMs = HelloHttpWorker.DEFAULT_KEEP_ALIVE_TIMEOUT_MS;

    /** Creates the worker; the runtime calls this public no-argument constructor. */
    public HangingWorker() {
    }

    @Override
    public void start(WorkerContext context) {
        keepAliveTimeoutMs = Settings.intSetting(context, "keepAliveTimeoutMs", HelloHttpWorker.DEFAULT_KEEP_ALIVE_TIMEOUT_MS, 1);
        // Goes to the worker's stdout, which the supervisor copies into its log with this worker's id and pid.
        System.out.println("HangingWorker " + context.index() + " started; GET /hang never returns");
    }

    @Override
    public void handle(Connection connection) throws IOException, InterruptedException {
        HttpExchange http = new HttpExchange(connection.channel(), keepAliveTimeoutMs);
        while (http.readRequest()) {
            if (http.targetIs("/hang")) {
                hangForever();
            }
            http.respond(body);
        }
    }

    private static void hangForever() throws InterruptedException {
        NEVER.await();
    }
}
