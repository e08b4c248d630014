package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.testing.Poll;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code --prefetch}: connections sent ahead to busy workers. They must keep every guarantee of connections that
 * wait in the supervisor: served once, in order, re-dispatched if the worker dies before taking them, never left
 * behind a slow handler once another worker frees (it is revoked and served there). It is on by default.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class PrefetchIT {
    static final Duration READY = Duration.ofSeconds(45);
    private static final Pattern WORKER = Pattern.compile("(?i)x-prefork-worker: (\\d+)");

    /**
     * Head-of-line blocking, with the default flags (sending ahead is on by default, and nothing is given back after
     * a timeout): worker A is held by a 30 s request, worker B by a 1.5 s one. A third connection then finds no free
     * slot, so it is sent ahead; by the dispatch rotation, to A first. B frees after 1.5 s; the supervisor revokes
     * the connection at A (its claim slot) and sends its own copy to B, which serves it within moments of freeing.
     * The client reads to end of stream: A still holds its revoked copy unread (in its socket or its waiting list,
     * until its 30 s request ends), so the end comes only because B shut the socket down when done.
     */
    @Test
    void withTheDefaultFlagsAConnectionSentAheadToABusyWorkerIsServedByOneThatFreesFirst() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, "io.prefork.it.workers.SleepPathWorker",
                "--admin", "127.0.0.1:0")) {
            int port = s.awaitReady(READY);
            s.awaitWorkers(2, READY);
            servedByTheWorkerThatFreesFirst(s, port);
            assertTrue(s.output().stream().noneMatch(l -> l.contains("--prefetch-timeout")),
                    "no deprecation warning without --prefetch-timeout: " + s.output());
        }
    }

    /**
     * {@code --prefetch-timeout} is deprecated and ignored: a script that still sets it starts, is told once, and
     * gets the same revocation, even with a timeout far longer than the test.
     */
    @Test
    void theDeprecatedPrefetchTimeoutIsAcceptedWithAWarningAndIgnored() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, "io.prefork.it.workers.SleepPathWorker",
                "--prefetch", "1", "--prefetch-timeout", "60000", "--admin", "127.0.0.1:0")) {
            int port = s.awaitReady(READY);
            s.awaitWorkers(2, READY);
            s.awaitOutput("--prefetch-timeout is deprecated and ignored: connections sent ahead are revoked and "
                    + "served by the first worker that frees", READY);
            servedByTheWorkerThatFreesFirst(s, port);
        }
    }

    private static void servedByTheWorkerThatFreesFirst(SupervisorProcess s, int port) throws Exception {
        try (Socket slow = open(port, "/sleep/30000"); Socket medium = open(port, "/sleep/1500")) {
            long a = workerOf(slow);   // A's handler is running now: the headers came first
            long b = workerOf(medium); // the least busy worker: B
            assertNotEquals(a, b, "the second request went to the idle worker");
            long start = System.nanoTime();
            try (Socket quick = open(port, "/sleep/0")) {
                String response = readAll(quick);
                long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                Matcher m = WORKER.matcher(response);
                assertTrue(m.find(), response);
                assertEquals(b, Long.parseLong(m.group(1)), "served by B, not left behind A's 30 s request");
                assertTrue(response.endsWith("done " + b + "\n"), response);
                // B frees after 1.5 s; then it is a matter of one loop iteration. 10 s leaves room for a loaded
                // machine and is still far below A's 30 s request.
                assertTrue(tookMs < 10_000, "served and closed in " + tookMs + " ms");
            }
            assertTrue(s.admin().metric("prefork_prefetch_returned_total") >= 1,
                    "the connection sent ahead was revoked");
        }
        assertEquals(0, s.admin().metric("prefork_handoff_reordered_total"), "FIFO kept");
    }

    /**
     * SIGKILL to workers again and again under load, with up to two connections sent ahead to each busy worker:
     * those were not taken, so the supervisor still holds them and serves them elsewhere. A request may fail only if
     * the killed worker had taken it (one per kill at concurrency 1); descriptors return to their baseline.
     */
    @Test
    void prefetchedConnectionsOfAKilledWorkerAreServedByOthers() throws Exception {
        FaultsIT.killWorkersUnderLoad(8, "--worker-setting", "delayMs=20", "--prefetch", "2");
    }

    /**
     * Concurrency 2 with prefetch: handler threads take what waits in their worker as they finish, the receiving
     * thread takes what arrives while a slot is free. Every connection is served, by both workers, and every
     * report arrives in order.
     */
    @Test
    void withSeveralHandlerThreadsEveryConnectionIsServedInOrder() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, "io.prefork.examples.SlowBlockingWorker",
                "--worker-setting", "delayMs=5", "--concurrency", "2", "--prefetch", "2", "--admin", "127.0.0.1:0")) {
            int port = s.awaitReady(READY);
            try (Load load = new Load(port, 8, 100)) {
                Poll.within(READY).until("800 requests answered or failed", () -> load.ok() + load.failures().size(),
                        n -> n >= 800);
                assertEquals(List.of(), load.failures());
                assertEquals(800, load.ok());
                assertEquals(2, load.pids().size(), "both workers served: " + load.pids());
            }
            assertEquals(0, s.admin().metric("prefork_handoff_reordered_total"), "FIFO kept");
            assertEquals(800, s.admin().metric("prefork_connections_accepted_total"));
        }
    }

    /** HUP under load with prefetch: what was sent ahead to a draining worker is served; no request fails. */
    @Test
    void rollingReloadWithPrefetchFailsNoRequest() throws Exception {
        OperationsIT.rollingReloadUnderLoad("--prefetch", "2");
    }

    /** SIGTERM under load with prefetch: what was sent ahead is served too; no established connection is reset. */
    @Test
    void sigtermUnderLoadServesWhatWasSentAhead() throws Exception {
        FaultsIT.sigtermUnderLoad("--prefetch", "2");
    }

    private static Socket open(int port, String path) throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        s.setSoTimeout(15_000);
        s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        return s;
    }

    /** Reads the response head (blocking until the handler has started) and returns X-Prefork-Worker. */
    private static long workerOf(Socket s) throws IOException {
        InputStream in = s.getInputStream();
        StringBuilder head = new StringBuilder();
        int c;
        while (head.indexOf("\r\n\r\n") < 0 && (c = in.read()) >= 0) {
            head.append((char) c);
        }
        Matcher m = WORKER.matcher(head);
        assertTrue(m.find(), "no X-Prefork-Worker in " + head);
        return Long.parseLong(m.group(1));
    }

    private static String readAll(Socket s) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        s.getInputStream().transferTo(out);
        return out.toString(StandardCharsets.US_ASCII);
    }
}
