package io.prefork.supervisor.internal.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The workers' archive: its key, who trains it, and that a partial or failed dump is never used. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ClassDataArchiveTest {
    private static final Path JAVA = Path.of("/opt/jdk/bin/java");

    @TempDir
    Path dir;

    private Path jar(String name) throws IOException {
        return Files.write(dir.resolve(name), new byte[] {1, 2, 3});
    }

    @Test
    void theKeyChangesWhenAJarChanges() throws IOException {
        Path a = jar("a.jar");
        ClassDataArchive first = ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, List.of(a.toString()), List.of());
        Files.setLastModifiedTime(a, FileTime.fromMillis(Files.getLastModifiedTime(a).toMillis() + 1000));
        ClassDataArchive second = ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, List.of(a.toString()), List.of());
        assertNotEquals(first.file(), second.file());
        assertEquals(second.file(), ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, List.of(a.toString()),
                List.of()).file(), "the same jars, the same archive");
    }

    @Test
    void offForDirectoriesOnTheClasspathAndForUsersWhoManageSharingThemselves() throws IOException {
        Path a = jar("a.jar");
        assertNull(ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, List.of(a.toString(), dir.toString()),
                List.of()));
        for (String o : List.of("-Xshare:off", "-XX:SharedArchiveFile=x.jsa", "-XX:AOTCache=x.aot")) {
            assertNull(ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, List.of(a.toString()), List.of(o)), o);
        }
    }

    @Test
    void oneWorkerTrainsAtATimeAndOnlyACompleteDumpIsKept() throws IOException {
        ClassDataArchive c = ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, List.of(jar("a.jar").toString()),
                List.of());
        Path t1 = c.tempFor("t1");
        assertEquals(List.of("-XX:ArchiveClassesAtExit=" + t1, ClassDataArchive.QUIET), c.optionsForNext(t1));
        assertEquals(List.of(), c.optionsForNext(c.tempFor("t2")), "a second trainer at once");

        Files.write(t1, new byte[] {9});
        c.trainerExited(t1, 137); // killed: perhaps half-written
        assertFalse(Files.exists(c.file()));
        assertFalse(Files.exists(t1), "the partial dump is removed");

        Path t3 = c.tempFor("t3");
        assertEquals(List.of("-XX:ArchiveClassesAtExit=" + t3, ClassDataArchive.QUIET), c.optionsForNext(t3), "training again after a failure");
        Files.write(t3, new byte[] {9});
        c.trainerExited(t3, 0);
        assertTrue(Files.isRegularFile(c.file()));
        assertEquals(List.of("-XX:SharedArchiveFile=" + c.file(), ClassDataArchive.QUIET), c.optionsForNext(c.tempFor("t4")));
    }
}
