package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Native;
import io.prefork.testing.Poll;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
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
        List<String> args = new ArrayList<>(List.of("--admin", "127.0.0.1:0"));
        args.addAll(List.of(extra));
        try (SupervisorProcess s = SupervisorProcess.startExample(2, HELLO, args.toArray(new String[0]))) {
            int port = s.awaitReady(READY);
            Set<Long> before = s.awaitWorkers(2, READY);
            try (Load load = new Load(port, 4, 100_000)) {
                Poll.within(READY).until("load flowing", load::ok, ok -> ok > 50);
                s.signal(SIGHUP);
                // The reload is over when /status lists two new workers, both ready, and the old ones are reaped.
                Admin.Status reloaded = Poll.within(READY).until("both workers replaced by fresh ones",
                        s.admin()::status, st -> st.readyWorkers(2) && st.pids().stream().noneMatch(before::contains));
                assertEquals(0, reloaded.restarts(), "a reload replaces workers without a death: " + reloaded);
                assertEquals(reloaded.pids(), s.workerPids(), "/status lists the live child processes");
                int atReload = load.ok();
                Poll.within(READY).until("load served by the new workers", load::ok, ok -> ok > atReload + 50);
                load.stop();
                assertEquals(List.of(), load.failures(), "requests failed during the reload");
                Set<Long> served = load.pids();
                assertTrue(served.containsAll(before) && served.containsAll(s.workerPids()),
                        "old and new workers both served: " + served);
            }
            assertEquals(0, s.admin().metric("prefork_handoff_reordered_total"), "FIFO kept");
            assertEquals(0, s.admin().metric("prefork_connections_dropped_total"), "no connection closed unserved");
        }
    }

    /** TTIN adds a worker, TTOU removes the oldest. */
    @Test
    void ttinAddsAWorkerAndTtouRemovesTheOldest() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, HELLO, "--admin", "127.0.0.1:0")) {
            int port = s.awaitReady(READY);
            Set<Long> initial = s.awaitWorkers(2, READY);
            s.signal(SIGTTIN);
            Admin.Status up = Poll.within(READY).until("3 workers ready after TTIN", s.admin()::status,
                    st -> st.targetWorkers() == 3 && st.readyWorkers(3));
            Set<Long> three = s.awaitWorkers(3, READY);
            assertEquals(up.pids(), three, "/status lists the live child processes");
            // The log is the contract here: it names who asked for the change (README, Signals).
            s.awaitOutput("SIGTTIN: one more worker", READY);
            s.awaitOutput("3 worker(s) now", READY);
            long added = three.stream().filter(p -> !initial.contains(p)).findFirst().orElseThrow();
            Poll.within(READY).until("the added worker serving", () -> {
                try {
                    return Long.parseLong(HttpClient.get("127.0.0.1", port, "/", Duration.ofSeconds(10))
                            .header("x-prefork-worker")) == added;
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
            });
            s.signal(SIGTTOU);
            Admin.Status down = Poll.within(READY).until("2 workers ready after TTOU", s.admin()::status,
                    st -> st.targetWorkers() == 2 && st.readyWorkers(2));
            assertEquals(0, down.restarts(), "scaling is not a restart: " + down);
            Set<Long> two = s.awaitWorkers(2, READY);
            assertEquals(down.pids(), two, "/status lists the live child processes");
            assertTrue(two.contains(added), "the newest stays: " + two);
            assertEquals(1, initial.stream().filter(two::contains).count(), "exactly one of the oldest left");
        }
    }

    /** --max-requests recycles workers with no failed request; jitter spreads their retirements. */
    @Test
    void maxRequestsRecyclesWorkersWithoutFailures() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, HELLO, "--max-requests", "40",
                "--max-requests-jitter", "10", "--admin", "127.0.0.1:0")) {
            int port = s.awaitReady(READY);
            Set<Long> initial = s.awaitWorkers(2, READY);
            try (Load load = new Load(port, 4, 60)) {
                Poll.within(Duration.ofSeconds(90)).until("240 requests answered or failed",
                        () -> load.ok() + load.failures().size(), n -> n >= 240);
                load.stop();
                assertEquals(List.of(), load.failures(), "requests failed while workers were recycled");
                assertEquals(240, load.ok());
            }
            // Each initial worker served far more than 50 of the 240, so both were replaced; with no death
            // (restarts 0), no signal and no timeout, only --max-requests can have replaced them.
            Admin.Status recycled = Poll.within(READY).until("both initial workers " + initial + " recycled",
                    s.admin()::status, st -> st.readyWorkers(2) && st.pids().stream().noneMatch(initial::contains));
            assertEquals(0, recycled.restarts(), "recycling is not a restart: " + recycled);
            assertEquals(240, s.admin().metric("prefork_connections_accepted_total"));
        }
    }

    /**
     * --timeout: a connection held too long gets its worker killed after a thread dump (in the log, prefixed with
     * the worker's index and pid), and replaced, while other workers keep serving.
     */
    @Test
    void timeoutKillsAStuckWorkerAfterAThreadDumpAndOthersKeepServing() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, "io.prefork.examples.HangingWorker",
                "--timeout", "2", "--admin", "127.0.0.1:0")) {
            int port = s.awaitReady(READY);
            Set<Long> before = s.awaitWorkers(2, READY);
            // The log stays the oracle in this test: what it promises is the log itself, worker output prefixed
            // with its index and pid, and the stuck worker's thread dump in it (README, "Worker lifecycle").
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
            Admin.Status replaced = Poll.within(READY).until("the stuck worker replaced", s.admin()::status,
                    st -> st.readyWorkers(2) && !st.pids().equals(before) && st.restarts() == 1);
            assertEquals(1, before.stream().filter(replaced.pids()::contains).count(), "the other one kept: " + replaced);
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
                "--heartbeat-timeout", "3", "--worker-setting", "delayMs=50", "--admin", "127.0.0.1:0")) {
            int port = s.awaitReady(READY);
            List<Long> workers = List.copyOf(s.awaitWorkers(2, READY));
            long frozen = workers.get(0);
            SupervisorProcess.freeze(frozen, READY);
            try (Load load = new Load(port, 3, 30)) {
                Poll.within(Duration.ofSeconds(60)).until("90 requests answered or failed",
                        () -> load.ok() + load.failures().size(), n -> n >= 90);
                load.stop();
                assertEquals(List.of(), load.failures(), "no request failed: those sent to the frozen worker "
                        + "were never taken, so they went to the other worker");
                assertTrue(!load.pids().contains(frozen));
            } finally {
                Native.kill(frozen, Native.SIGCONT);
            }
            // A stopped process cannot exit by itself, and nothing else here stops a worker: a restart (an exit
            // the supervisor did not ask for with SIGTERM) is its kill for the missing heartbeats.
            Admin.Status replaced = Poll.within(READY).until("the frozen worker " + frozen + " replaced",
                    s.admin()::status, st -> st.readyWorkers(2) && !st.pids().contains(frozen));
            assertEquals(1, replaced.restarts(), "one worker killed and replaced: " + replaced);
            assertEquals(0, s.admin().metric("prefork_connections_dropped_total"), "no connection closed unserved");
            assertEquals(replaced.pids(), s.workerPids(), "/status lists the live child processes");
        }
    }
}
