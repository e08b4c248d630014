package io.prefork.supervisor.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import jnr.unixsocket.UnixServerSocketChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Directories that killed supervisors left in the temporary directory, and which of them a new one removes. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class PrivateDirectoriesTest {
    private static long deadPid;

    @TempDir
    Path tmp;

    @BeforeAll
    static void aPidNoOneHas() throws Exception {
        Process p = new ProcessBuilder("true").start();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        deadPid = p.pid();
    }

    /** A directory as a supervisor makes it, with a socket file no one listens on any more (as after SIGKILL). */
    private Path leftBehind(String name, String socket) throws IOException {
        Path dir = Files.createDirectory(tmp.resolve(name));
        Path sock = dir.resolve(socket);
        try (UnixServerSocketChannel ch = UnixServerSocketChannel.open()) {
            ch.socket().bind(new UnixSocketAddress(sock.toFile()));
        }
        assertTrue(Files.exists(sock), "binding leaves the socket file after close");
        return dir;
    }

    @Test
    void aDeadSupervisorsDirectoriesAreRemoved() throws IOException {
        Path boot = leftBehind("prefork-" + deadPid + "-123", "boot.sock");
        Path upgrade = leftBehind("prefork-upgrade-" + deadPid + "-456", "upgrade.sock");
        assertEquals(2, PrivateDirectories.removeStale(tmp));
        assertFalse(Files.exists(boot));
        assertFalse(Files.exists(upgrade));
    }

    @Test
    void aLiveSupervisorsDirectoryStays() throws IOException {
        Path mine = leftBehind("prefork-" + ProcessHandle.current().pid() + "-1", "boot.sock");
        assertEquals(0, PrivateDirectories.removeStale(tmp));
        assertTrue(Files.exists(mine.resolve("boot.sock")));
    }

    @Test
    void aSocketSomeoneListensOnStaysEvenIfItsPidLooksDead() throws IOException {
        // Another pid namespace sharing /tmp: the pid means nothing here, the listening socket does.
        Path dir = Files.createDirectory(tmp.resolve("prefork-" + deadPid + "-7"));
        try (UnixServerSocketChannel ch = UnixServerSocketChannel.open()) {
            ch.socket().bind(new UnixSocketAddress(dir.resolve("boot.sock").toFile()));
            assertEquals(0, PrivateDirectories.removeStale(tmp));
            assertTrue(Files.exists(dir.resolve("boot.sock")));
        }
    }

    @Test
    void aDirectoryHoldingAnythingElseStaysWhole() throws IOException {
        Path dir = leftBehind("prefork-" + deadPid + "-8", "boot.sock");
        Files.writeString(dir.resolve("notes.txt"), "not ours");
        Path other = Files.createDirectory(tmp.resolve("prefork-" + deadPid + "-9"));
        Files.writeString(other.resolve("boot.sock"), "a regular file, not a socket");
        assertEquals(0, PrivateDirectories.removeStale(tmp));
        assertTrue(Files.exists(dir.resolve("boot.sock")));
        assertTrue(Files.exists(other.resolve("boot.sock")));
    }

    @Test
    void namesWithoutAPidAreNotTouched() throws IOException {
        // The naming before pids were part of it, and anything else that happens to start with "prefork-".
        Path old = leftBehind("prefork-4611686018427387904x", "boot.sock");
        Path link = tmp.resolve("prefork-" + deadPid + "-10");
        Files.createSymbolicLink(link, old);
        assertEquals(0, PrivateDirectories.removeStale(tmp));
        assertTrue(Files.exists(old.resolve("boot.sock")));
        assertTrue(Files.isSymbolicLink(link));
    }

    @Test
    void createNamesTheDirectoryAfterThisProcess() throws IOException {
        Path dir = PrivateDirectories.create("prefork-");
        try {
            assertTrue(dir.getFileName().toString().startsWith("prefork-" + ProcessHandle.current().pid() + "-"),
                    dir.toString());
            assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(dir)));
        } finally {
            Files.delete(dir);
        }
    }
}
