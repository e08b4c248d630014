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
 * <p>A slow request, for benchmarks of mixed load (head-of-line blocking): {@code GET /slow?ms=N}, with N a decimal
 * integer from 0 to {@value #MAX_SLOW_MS}, holds its handler for N milliseconds (a sleep, no CPU) before answering the
 * same hello. Any other query after {@code /slow} ({@code ms} missing, not a number, out of range, other parameters)
 * is refused with {@code 400 Bad Request} naming the value and the range, and the connection closes; a target that
 * merely starts with {@code /slow} but is not {@code /slow} or {@code /slow?...} is an ordinary request. Bounded so
 * that a stray or hostile request cannot park a handler for longer than ten seconds.
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
    /** The longest {@code /slow?ms=N} a request may ask for. */
    static final int MAX_SLOW_MS = 10_000;
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
    public void handle(Connection connection) throws IOException, InterruptedException {
        HttpExchange http = new HttpExchange(connection.channel(), keepAliveTimeoutMs, connection.unread());
        byte[] client = clientHeader(connection.remoteAddress());
        while (http.readRequest()) {
            // A prefix test in place first, so an ordinary request allocates nothing here.
            if (http.targetStartsWith("/slow")) {
                String target = http.target();
                if (target.equals("/slow") || target.startsWith("/slow?")) {
                    long ms = slowMillis(target);
                    if (ms < 0) {
                        http.refuse(400, "Bad Request", "GET " + target + ": expected /slow?ms=N with N an integer from"
                                + " 0 to " + MAX_SLOW_MS + " (milliseconds to wait before answering)");
                        return;
                    }
                    Thread.sleep(ms);
                }
            }
            http.respond(body, client);
            // The response is flushed and the client speaks next: safe to park. What was read beyond this request
            // (a pipelined one) goes along, and the supervisor hands the connection out again at once for it.
            if (park && http.open() && http.unread().remaining() <= MAX_PARKED_UNREAD) {
                connection.park(http.unread());
                return;
            }
        }
    }

    /**
     * The N of a {@code /slow?ms=N} target: 0 to {@link #MAX_SLOW_MS}, digits only (at most 5, so no overflow); -1 for
     * anything else, including a bare {@code /slow}.
     */
    static long slowMillis(String target) {
        String prefix = "/slow?ms=";
        if (!target.startsWith(prefix)) {
            return -1;
        }
        String digits = target.substring(prefix.length());
        if (digits.isEmpty() || digits.length() > 5) {
            return -1;
        }
        long ms = 0;
        for (int i = 0; i < digits.length(); i++) {
            char c = digits.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            ms = ms * 10 + (c - '0');
        }
        return ms <= MAX_SLOW_MS ? ms : -1;
    }

    /** {@code X-Client-Address: 192.0.2.7:5150} or {@code [2001:db8::7]:5150}, CRLF-terminated. */
    static byte[] clientHeader(InetSocketAddress client) {
        String host = client.getAddress().getHostAddress();
        String shown = client.getAddress() instanceof Inet6Address ? "[" + host + "]" : host;
        return ("X-Client-Address: " + shown + ":" + client.getPort() + "\r\n").getBytes(StandardCharsets.US_ASCII);
    }
}
