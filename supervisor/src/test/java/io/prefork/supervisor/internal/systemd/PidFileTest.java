package io.prefork.supervisor.internal.systemd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.prefork.supervisor.ConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(30)
class PidFileTest {
    @TempDir
    Path dir;

    @Test
    void writesThePidWholeReadableByAllAndLeavesNoTemporaryFile() throws Exception {
        Path file = dir.resolve("prefork.pid");
        Files.writeString(file, "999999\n"); // a stale one from a crash: replaced
        PidFile p = PidFile.write(file, 1234);
        assertEquals("1234\n", Files.readString(file));
        assertEquals(List.of(file), list());
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
        assertTrue(perms.contains(PosixFilePermission.OTHERS_READ), PosixFilePermissions.toString(perms));
        p.remove();
        assertFalse(Files.exists(file));
        p.remove(); // idempotent
    }

    @Test
    void removeLeavesAFileThatAnotherSupervisorHasTaken() throws Exception {
        Path file = dir.resolve("prefork.pid");
        PidFile first = PidFile.write(file, 1234);
        PidFile.write(file, 5678);
        first.remove();
        assertEquals("5678\n", Files.readString(file));
    }

    @Test
    void checkNamesTheProblemAndWhatToDo() throws Exception {
        ConfigException missing = assertThrows(ConfigException.class,
                () -> PidFile.check(dir.resolve("nope").resolve("x.pid")));
        assertEquals("--pid", missing.setting());
        assertTrue(missing.getMessage().contains(dir.resolve("nope") + " does not exist; create it first"),
                missing.getMessage());
        ConfigException directory = assertThrows(ConfigException.class, () -> PidFile.check(dir));
        assertTrue(directory.getMessage().contains("is a directory"), directory.getMessage());
        Path file = Files.createFile(dir.resolve("plain"));
        ConfigException notDir = assertThrows(ConfigException.class, () -> PidFile.check(file.resolve("x.pid")));
        assertTrue(notDir.getMessage().contains("is not a directory"), notDir.getMessage());
        PidFile.check(dir.resolve("ok.pid"));
        PidFile.check(Path.of("relative.pid")); // the working directory (the module's, under surefire)
    }

    @Test
    void checkRefusesADirectoryItCannotWrite() throws Exception {
        assumeFalse("root".equals(System.getProperty("user.name")),
                "root may write into a read-only directory: the check cannot fail for root");
        Path ro = Files.createDirectory(dir.resolve("ro"), PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("r-xr-xr-x")));
        ConfigException e = assertThrows(ConfigException.class, () -> PidFile.check(ro.resolve("x.pid")));
        assertTrue(e.getMessage().contains("is not writable by this user"), e.getMessage());
        assertThrows(IOException.class, () -> PidFile.write(ro.resolve("x.pid"), 1));
    }

    private List<Path> list() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }

    @Test
    void tellsWhetherAnotherUserMayReplaceAndRemoveTheFileInItsDirectory() throws Exception {
        Path file = dir.resolve("prefork.pid");
        int owner = (Integer) Files.getAttribute(dir, "unix:uid");
        int group = (Integer) Files.getAttribute(dir, "unix:gid");
        int other = owner == 54321 ? 54322 : 54321; // no such user here: it counts as "others"
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        assertTrue(PidFile.directoryWritableBy(file, owner, group));
        assertFalse(PidFile.directoryWritableBy(file, other, other), "0700, another user");
        assertTrue(PidFile.directoryWritableBy(file, 0, 0), "root may always");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwx---"));
        assertTrue(PidFile.directoryWritableBy(file, other, group), "0770, a user of the directory's group");
        assertFalse(PidFile.directoryWritableBy(file, other, other));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        assertFalse(PidFile.directoryWritableBy(file, other, group), "0755: read and search only");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwx-w-"));
        assertFalse(PidFile.directoryWritableBy(file, other, other), "write without search is not enough");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertTrue(PidFile.directoryWritableBy(file, other, other));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    }
}
