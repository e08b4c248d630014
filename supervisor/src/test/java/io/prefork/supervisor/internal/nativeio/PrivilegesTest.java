package io.prefork.supervisor.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The credential reads {@code --drop-privileges} relies on, against the kernel's own account in /proc. The switch
 * itself would drop this test JVM's root for good: PrivilegesIT runs it in a supervisor process.
 */
@Timeout(10)
class PrivilegesTest {
    /** Real, effective, saved (and filesystem, dropped here) ids from /proc/self/status's "Uid:" or "Gid:" line. */
    private static int[] fromProc(String key) throws Exception {
        String line = Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith(key))
                .findFirst().orElseThrow();
        return Arrays.stream(line.substring(key.length()).trim().split("\\s+")).limit(3)
                .mapToInt(Integer::parseInt).toArray();
    }

    @Test
    void readsTheRealEffectiveAndSavedIdsTheKernelShows() throws Exception {
        assertArrayEquals(fromProc("Uid:"), Privileges.uids());
        assertArrayEquals(fromProc("Gid:"), Privileges.gids());
    }

    @Test
    void runsAsOnlyWhenEveryIdMatches() throws Exception {
        int uid = Privileges.uids()[0];
        int gid = Privileges.gids()[0];
        assertTrue(Privileges.runsAs(uid, gid));
        assertFalse(Privileges.runsAs(uid + 1, gid), "another uid");
        assertFalse(Privileges.runsAs(uid, gid + 1), "another gid");
    }
}
