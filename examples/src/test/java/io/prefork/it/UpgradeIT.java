package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Native;
import io.prefork.testing.Poll;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * USR2 upgrades the supervisor itself, under load: a new supervisor from the same command line takes the listening
 * sockets, boots its workers, and only then does the old one stop accepting, drain and exit. No connection fails or
 * is reset across it; a new supervisor that fails to boot leaves the old one serving.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class UpgradeIT {
    static final Duration READY = Duration.ofSeconds(60);
    static final int SIGUSR2 = 12;
    static final int SIGTERM = 15;
    static final String FAIL_IF_FILE = "io.prefork.it.workers.FailIfFileWorker";

    @TempDir
    Path dir;

    private static long readPid(Path pidFile) {
        try {
            return Long.parseLong(Files.readString(pidFile).strip());
        } catch (Exception e) {
            return -1;
        }
    }

    private static long readyLines(SupervisorProcess s) {
        return s.stdoutLines().stream().filter(l -> l.startsWith("prefork: ready on ")).count();
    }

    @Test
    void upgradeUnderLoadFailsAndResetsNoConnection() throws Exception {
        Path pidFile = dir.resolve("prefork.pid");
        int adminPort;
        try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            adminPort = probe.getLocalPort(); // a fixed --admin port, which the new supervisor takes over
        }
        try (SupervisorProcess s = SupervisorProcess.startExample(2, OperationsIT.HELLO, "--pid", pidFile.toString(),
                "--admin", "127.0.0.1:" + adminPort)) {
            int port = s.awaitReady(READY);
            Set<Long> oldWorkers = s.awaitWorkers(2, READY);
            assertEquals(s.pid(), readPid(pidFile));
            // /health polled back to back on the fixed admin port, from before the upgrade until after the old
            // supervisor exits: every request must be answered (by the old supervisor or the new one).
            java.util.concurrent.atomic.AtomicBoolean polling = new java.util.concurrent.atomic.AtomicBoolean(true);
            java.util.concurrent.atomic.AtomicInteger healthOk = new java.util.concurrent.atomic.AtomicInteger();
            List<String> healthFailures = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
            Thread poller = new Thread(() -> {
                while (polling.get()) {
                    try {
                        int status = HttpClient.get("127.0.0.1", adminPort, "/health", Duration.ofSeconds(10)).status();
                        if (status == 200) {
                            healthOk.incrementAndGet();
                        } else {
                            healthFailures.add("status " + status);
                        }
                    } catch (java.io.IOException | RuntimeException e) {
                        healthFailures.add(e.toString());
                    }
                }
            }, "health-poller");
            poller.setDaemon(true);
            poller.start();
            try (Load load = new Load(port, 4, 1_000_000)) {
                Poll.within(READY).until("load flowing", load::ok, ok -> ok > 50);
                Poll.within(READY).until("/health answering", healthOk::get, n -> n > 10);
                s.signal(SIGUSR2);
                long newPid = Poll.within(READY).until("the new supervisor's pid in --pid", () -> readPid(pidFile),
                        pid -> pid > 0 && pid != s.pid());
                ProcessHandle next = ProcessHandle.of(newPid).orElseThrow();
                try {
                    // The old one drains and exits 0 once the new one is ready; the new one's ready line comes first.
                    assertEquals(0, s.awaitProcessExit(READY), s.output().toString());
                    assertEquals(2, readyLines(s), s.stdoutLines().toString());
                    assertTrue(next.isAlive(), "the new supervisor serves on");
                    assertEquals(newPid, readPid(pidFile), "the old one leaves the pid file to the new one");
                    Set<Long> newWorkers = next.children().map(ProcessHandle::pid).collect(Collectors.toSet());
                    assertEquals(2, newWorkers.size(), "the new supervisor's workers: " + newWorkers);
                    int atExit = load.ok();
                    Poll.within(READY).until("load served by the new supervisor", load::ok, ok -> ok > atExit + 50);
                    load.stop();
                    assertEquals(List.of(), load.failures(), "requests failed or were reset across the upgrade");
                    Set<Long> served = load.pids();
                    assertTrue(served.containsAll(oldWorkers) && served.containsAll(newWorkers),
                            "old and new workers both served: " + served + ", old " + oldWorkers + ", new "
                                    + newWorkers);
                    assertTrue(oldWorkers.stream().noneMatch(pid -> ProcessHandle.of(pid).isPresent()),
                            "the old workers are gone");
                    assertTrue(s.output().stream().anyMatch(l -> l.contains("upgrade: the new supervisor (pid "
                            + newPid + ") is ready; stopping accepting and draining")), s.output().toString());
                    assertTrue(s.output().stream().noneMatch(l -> l.contains("listening on 127.0.0.1:" + port
                            + " ignored")), "no warning about --listen for an upgrade");
                    // The admin socket itself passed to the new supervisor: the port answered throughout.
                    int atOldExit = healthOk.get();
                    Poll.within(READY).until("/health answered by the new supervisor alone", healthOk::get,
                            n -> n > atOldExit + 20);
                    polling.set(false);
                    poller.join(30_000);
                    assertEquals(0, healthFailures.size(), "/health requests failed across the upgrade ("
                            + healthOk.get() + " answered); the first: "
                            + healthFailures.subList(0, Math.min(5, healthFailures.size())));
                    assertEquals(200, HttpClient.get("127.0.0.1", adminPort, "/ready", READY).status(),
                            "/ready from the new supervisor");
                    assertTrue(s.output().stream().anyMatch(l -> l.contains("upgrade: serving the old supervisor's "
                            + "admin socket 127.0.0.1:" + adminPort)), s.output().toString());
                } finally {
                    polling.set(false);
                    Native.kill(newPid, SIGTERM);
                    next.onExit().get(60, TimeUnit.SECONDS);
                }
                assertFalse(Files.exists(pidFile), "the new supervisor removes the pid file as it exits");
            }
        }
    }

    @Test
    void aNewSupervisorThatFailsToBootLeavesTheOldOneServing() throws Exception {
        Path pidFile = dir.resolve("prefork.pid");
        Path marker = dir.resolve("fail");
        try (SupervisorProcess s = SupervisorProcess.startExample(2, FAIL_IF_FILE, "--pid", pidFile.toString(),
                "--worker-setting", "fail-if-exists=" + marker)) {
            int port = s.awaitReady(READY);
            Set<Long> workers = s.awaitWorkers(2, READY);
            try (Load load = new Load(port, 4, 1_000_000)) {
                Poll.within(READY).until("load flowing", load::ok, ok -> ok > 50);
                Files.createFile(marker); // from now on a new worker fails in start()
                s.signal(SIGUSR2);
                Poll.within(READY).until("the upgrade fails (" + s.output() + ")", () -> s.output().stream()
                        .anyMatch(l -> l.contains("upgrade failed, still serving: the new supervisor exited before "
                                + "it was ready (pid ") && l.contains("exit code 3")));
                assertTrue(s.output().stream().anyMatch(l -> l.contains("FailIfFileWorker: " + marker + " exists")),
                        "the new supervisor's log, with its reason, is in the old one's");
                assertEquals(s.pid(), readPid(pidFile), "the pid file names the supervisor still serving");
                int atFailure = load.ok();
                Poll.within(READY).until("still serving", load::ok, ok -> ok > atFailure + 50);
                load.stop();
                assertEquals(List.of(), load.failures(), "requests failed during the failed upgrade");
                assertEquals(workers, load.pids(), "only the old workers served");
                assertTrue(s.isAlive());
                assertEquals(1, readyLines(s), s.stdoutLines().toString());
            }
            Files.delete(marker);
            // It can be upgraded again once the cause is fixed.
            s.signal(SIGUSR2);
            long newPid = Poll.within(READY).until("a second upgrade", () -> readPid(pidFile),
                    pid -> pid > 0 && pid != s.pid());
            assertNotEquals(s.pid(), newPid);
            assertEquals(0, s.awaitProcessExit(READY), s.output().toString());
            Native.kill(newPid, SIGTERM);
            ProcessHandle.of(newPid).ifPresent(h -> h.onExit().join());
        }
    }

    /** The pids of {@code pid} and of all its descendants alive now. */
    private static Set<Long> tree(long pid) {
        return ProcessHandle.of(pid).map(h -> java.util.stream.Stream.concat(java.util.stream.Stream.of(h),
                h.descendants()).filter(ProcessHandle::isAlive).map(ProcessHandle::pid).collect(Collectors.toSet()))
                .orElse(Set.of());
    }

    @Test
    void termWhileTheNewSupervisorIsNotReadyAbortsTheUpgradeAndStopsBoth() throws Exception {
        Path pidFile = dir.resolve("prefork.pid");
        Path hold = dir.resolve("hold");
        try (SupervisorProcess s = SupervisorProcess.startExample(2, FAIL_IF_FILE, "--pid", pidFile.toString(),
                "--worker-setting", "hold-while-exists=" + hold)) {
            s.awaitReady(READY);
            Set<Long> oldWorkers = s.awaitWorkers(2, READY);
            Files.createFile(hold); // from now on a new worker waits in start(): the new supervisor is not ready
            s.signal(SIGUSR2);
            long newPid = Poll.within(READY).until("the new supervisor's pid in --pid", () -> readPid(pidFile),
                    pid -> pid > 0 && pid != s.pid());
            Set<Long> newTree = Poll.within(READY).until("the new supervisor's workers, booting", () -> tree(newPid),
                    t -> t.size() == 3);
            s.signal(SIGTERM);
            assertEquals(0, s.awaitExit(READY), s.output().toString());
            for (long pid : newTree) {
                assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false),
                        "the new supervisor and its workers are stopped: " + pid + " of " + newTree);
            }
            assertTrue(oldWorkers.stream().noneMatch(pid -> ProcessHandle.of(pid).isPresent()), "old workers gone");
            assertTrue(s.output().stream().anyMatch(l -> l.contains("stopping during an upgrade, before the new "
                    + "supervisor was ready: aborting the upgrade")), s.output().toString());
            assertTrue(s.output().stream().anyMatch(l -> l.contains("upgrade aborted: the new supervisor (pid " + newPid
                    + ") has stopped")), s.output().toString());
            assertTrue(s.output().stream().noneMatch(l -> l.contains("upgrade failed, still serving")),
                    s.output().toString());
            assertEquals(1, readyLines(s), "the new one never became ready: " + s.stdoutLines());
            assertFalse(Files.exists(pidFile), "no pid file left behind: " + (Files.exists(pidFile)
                    ? readPid(pidFile) : ""));
            assertTrue(s.taggedProcesses().isEmpty(), "no process left: " + s.taggedProcesses());
        } finally {
            Files.deleteIfExists(hold);
        }
    }

    @Test
    void termOnceTheNewSupervisorTookOverEndsOnlyTheOldOne() throws Exception {
        Path pidFile = dir.resolve("prefork.pid");
        try (SupervisorProcess s = SupervisorProcess.startExample(1, OperationsIT.HELLO, "--pid", pidFile.toString())) {
            int port = s.awaitReady(READY);
            s.signal(SIGUSR2);
            long newPid = Poll.within(READY).until("the new supervisor's pid in --pid", () -> readPid(pidFile),
                    pid -> pid > 0 && pid != s.pid());
            try {
                s.awaitOutput("upgrade: the new supervisor (pid " + newPid + ") is ready", READY);
                if (s.isAlive()) {
                    try {
                        s.signal(SIGTERM); // it may just have exited after draining: either way, it ends
                    } catch (io.prefork.internal.nativeio.NativeException gone) {
                        // ESRCH: already gone
                    }
                }
                assertEquals(0, s.awaitProcessExit(READY), s.output().toString());
                assertTrue(ProcessHandle.of(newPid).map(ProcessHandle::isAlive).orElse(false),
                        "the new supervisor serves on");
                HttpClient.Response r = HttpClient.get("127.0.0.1", port, "/", READY);
                assertEquals(200, r.status(), r.toString());
                assertTrue(s.output().stream().noneMatch(l -> l.contains("aborting the upgrade")),
                        s.output().toString());
            } finally {
                Native.kill(newPid, SIGTERM);
                ProcessHandle.of(newPid).ifPresent(h -> h.onExit().join());
            }
        }
    }
}
