package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Native;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Operations with real worker JVMs: signals, recycling, timeouts, heartbeats, worker output. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class OperationsIT {
    static final Duration READY = Duration.ofSeconds(45);
    static final String HELLO = "io.prefork.examples.HelloHttpWorker";
    static final int SIGHUP = 1;
    static final int SIGTTIN = 21;
    static final int SIGTTOU = 22;

    /** HUP under load: every worker replaced by a fresh JVM, one at a time, and no request fails. */
    @Test
    void rollingReloadUnderLoadFailsNoRequest() throws Exception {
        rollingReloadUnderLoad();
    }

    /**
     * The reload test with extra supervisor arguments (shared with {@link PrefetchIT}: a draining worker takes and
     * serves what was sent ahead to it before it stops).
     */
    static void rollingReloadUnderLoad(String... extra) throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, HELLO, extra)) {
            int port = s.awaitReady(READY);
            Set<Long> before = s.awaitWorkers(2, READY);
            try (Load load = new Load(port, 4, 100_000)) {
                Poll.until(READY, "load flowing", () -> load.ok() > 50);
                s.signal(SIGHUP);
                s.awaitOutput("reload finished", READY);
                Poll.until(READY, "two fresh workers", () -> {
                    Set<Long> now = s.workerPids();
                    return now.size() == 2 && now.stream().noneMatch(before::contains);
                });
                int atReload = load.ok();
                Poll.until(READY, "load served by the new workers", () -> load.ok() > atReload + 50);
                load.stop();
                assertEquals(List.of(), load.failures(), "requests failed during the reload");
                Set<Long> served = load.pids();
                assertTrue(served.containsAll(before) && served.containsAll(s.workerPids()),
                        "old and new workers both served: " + served);
            }
        }
    }

    /** TTIN adds a worker, TTOU removes the oldest. */
    @Test
    void ttinAddsAWorkerAndTtouRemovesTheOldest() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, HELLO)) {
            int port = s.awaitReady(READY);
            Set<Long> initial = s.awaitWorkers(2, READY);
            s.signal(SIGTTIN);
            Set<Long> three = s.awaitWorkers(3, READY);
            s.awaitOutput("SIGTTIN: one more worker", READY);
            s.awaitOutput("3 worker(s) now", READY);
            long added = three.stream().filter(p -> !initial.contains(p)).findFirst().orElseThrow();
            Poll.until(READY, "the added worker serving", () -> {
                try {
                    return Long.parseLong(HttpClient.get("127.0.0.1", port, "/", Duration.ofSeconds(10))
                            .header("x-prefork-worker")) == added;
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
            });
            s.signal(SIGTTOU);
            Set<Long> two = s.awaitWorkers(2, READY);
            assertTrue(two.contains(added), "the newest stays: " + two);
            assertEquals(1, initial.stream().filter(two::contains).count(), "exactly one of the oldest left");
        }
    }

    /** --max-requests recycles workers with no failed request; jitter spreads their retirements. */
    @Test
    void maxRequestsRecyclesWorkersWithoutFailures() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, HELLO, "--max-requests", "40",
                "--max-requests-jitter", "10")) {
            int port = s.awaitReady(READY);
            Set<Long> initial = s.awaitWorkers(2, READY);
            try (Load load = new Load(port, 4, 60)) {
                Poll.until(Duration.ofSeconds(90), "240 requests", () -> load.ok() + load.failures().size() >= 240);
                load.stop();
                assertEquals(List.of(), load.failures(), "requests failed while workers were recycled");
                assertEquals(240, load.ok());
            }
            assertTrue(s.output().stream().anyMatch(l -> l.contains("reached --max-requests")), "recycling logged");
            Poll.until(READY, "recycled workers", () -> s.workerPids().stream().anyMatch(p -> !initial.contains(p)));
        }
    }

    /**
     * --timeout: a connection held too long gets its worker killed after a thread dump (in the log, prefixed with
     * the worker's index and pid), and replaced, while other workers keep serving.
     */
    @Test
    void timeoutKillsAStuckWorkerAfterAThreadDumpAndOthersKeepServing() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, "io.prefork.examples.HangingWorker",
                "--timeout", "2")) {
            int port = s.awaitReady(READY);
            Set<Long> before = s.awaitWorkers(2, READY);
            s.awaitOutput("] HangingWorker 0 started", READY);
            try (Socket hung = new Socket()) {
                hung.connect(new InetSocketAddress("127.0.0.1", port), 5000);
                hung.getOutputStream().write("GET /hang HTTP/1.1\r\nHost: t\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                // Meanwhile the other worker serves.
                for (int i = 0; i < 5; i++) {
                    assertEquals(200, HttpClient.get("127.0.0.1", port, "/", Duration.ofSeconds(10)).status());
                }
                s.awaitOutput("(--timeout 2 s); dumping its threads", READY);
                s.awaitOutput("Full thread dump", READY);
                s.awaitOutput("hangForever", READY);
                hung.setSoTimeout(10_000);
                assertEquals(-1, hung.getInputStream().read(), "the hung connection is closed when its worker dies");
            }
            Poll.until(READY, "a replacement", () -> {
                Set<Long> now = s.workerPids();
                return now.size() == 2 && !now.equals(before);
            });
            assertTrue(s.output().stream().anyMatch(l -> l.matches(".*\\[worker \\d pid \\d+\\] .*Full thread dump.*")),
                    "worker output is prefixed with its index and pid");
            assertEquals(200, HttpClient.get("127.0.0.1", port, "/", Duration.ofSeconds(10)).status());
        }
    }

    /**
     * A worker JVM that stops answering (SIGSTOP: no heartbeats, no reading) is declared dead after
     * --heartbeat-timeout, killed and replaced; connections waiting for it go to the others.
     */
    @Test
    void aWorkerThatStopsHeartbeatingIsReplacedAndItsQueuedConnectionsServedElsewhere() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, "io.prefork.examples.SlowBlockingWorker",
                "--heartbeat-timeout", "3", "--worker-setting", "delayMs=50")) {
            int port = s.awaitReady(READY);
            List<Long> workers = List.copyOf(s.awaitWorkers(2, READY));
            long frozen = workers.get(0);
            Native.kill(frozen, Native.SIGSTOP);
            try (Load load = new Load(port, 3, 30)) {
                Poll.until(Duration.ofSeconds(60), "90 requests", () -> load.ok() + load.failures().size() >= 90);
                load.stop();
                assertEquals(List.of(), load.failures(), "no request failed: those sent to the frozen worker "
                        + "were never taken, so they went to the other worker");
                assertTrue(!load.pids().contains(frozen));
            } finally {
                Native.kill(frozen, Native.SIGCONT);
            }
            s.awaitOutput("sent no heartbeat for", READY);
            Poll.until(READY, "a replacement", () -> {
                Set<Long> now = new HashSet<>(s.workerPids());
                return now.size() == 2 && !now.contains(frozen);
            });
        }
    }
}
