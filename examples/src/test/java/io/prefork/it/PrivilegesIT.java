package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prefork.testing.Poll;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code --user}: a supervisor started as root runs its workers as an unprivileged user (here {@code nobody}), which
 * still reaches the bootstrap endpoint and serves; the supervisor stays root, unless {@code --drop-privileges}, when
 * it becomes that user too once bound, and still serves, reloads, upgrades and cleans up. Needs root, so it is
 * skipped otherwise.
 */
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class PrivilegesIT {
    static final Duration READY = Duration.ofSeconds(45);
    static final int SIGTERM = 15;

    /** The real, effective, saved and filesystem uids of a process, from its /proc status ("Uid:" line). */
    private static String uids(long pid) throws IOException {
        return Files.readAllLines(Path.of("/proc", Long.toString(pid), "status")).stream()
                .filter(l -> l.startsWith("Uid:")).findFirst().orElseThrow().substring(4).trim();
    }

    private static String gids(long pid) throws IOException {
        return Files.readAllLines(Path.of("/proc", Long.toString(pid), "status")).stream()
                .filter(l -> l.startsWith("Gid:")).findFirst().orElseThrow().substring(4).trim();
    }

    @Test
    void workersRunAsTheUserGivenAndServe() throws Exception {
        assumeTrue("0".equals(uids(ProcessHandle.current().pid()).split("\\s+")[0]),
                "--user needs a supervisor started as root; this test runs as uid "
                        + uids(ProcessHandle.current().pid()));
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "setpriv (util-linux) is not installed");
        String nobodyUid = new String(new ProcessBuilder("id", "-u", "nobody").start().getInputStream()
                .readAllBytes()).strip();
        String nobodyGid = new String(new ProcessBuilder("id", "-g", "nobody").start().getInputStream()
                .readAllBytes()).strip();
        assumeTrue(nobodyUid.matches("[0-9]+"), "no user 'nobody' here");
        try (SupervisorProcess s = SupervisorProcess.startExample(2, OperationsIT.HELLO, "--user", "nobody")) {
            int port = s.awaitReady(READY);
            Set<Long> workers = s.awaitWorkers(2, READY);
            for (long w : workers) {
                assertEquals(String.join("\t", nobodyUid, nobodyUid, nobodyUid, nobodyUid), uids(w), "worker " + w);
                assertEquals(String.join("\t", nobodyGid, nobodyGid, nobodyGid, nobodyGid), gids(w), "worker " + w);
            }
            assertEquals("0", uids(s.pid()).split("\\s+")[0], "the supervisor stays root");
            HttpClient.Response r = HttpClient.get("127.0.0.1", port, "/", READY);
            assertEquals(200, r.status(), r.toString());
            assertTrue(workers.contains(Long.parseLong(r.header("x-prefork-worker"))), r.toString());
            s.signal(SIGTERM);
            assertEquals(0, s.awaitExit(READY), s.output().toString());
        }
    }

    /** The uid and gid lines of every thread of {@code pid}: glibc switches them all, not only the caller's. */
    private static Set<String> threadIds(long pid) throws IOException {
        Set<String> ids = new java.util.TreeSet<>();
        try (java.util.stream.Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks.toList()) {
                try {
                    for (String l : Files.readAllLines(t.resolve("status"))) {
                        if (l.startsWith("Uid:") || l.startsWith("Gid:") || l.startsWith("Groups:")) {
                            ids.add(l.replaceAll("\\s+", " ").trim());
                        }
                    }
                } catch (java.nio.file.NoSuchFileException gone) {
                    // A thread that ended while listed.
                }
            }
        }
        return ids;
    }

    private static String id(String... args) throws IOException {
        List<String> cmd = new java.util.ArrayList<>(List.of("id"));
        cmd.addAll(List.of(args));
        return new String(new ProcessBuilder(cmd).start().getInputStream().readAllBytes()).strip();
    }

    /** A loopback port below 1024 nothing listens on (this test runs as root). */
    private static int freePortBelow1024() {
        for (int p = 1023; p > 900; p--) {
            try (java.net.ServerSocket probe = new java.net.ServerSocket(p, 1, java.net.InetAddress.getLoopbackAddress())) {
                return probe.getLocalPort();
            } catch (IOException inUse) {
                // next
            }
        }
        throw new AssertionError("no free port in 901..1023");
    }

    private static long readPid(Path pidFile) {
        try {
            return Long.parseLong(Files.readString(pidFile).strip());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    @Test
    void dropPrivilegesMakesTheSupervisorTheUserAfterBindingAndItStillReloadsUpgradesAndCleansUp() throws Exception {
        assumeTrue("0".equals(uids(ProcessHandle.current().pid()).split("\\s+")[0]),
                "--drop-privileges needs a supervisor started as root; this test runs as uid "
                        + uids(ProcessHandle.current().pid()));
        String uid = id("-u", "nobody");
        String gid = id("-g", "nobody");
        assumeTrue(uid.matches("[0-9]+"), "no user 'nobody' here");
        // nobody's own directory for the pid file: it removes the file as nobody, and its upgrade writes a new one.
        Path dir = Files.createTempDirectory("prefork-drop-");
        Files.setAttribute(dir, "unix:uid", Integer.parseInt(uid));
        Path pidFile = dir.resolve("prefork.pid");
        long newPid = -1;
        // A fixed admin port below 1024: bound as root, then served by the switched supervisor and, after USR2, by
        // its successor, which could never bind it (the socket is handed over).
        int adminPort = freePortBelow1024();
        try (SupervisorProcess s = SupervisorProcess.startExample(2, OperationsIT.HELLO, "--user", "nobody",
                "--drop-privileges", "--pid", pidFile.toString(), "--admin", "127.0.0.1:" + adminPort)) {
            int port = s.awaitReady(READY);
            Set<Long> workers = s.awaitWorkers(2, READY);
            String nobody = "Uid: " + String.join(" ", uid, uid, uid, uid);
            String nogroup = "Gid: " + String.join(" ", gid, gid, gid, gid);
            Set<String> ids = threadIds(s.pid());
            assertTrue(ids.contains(nobody) && ids.contains(nogroup) && ids.size() == 3,
                    "every thread of the supervisor is nobody, with only nobody's groups: " + ids);
            for (long w : workers) {
                assertEquals(String.join("\t", uid, uid, uid, uid), uids(w), "worker " + w);
            }
            assertEquals(s.pid(), readPid(pidFile));
            assertEquals(200, HttpClient.get("127.0.0.1", port, "/", READY).status());
            assertEquals(200, HttpClient.get("127.0.0.1", adminPort, "/health", READY).status(),
                    "the admin endpoint, bound as root, answers");
            // HUP: the switched supervisor stops its workers and starts new ones, which reach the bootstrap
            // endpoint (its directory nobody's) and serve.
            s.signal(1);
            Set<Long> reloaded = Poll.within(READY).until("two new workers", s::workerPids,
                    pids -> pids.size() == 2 && pids.stream().noneMatch(workers::contains));
            Poll.within(READY).until("the new workers ready", () -> {
                try {
                    return s.admin().status().readyWorkers(2);
                } catch (IOException e) {
                    return false;
                }
            });
            HttpClient.Response r = HttpClient.get("127.0.0.1", port, "/", READY);
            assertEquals(200, r.status(), r.toString());
            assertTrue(reloaded.contains(Long.parseLong(r.header("x-prefork-worker"))), r + " " + reloaded);
            // USR2: the new supervisor starts as nobody, takes the listeners and has nothing left to drop.
            s.signal(12);
            newPid = Poll.within(READY).until("the new supervisor's pid in --pid", () -> readPid(pidFile),
                    pid -> pid > 0 && pid != s.pid());
            assertEquals(0, s.awaitProcessExit(READY), s.output().toString());
            assertEquals(String.join("\t", uid, uid, uid, uid), uids(newPid), "the new supervisor");
            assertEquals(200, HttpClient.get("127.0.0.1", port, "/", READY).status(), "served by the new one");
            assertEquals(200, HttpClient.get("127.0.0.1", adminPort, "/ready", READY).status(),
                    "the admin port below 1024, served by the new supervisor running as nobody");
            ProcessHandle next = ProcessHandle.of(newPid).orElseThrow();
            Set<Long> newWorkers = next.children().map(ProcessHandle::pid).collect(java.util.stream.Collectors.toSet());
            assertEquals(2, newWorkers.size(), "the new supervisor's workers: " + newWorkers);
            for (long w : newWorkers) {
                assertEquals(String.join("\t", uid, uid, uid, uid), uids(w), "new worker " + w);
            }
            io.prefork.internal.nativeio.Native.kill(newPid, SIGTERM);
            next.onExit().get(READY.toSeconds(), TimeUnit.SECONDS);
            newPid = -1;
            assertFalse(Files.exists(pidFile), "the pid file removed, as nobody, on exit");
            assertTrue(s.output().stream().anyMatch(l -> l.contains("--drop-privileges: the supervisor now runs as "
                    + "nobody (uid " + uid + ", gid " + gid + ")")), s.output().toString());
        } finally {
            if (newPid > 0) {
                io.prefork.internal.nativeio.Native.kill(newPid, 9);
                ProcessHandle.of(newPid).ifPresent(h -> h.onExit().join());
            }
            Files.deleteIfExists(pidFile);
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void dropPrivilegesRefusesWhatItCannotDo() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1, OperationsIT.HELLO, "--drop-privileges")) {
            assertEquals(2, s.awaitExit(READY), s.output().toString());
            assertTrue(s.output().contains("prefork: --drop-privileges (without --user): needs --user: the user (and "
                    + "--group) the supervisor switches to after binding, e.g. --user nobody --drop-privileges"),
                    s.output().toString());
            assertTrue(s.taggedProcesses().isEmpty(), "no worker was started");
        }
        assumeTrue("0".equals(uids(ProcessHandle.current().pid()).split("\\s+")[0]),
                "the rest needs root (a supervisor that could switch); this test runs as uid "
                        + uids(ProcessHandle.current().pid()));
        Path dir = Files.createTempDirectory("prefork-drop-"); // root's, 0700: nobody could not remove a file there
        try (SupervisorProcess s = SupervisorProcess.startExample(1, OperationsIT.HELLO, "--user", "nobody",
                "--drop-privileges", "--pid", dir.resolve("p.pid").toString())) {
            assertEquals(2, s.awaitExit(READY), s.output().toString());
            assertTrue(s.output().stream().anyMatch(l -> l.startsWith("prefork: --pid " + dir.resolve("p.pid")
                    + ": with --drop-privileges the supervisor removes it as --user nobody on exit, but its directory "
                    + dir + " is not writable by that user")), s.output().toString());
            assertTrue(s.taggedProcesses().isEmpty(), "no worker was started");
        } finally {
            Files.deleteIfExists(dir);
        }
        // Root without CAP_SETUID and CAP_SETGID (a container that dropped them): the switch itself fails, exit 6,
        // before any worker starts, and nothing is left behind.
        Path pidDir = Files.createTempDirectory("prefork-drop-");
        Files.setAttribute(pidDir, "unix:uid", Integer.parseInt(id("-u", "nobody")));
        Path pid = pidDir.resolve("p.pid");
        try (SupervisorProcess s = SupervisorProcess.startExampleUnder(List.of("/usr/bin/setpriv",
                "--bounding-set=-setuid,-setgid", "--inh-caps=-setuid,-setgid", "--"), 1, OperationsIT.HELLO,
                "--user", "nobody", "--drop-privileges", "--pid", pid.toString())) {
            assertEquals(6, s.awaitExit(READY), s.output().toString());
            assertTrue(s.output().stream().anyMatch(l -> l.startsWith("prefork: --drop-privileges: cannot switch the "
                    + "supervisor to --user nobody (uid ") && l.contains("failed: EPERM (Operation not permitted)")),
                    s.output().toString());
            assertTrue(s.taggedProcesses().isEmpty(), "no worker was started");
            assertFalse(Files.exists(pid), "the pid file written before the switch is removed");
        } finally {
            Files.deleteIfExists(pid);
            Files.deleteIfExists(pidDir);
        }
        try (SupervisorProcess s = SupervisorProcess.startExampleUnder(List.of("/usr/bin/setpriv", "--reuid=daemon",
                "--regid=daemon", "--clear-groups", "--"), 1, OperationsIT.HELLO, "--user", "nobody",
                "--drop-privileges")) {
            assertEquals(2, s.awaitExit(READY), s.output().toString());
            assertTrue(s.output().stream().anyMatch(l -> l.startsWith("prefork: --drop-privileges: switching this "
                    + "supervisor to --user nobody needs root, and it runs as uid ")), s.output().toString());
            assertTrue(s.taggedProcesses().isEmpty(), "no worker was started");
        }
    }

    @Test
    void aSupervisorThatIsNotRootRefusesAnotherUser() throws Exception {
        assumeTrue("0".equals(uids(ProcessHandle.current().pid()).split("\\s+")[0]),
                "this test starts the supervisor as nobody, which needs root to do");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "setpriv (util-linux) is not installed");
        try (SupervisorProcess s = SupervisorProcess.startExampleUnder(List.of("/usr/bin/setpriv", "--reuid=nobody",
                "--regid=nogroup", "--clear-groups", "--"), 1, OperationsIT.HELLO, "--user", "root")) {
            assertEquals(2, s.awaitExit(READY), s.output().toString());
            assertTrue(s.output().stream().anyMatch(l -> l.startsWith("prefork: --user root: running workers as "
                    + "another user needs root, and this supervisor runs as uid ")), s.output().toString());
            assertTrue(s.taggedProcesses().isEmpty(), "no worker was started");
        }
    }
}
