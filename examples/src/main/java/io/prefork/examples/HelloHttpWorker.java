package io.prefork.examples;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The smallest useful HTTP worker: answers every request with {@code 200 OK} and
 * {@code Hello from prefork worker <pid>}, plus an {@code X-Prefork-Worker: <pid>} header, so a client can see which
 * worker process served it (and that connections are spread over several).
 *
 * <p>Demonstrates blocking HTTP/1.1 over the streams of the passed connection, with keep-alive: HTTP/1.1 connections
 * stay open unless the request says {@code Connection: close}, HTTP/1.0 ones close unless it says
 * {@code Connection: keep-alive}. Between requests it parks the connection ({@link Connection#park}): the
 * supervisor holds it while it is idle and hands it to a handler again, in any worker, when the next request
 * arrives, so an idle client ties up no handler. With parking off, a kept-alive connection ties up one handler
 * thread while idle, hence the timeout.
 *
 * <p>Worker settings:
 * <ul>
 *   <li>{@code keepAliveTimeoutMs} (default 5000, at least 1): how long a connection may sit idle waiting for its
 *       next request (or stall inside one) before the worker drops it; with parking, only a stall inside a
 *       request.</li>
 *   <li>{@code park} (default {@code true}): park kept-alive connections between requests; {@code false} keeps
 *       each one on its handler until the client closes it or stays idle for {@code keepAliveTimeoutMs}.</li>
 * </ul>
 */
public final class HelloHttpWorker implements Worker {

    static final int DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5000;
    /** The most unread bytes a parked connection may carry ({@link Connection#park}). */
    private static final int MAX_PARKED_UNREAD = 4096;

    // Constant for the life of the process, so built once rather than per request.
    private final byte[] body =
            ("Hello from prefork worker " + HttpExchange.PID + "\n").getBytes(StandardCharsets.UTF_8);

    private int keepAliveTimeoutMs = DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
    private boolean park = true;

    /** Creates the worker; the runtime calls this public no-argument constructor. */
    public HelloHttpWorker() {
    }

    @Override
    public void start(WorkerContext context) {
        keepAliveTimeoutMs = Settings.intSetting(context, "keepAliveTimeoutMs", DEFAULT_KEEP_ALIVE_TIMEOUT_MS, 1);
        park = Settings.booleanSetting(context, "park", true);
    }

    @Override
    public void handle(Connection connection) throws IOException {
        HttpExchange http = new HttpExchange(connection.channel(), keepAliveTimeoutMs, connection.unread());
        while (http.readRequest()) {
            http.respond(body);
            // The response is flushed and the client speaks next: safe to park. What was read beyond this request
            // (a pipelined one) goes along, and the supervisor hands the connection out again at once for it.
            if (park && http.open() && http.unread().remaining() <= MAX_PARKED_UNREAD) {
                connection.park(http.unread());
                return;
            }
        }
    }
}
