package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
 * still reaches the bootstrap endpoint and serves; the supervisor stays root. Needs root, so it is skipped otherwise.
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
