package io.prefork.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.testing.Poll;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The admin endpoint against clients that connect and never finish a request (slowloris), on a real, in-process
 * {@link Supervisor} with two real worker JVMs, over real loopback sockets.
 *
 * <p>The limits checked here are the JDK server's own, which {@code AdminServer} sets as JVM-wide
 * {@code sun.net.httpserver.*} system properties before the first {@code HttpServer} of the JVM is created. They are
 * read once per JVM: if anything in this test JVM created an {@code HttpServer} before the first admin endpoint did,
 * the JDK defaults (no request time limit) apply and these tests fail.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AdminSlowClientTest {
    /** AdminServer's promise: a request must be complete this long after its first byte, or after connecting. */
    static final Duration REQUEST_LIMIT = Duration.ofSeconds(10);
    /**
     * Lateness allowed past a limit: the JDK's timers check every second (AdminServer sets the idle timer's tick to
     * 1 s; the JDK default would be 10 s), plus scheduling on a loaded test machine.
     */
    static final Duration LATE = Duration.ofSeconds(4);
    /**
     * Earliness allowed before a limit: the server starts a connection's clock when it accepts it or reads its first
     * byte, after this test's own timestamp, so only clock granularity (the JDK uses the wall clock) is allowed for.
     */
    static final Duration EARLY = Duration.ofSeconds(1);
    /** What a handler itself may take: {@code AdminServer.STATUS_WAIT_MS} for the loop's snapshot, and more. */
    static final Duration HANDLER = Duration.ofSeconds(3);
    static final Duration IO = AdminEndpointTest.IO;
    static final int SILENT = 4;
    static final int PARTIAL = 2;

    /** Whatever a failed test left behind: no worker JVM outlives it. */
    @AfterEach
    void killLeftovers() {
        ProcessHandle.current().descendants().forEach(ProcessHandle::destroyForcibly);
    }

    @Test
    void stalledClientsAreCutOffAndStatusAndMetricsStillAnswer() throws Exception {
        Supervisor s = Supervisor.start(AdminEndpointTest.config().admin("127.0.0.1:0").jmx(false).build());
        ExecutorService client = Executors.newSingleThreadExecutor();
        List<Stalled> stalled = new ArrayList<>();
        try {
            InetSocketAddress admin = s.adminAddress();
            s.ready().get(AdminEndpointTest.READY.toSeconds(), TimeUnit.SECONDS);
            // Once each, so that classes are loaded and jars opened before descriptors are counted.
            assertEquals(200, get(admin, "/status", deadline(IO)).code);
            assertEquals(200, get(admin, "/metrics", deadline(IO)).code);
            int fdsBefore = openFds();

            // Connections that never send a byte: the JDK server keeps them off its threads, in its selector.
            for (int i = 0; i < SILENT; i++) {
                stalled.add(Stalled.open(admin, "silent #" + (i + 1), ""));
            }
            // Connections that stop inside the request line: each holds one of the endpoint's two request threads,
            // which reads the rest of the request line with a blocking read (JDK ServerImpl.Exchange.run).
            for (int i = 0; i < PARTIAL; i++) {
                stalled.add(Stalled.open(admin, "partial #" + (i + 1), "GET /sta"));
            }
            // Meanwhile, from another thread: an honest client keeps asking; it is answered once the stalled
            // requests are cut off, so within the request limit (plus the status wait of the handler itself).
            long askUntil = deadline(REQUEST_LIMIT.plus(LATE).plus(HANDLER));
            Future<?> answered = client.submit(() -> {
                assertEquals(200, getRetryingCutOff(admin, "/status", askUntil).code, "/status");
                assertEquals(200, getRetryingCutOff(admin, "/metrics", askUntil).code, "/metrics");
                return null;
            });

            // Watched from this thread while the other one asks, so that each close is timed when it happens.
            AssertionError notClosed = null;
            try {
                awaitClosedByServer(stalled, deadline(REQUEST_LIMIT.plus(LATE)));
            } catch (AssertionError e) {
                notClosed = e;
            }
            try {
                // The client enforces askUntil itself (connect and read timeouts); this only collects its verdict.
                answered.get(TimeUnit.NANOSECONDS.toMillis(askUntil - System.nanoTime()) + IO.toMillis(),
                        TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                // What an operator would see first: the endpoint not answering. Report the stalled ones with it.
                AssertionError a = new AssertionError("while " + PARTIAL + " clients stalled mid-request: "
                        + e.getCause(), e.getCause());
                if (notClosed != null) {
                    a.addSuppressed(notClosed);
                }
                throw a;
            }
            if (notClosed != null) {
                throw notClosed;
            }
            for (Stalled c : stalled) {
                assertTrue(c.openFor().compareTo(REQUEST_LIMIT.minus(EARLY)) >= 0,
                        c.name + " was closed after " + c.openFor().toMillis() + " ms, before the "
                                + REQUEST_LIMIT.toMillis() + " ms limit");
            }

            // Every descriptor of those connections is gone, on both ends (the server's are in this JVM too). The
            // server closes a connection's descriptor on its dispatcher thread's next select: poll.
            for (Stalled c : stalled) {
                c.channel.close();
            }
            Poll.within(IO).until("this JVM's descriptors back to " + fdsBefore, AdminSlowClientTest::openFds,
                    n -> n <= fdsBefore);
        } finally {
            client.shutdownNow();
            for (Stalled c : stalled) {
                c.channel.close();
            }
            s.close();
        }
    }

    /**
     * Connections beyond the endpoint's limit ({@code AdminServer.MAX_CONNECTIONS}) are closed as soon as they are
     * accepted, long before the request limit would close them: no client can fill the supervisor's descriptor table
     * through the admin port. Once they are gone, the endpoint answers again.
     */
    @Test
    void connectionsBeyondTheLimitAreClosedAtOnce() throws Exception {
        Supervisor s = Supervisor.start(AdminEndpointTest.config().admin("127.0.0.1:0").jmx(false).build());
        List<Stalled> open = new ArrayList<>();
        try {
            InetSocketAddress admin = s.adminAddress();
            s.ready().get(AdminEndpointTest.READY.toSeconds(), TimeUnit.SECONDS);
            int limit = (int) io.prefork.supervisor.internal.admin.AdminServer.MAX_CONNECTIONS;
            int extra = 8;
            for (int i = 0; i < limit + extra; i++) {
                open.add(Stalled.open(admin, "silent #" + (i + 1), ""));
            }
            // Well inside the request limit, which would close them all (and fail this test if it were the cause).
            int closed = Poll.within(REQUEST_LIMIT.minus(EARLY).minus(EARLY)).every(Duration.ofMillis(10))
                    .until(extra + " of " + (limit + extra) + " connections closed by the server before the request "
                            + "limit (those beyond its limit of " + limit + ")", () -> closedByServer(open),
                            n -> n >= extra);
            assertTrue(closed <= extra + 1, closed + " closed; the limit is " + limit + " open connections");
            for (Stalled c : open) {
                c.channel.close();
            }
            assertEquals(200, getRetryingCutOff(admin, "/status", deadline(REQUEST_LIMIT.plus(LATE))).code);
        } finally {
            for (Stalled c : open) {
                c.channel.close();
            }
            s.close();
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** How many of {@code connections} the server has closed (end of stream or reset), noting when for each. */
    static int closedByServer(List<Stalled> connections) {
        int closed = 0;
        ByteBuffer buf = ByteBuffer.allocate(64);
        for (Stalled c : connections) {
            if (c.closedAt != 0) {
                closed++;
                continue;
            }
            int n;
            try {
                buf.clear();
                n = c.channel.read(buf);
            } catch (IOException e) {
                n = -1;
            }
            if (n < 0) {
                c.closedAt = System.nanoTime();
                closed++;
            }
        }
        return closed;
    }

    /** A connection that stops after sending {@code sent} (perhaps nothing), opened now. */
    static final class Stalled {
        final String name;
        final SocketChannel channel;
        final long openedAt;
        long closedAt;

        private Stalled(String name, SocketChannel channel, long openedAt) {
            this.name = name;
            this.channel = channel;
            this.openedAt = openedAt;
        }

        static Stalled open(InetSocketAddress admin, String name, String sent) throws IOException {
            long openedAt = System.nanoTime();
            SocketChannel ch = SocketChannel.open(admin); // blocking connect
            try {
                ch.write(ByteBuffer.wrap(sent.getBytes(StandardCharsets.US_ASCII))); // blocking: all of it
                ch.configureBlocking(false);
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
            return new Stalled(name + (sent.isEmpty() ? "" : " ('" + sent + "')"), ch, openedAt);
        }

        Duration openFor() {
            return Duration.ofNanos(closedAt - openedAt);
        }
    }

    /**
     * Waits for the server to close every connection (end-of-stream or reset), noting when, by select rather than
     * by sleeping; fails at {@code deadline} naming those still open.
     */
    static void awaitClosedByServer(List<Stalled> connections, long deadline) throws IOException {
        try (Selector selector = Selector.open()) {
            for (Stalled c : connections) {
                c.channel.register(selector, SelectionKey.OP_READ, c);
            }
            ByteBuffer buf = ByteBuffer.allocate(4096);
            while (!selector.keys().isEmpty()) {
                long leftMs = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (leftMs <= 0) {
                    throw new AssertionError("still open, not closed by the admin endpoint: " + selector.keys()
                            .stream().map(k -> ((Stalled) k.attachment()).name).sorted()
                            .collect(Collectors.joining(", ")));
                }
                selector.select(leftMs);
                for (SelectionKey k : selector.selectedKeys()) {
                    Stalled c = (Stalled) k.attachment();
                    int n;
                    try {
                        buf.clear();
                        n = c.channel.read(buf);
                    } catch (IOException e) {
                        n = -1; // reset: closed by the server as well
                    }
                    if (n < 0) {
                        c.closedAt = System.nanoTime();
                        k.cancel();
                    } else if (n > 0) {
                        throw new AssertionError(c.name + ": the server sent "
                                + new String(buf.array(), 0, n, StandardCharsets.ISO_8859_1) + "; expected a close");
                    }
                }
                selector.selectedKeys().clear();
            }
        }
    }

    /** A response's status code, head and body. */
    static final class Response {
        final int code;
        final String head;
        final String body;

        private Response(int code, String head, String body) {
            this.code = code;
            this.head = head;
            this.body = body;
        }

        /**
         * Reads one response: its body by Content-Length if {@code keepAlive}, else to end-of-stream. Null if the
         * stream ends before any byte.
         */
        static Response read(InputStream in, boolean keepAlive) throws IOException {
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            int b;
            while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n") && (b = in.read()) >= 0) {
                head.write(b);
            }
            String h = head.toString(StandardCharsets.ISO_8859_1);
            if (h.isEmpty()) {
                return null;
            }
            if (!h.endsWith("\r\n\r\n") || !h.startsWith("HTTP/1.1 ")) {
                throw new AssertionError("not an HTTP/1.1 response head: " + h);
            }
            int code = Integer.parseInt(h.substring(9, 12));
            byte[] body;
            if (keepAlive) {
                String length = h.lines().map(l -> l.toLowerCase(Locale.ROOT))
                        .filter(l -> l.startsWith("content-length:")).findFirst()
                        .orElseThrow(() -> new AssertionError("no Content-Length in " + h))
                        .substring("content-length:".length()).trim();
                body = in.readNBytes(Integer.parseInt(length));
            } else {
                body = in.readAllBytes();
            }
            return new Response(code, h, new String(body, StandardCharsets.UTF_8));
        }
    }

    /** One GET on a new connection ({@code Connection: close}), answered before {@code deadline}, or fails. */
    static Response get(InetSocketAddress admin, String path, long deadline) throws IOException {
        Response r = tryGet(admin, path, deadline);
        if (r == null) {
            throw new AssertionError("GET " + path + ": the connection was closed without an answer");
        }
        return r;
    }

    /**
     * GET, retried while the server closes the connection without an answer: a request queued behind stalled ones
     * counts against the request limit from the moment its first byte is read, so the timer that cuts the stalled
     * requests off may cut it too (in the same one-second tick). A client retries then; this one does too.
     */
    static Response getRetryingCutOff(InetSocketAddress admin, String path, long deadline) throws IOException {
        while (true) {
            Response r = tryGet(admin, path, deadline);
            if (r != null) {
                return r;
            }
        }
    }

    /** One GET; null if the server closed (or reset) the connection before answering. */
    static Response tryGet(InetSocketAddress admin, String path, long deadline) throws IOException {
        int leftMs = (int) TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (leftMs <= 0) {
            throw new AssertionError("GET " + path + ": no answer in time");
        }
        try (Socket socket = new Socket()) {
            socket.connect(admin, leftMs);
            socket.setSoTimeout(leftMs);
            socket.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: " + TcpListener.format(admin)
                    + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            return Response.read(socket.getInputStream(), false);
        } catch (SocketTimeoutException e) {
            throw new AssertionError("GET " + path + ": no answer within " + leftMs + " ms", e);
        } catch (ConnectException e) {
            throw e; // nothing listening: not a cut-off
        } catch (SocketException e) {
            return null; // reset: cut off as well
        }
    }

    static long deadline(Duration from) {
        return System.nanoTime() + from.toNanos();
    }

    /** Entries of /proc/self/fd (the listing's own directory descriptor counts the same every time). */
    static int openFds() {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return (int) fds.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
