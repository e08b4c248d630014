package io.prefork.examples;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;
import java.nio.charset.StandardCharsets;

/**
 * A stand-in for a legacy blocking handler: every request takes a fixed time and touches unsynchronized state, the
 * kind of code prefork exists for. It speaks the same HTTP as {@link HelloHttpWorker} and answers
 * {@code slow <pid> <count>}, with the {@code X-Prefork-Worker: <pid>} header, where {@code count} is the number of
 * requests this worker process has served.
 *
 * <p>Demonstrates that throughput comes from processes, not threads: with the default concurrency of 1 each worker
 * serves one request per {@code delayMs}, so N workers serve about N per {@code delayMs}; and the non-thread-safe
 * counter is correct only because calls to {@link #handle} never overlap at concurrency 1 (at a higher concurrency
 * its counts may repeat or skip: that is the legacy bug it models).
 *
 * <p>Worker settings:
 * <ul>
 *   <li>{@code delayMs} (default 100, at least 0): how long each request blocks before it is answered.</li>
 *   <li>{@code keepAliveTimeoutMs} (default 5000, at least 1): as for {@link HelloHttpWorker}.</li>
 * </ul>
 */
public final class SlowBlockingWorker implements Worker {

    static final int DEFAULT_DELAY_MS = 100;

    private int delayMs = DEFAULT_DELAY_MS;
    private int keepAliveTimeoutMs = HelloHttpWorker.DEFAULT_KEEP_ALIVE_TIMEOUT_MS;

    /**
     * Requests served by this process. Deliberately a plain int, not an AtomicInteger: it models legacy state that
     * was never made thread-safe.
     */
    private int requests;

    /** Creates the worker; the runtime calls this public no-argument constructor. */
    public SlowBlockingWorker() {
    }

    @Override
    public void start(WorkerContext context) {
        delayMs = Settings.intSetting(context, "delayMs", DEFAULT_DELAY_MS, 0);
        keepAliveTimeoutMs = Settings.intSetting(context, "keepAliveTimeoutMs",
                HelloHttpWorker.DEFAULT_KEEP_ALIVE_TIMEOUT_MS, 1);
    }

    @Override
    public void handle(Connection connection) throws Exception {
        HttpExchange http = new HttpExchange(connection.channel(), keepAliveTimeoutMs);
        while (http.readRequest()) {
            // Sleeping is the point here: it simulates slow, blocking legacy work that holds its thread.
            Thread.sleep(delayMs);
            int count = ++requests;
            http.respond(("slow " + HttpExchange.PID + " " + count + "\n").getBytes(StandardCharsets.UTF_8));
        }
    }
}
