package io.prefork.examples;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * The smallest useful HTTP worker: answers every request with {@code 200 OK} and
 * {@code Hello from prefork worker <pid>}, plus an {@code X-Prefork-Worker: <pid>} header, so a client can see which
 * worker process served it (and that connections are spread over several), and an
 * {@code X-Client-Address: <ip>:<port>} header with the client address the worker sees
 * ({@code Connection.remoteAddress()}): behind a balancer with the supervisor's {@code --proxy-protocol}, the client's
 * own address rather than the balancer's.
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
        byte[] client = clientHeader(connection.remoteAddress());
        while (http.readRequest()) {
            http.respond(body, client);
            // The response is flushed and the client speaks next: safe to park. What was read beyond this request
            // (a pipelined one) goes along, and the supervisor hands the connection out again at once for it.
            if (park && http.open() && http.unread().remaining() <= MAX_PARKED_UNREAD) {
                connection.park(http.unread());
                return;
            }
        }
    }

    /** {@code X-Client-Address: 192.0.2.7:5150} or {@code [2001:db8::7]:5150}, CRLF-terminated. */
    static byte[] clientHeader(InetSocketAddress client) {
        String host = client.getAddress().getHostAddress();
        String shown = client.getAddress() instanceof Inet6Address ? "[" + host + "]" : host;
        return ("X-Client-Address: " + shown + ":" + client.getPort() + "\r\n").getBytes(StandardCharsets.US_ASCII);
    }
}
