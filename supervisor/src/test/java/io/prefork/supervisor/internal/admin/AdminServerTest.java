package io.prefork.supervisor.internal.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.MetricRegistry;
import io.prefork.supervisor.SupervisorStatus;
import java.io.IOException;
import java.net.BindException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The server alone, with the loop faked by a status source: the paths that need no worker JVM. */
@Timeout(30)
class AdminServerTest {
    static final Duration IO = Duration.ofSeconds(10);
    final HttpClient http = HttpClient.newBuilder().connectTimeout(IO).build();
    static final InetSocketAddress ANY_LOOPBACK_PORT = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);

    HttpResponse<String> get(AdminServer s, String path) throws IOException, InterruptedException {
        URI uri = URI.create("http://127.0.0.1:" + s.address().getPort() + path);
        return http.send(HttpRequest.newBuilder(uri).timeout(IO).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void answers503WhenTheLoopDoesNotAnswerButMetricsStillWork() throws Exception {
        MetricRegistry registry = new MetricRegistry();
        registry.counter("prefork.worker.restarts").inc();
        // A loop that never answers: the future is never completed.
        try (AdminServer s = AdminServer.start(ANY_LOOPBACK_PORT, CompletableFuture<SupervisorStatus>::new, registry)) {
            long t0 = System.nanoTime();
            HttpResponse<String> r = get(s, "/status");
            long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertEquals(503, r.statusCode(), r.body());
            assertTrue(r.body().startsWith("status unavailable: the supervisor loop did not answer within 2000 ms"),
                    r.body());
            assertTrue(waitedMs >= AdminServer.STATUS_WAIT_MS - 50 && waitedMs < 8000, "waited " + waitedMs);
            assertEquals(503, get(s, "/").statusCode());
            HttpResponse<String> m = get(s, "/metrics");
            assertEquals(200, m.statusCode());
            assertTrue(m.body().contains("\nprefork_worker_restarts_total 1\n"), m.body());
        }
    }

    @Test
    void closeReleasesThePortAndTheThreadsAndIsIdempotent() throws Exception {
        AdminServer s = AdminServer.start(ANY_LOOPBACK_PORT, CompletableFuture<SupervisorStatus>::new,
                new MetricRegistry());
        InetSocketAddress a = s.address();
        assertEquals(200, get(s, "/metrics").statusCode());
        s.close();
        s.close();
        assertEquals(a, s.address());
        assertThrows(ConnectException.class, () -> {
            try (Socket socket = new Socket()) {
                socket.connect(a, (int) IO.toMillis());
            }
        });
        assertEquals(List.of(), Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
                .map(Thread::getName).filter(n -> n.startsWith("prefork-admin") || n.equals("HTTP-Dispatcher"))
                .collect(Collectors.toList()));
    }

    @Test
    void bindFailureLeavesNothingOpen() throws Exception {
        try (AdminServer first = AdminServer.start(ANY_LOOPBACK_PORT, CompletableFuture<SupervisorStatus>::new,
                new MetricRegistry())) {
            assertThrows(BindException.class, () -> AdminServer.start(first.address(),
                    CompletableFuture<SupervisorStatus>::new, new MetricRegistry()));
            assertEquals(200, get(first, "/metrics").statusCode());
        }
    }

    static SupervisorStatus snapshot(String state, String... workerStates) {
        List<io.prefork.supervisor.WorkerStatus> ws = new java.util.ArrayList<>();
        for (int i = 0; i < workerStates.length; i++) {
            ws.add(new io.prefork.supervisor.WorkerStatus(i + 1, i, 100 + i, workerStates[i], 0, 0, Duration.ZERO,
                    null));
        }
        return new SupervisorStatus(state, List.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), 8080)), 0,
                0, 0, workerStates.length, java.time.Instant.now(), ws);
    }

    @Test
    void healthIs200WhileTheLoopAnswersAnd503WithinASecondOrSoWhenItDoesNot() throws Exception {
        java.util.concurrent.atomic.AtomicBoolean stuck = new java.util.concurrent.atomic.AtomicBoolean();
        try (AdminServer s = AdminServer.start(ANY_LOOPBACK_PORT, () -> stuck.get() ? new CompletableFuture<>()
                : CompletableFuture.completedFuture(snapshot("draining", "draining")), new MetricRegistry())) {
            HttpResponse<String> ok = get(s, "/health");
            assertEquals(200, ok.statusCode(), ok.body());
            assertTrue(ok.body().matches("ok: the supervisor loop answered in \\d+ ms \\(draining\\)\n"), ok.body());
            stuck.set(true);
            long t0 = System.nanoTime();
            HttpResponse<String> bad = get(s, "/health");
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertEquals(503, bad.statusCode(), bad.body());
            assertEquals("unhealthy: the supervisor loop did not answer within 1000 ms (stuck, overloaded or stopped)\n",
                    bad.body());
            assertTrue(ms >= AdminServer.CHECK_WAIT_MS - 50 && ms < 5000, "waited " + ms + " ms");
            assertEquals(503, head(s, "/health").statusCode());
            assertEquals(503, get(s, "/ready").statusCode());
        }
    }

    @Test
    void readyIs200WithAReadyWorkerAnd503WhileStartingEmptyOrStopping() throws Exception {
        java.util.concurrent.atomic.AtomicReference<SupervisorStatus> now = new java.util.concurrent.atomic.AtomicReference<>(
                snapshot("starting", "starting", "starting"));
        try (AdminServer s = AdminServer.start(ANY_LOOPBACK_PORT, () -> CompletableFuture.completedFuture(now.get()),
                new MetricRegistry())) {
            HttpResponse<String> r = get(s, "/ready");
            assertEquals(503, r.statusCode(), r.body());
            assertEquals("not ready: no worker is ready yet (0/2, 2 starting or replacing)\n", r.body());
            now.set(snapshot("starting", "ready", "starting"));
            r = get(s, "/ready");
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("ready: 1/2 workers ready on 127.0.0.1:8080 (starting)\n", r.body());
            now.set(snapshot("running", "ready", "ready"));
            assertEquals(200, get(s, "/ready").statusCode());
            assertEquals(200, head(s, "/ready").statusCode());
            now.set(snapshot("draining", "ready", "ready"));
            r = get(s, "/ready");
            assertEquals(503, r.statusCode(), r.body());
            assertTrue(r.body().startsWith("not ready: stopping gracefully"), r.body());
            assertEquals(200, get(s, "/health").statusCode(), "draining is alive: do not kill it");
            now.set(snapshot("stopping", "stopping"));
            assertEquals("not ready: stopping\n", get(s, "/ready").body());
            HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + s.address().getPort() + "/ready")).timeout(IO).POST(HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(405, post.statusCode());
            assertEquals("GET, HEAD", post.headers().firstValue("Allow").orElse(""));
            HttpResponse<String> missing = get(s, "/healthz");
            assertEquals(404, missing.statusCode());
            assertTrue(missing.body().contains("/health or /ready"), missing.body());
        }
    }

    HttpResponse<Void> head(AdminServer s, String path) throws IOException, InterruptedException {
        URI uri = URI.create("http://127.0.0.1:" + s.address().getPort() + path);
        return http.send(HttpRequest.newBuilder(uri).timeout(IO).method("HEAD", HttpRequest.BodyPublishers.noBody())
                .build(), HttpResponse.BodyHandlers.discarding());
    }

    /**
     * An upgrade's hand-over of the admin socket, both servers in this JVM: the second serves a duplicate of the
     * first one's socket, on the same address, and once the first closes, the port still answers, from the second.
     */
    @Test
    void anAdoptedSocketIsServedAndOutlivesTheServerThatBoundIt() throws Exception {
        MetricRegistry registry = new MetricRegistry();
        registry.counter("prefork.worker.restarts").inc(7);
        AdminServer first = AdminServer.start(ANY_LOOPBACK_PORT, CompletableFuture<SupervisorStatus>::new, registry);
        AdminServer second;
        try {
            int dup = first.duplicateListener();
            assertTrue(dup >= 0);
            second = AdminServer.adopt(dup, CompletableFuture<SupervisorStatus>::new, registry);
        } catch (IOException | RuntimeException e) {
            first.close();
            throw e;
        }
        try (AdminServer s = second) {
            assertEquals(first.address(), s.address(), "the same socket, the same address");
            assertEquals(200, get(s, "/metrics").statusCode());
            first.stopAccepting(); // the upgrade's hand-over: from now on the second one alone accepts
            for (int i = 0; i < 20; i++) {
                assertEquals(200, get(s, "/metrics").statusCode(), "answered while the first stops accepting");
            }
            first.close();
            for (int i = 0; i < 20; i++) {
                HttpResponse<String> m = get(s, "/metrics");
                assertEquals(200, m.statusCode(), "answered once the first server closed its copy");
                assertTrue(m.body().contains("\nprefork_worker_restarts_total 7\n"), m.body());
            }
            assertEquals(-1, first.duplicateListener(), "a closed server hands nothing over");
        }
        assertThrows(ConnectException.class, () -> {
            try (Socket socket = new Socket()) {
                socket.connect(first.address(), (int) IO.toMillis());
            }
        }, "closed once its last server closed");
    }
}
