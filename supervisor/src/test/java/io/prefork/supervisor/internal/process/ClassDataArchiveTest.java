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
        ClassDataArchive first = ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, 17, List.of(a.toString()),
                List.of());
        Files.setLastModifiedTime(a, FileTime.fromMillis(Files.getLastModifiedTime(a).toMillis() + 1000));
        ClassDataArchive second = ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, 17, List.of(a.toString()),
                List.of());
        assertNotEquals(first.file(), second.file());
        assertEquals(second.file(), ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, 17, List.of(a.toString()),
                List.of()).file(), "the same jars, the same archive");
    }

    @Test
    void offForDirectoriesOnTheClasspathAndForUsersWhoManageSharingThemselves() throws IOException {
        Path a = jar("a.jar");
        assertNull(ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, 17, List.of(a.toString(), dir.toString()),
                List.of()));
        for (String o : List.of("-Xshare:off", "-XX:SharedArchiveFile=x.jsa", "-XX:AOTCache=x.aot")) {
            assertNull(ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, 17, List.of(a.toString()),
                    List.of(o)), o);
        }
    }

    @Test
    void oneWorkerTrainsAtATimeAndOnlyACompleteDumpIsKept() throws IOException {
        ClassDataArchive c = ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, 17,
                List.of(jar("a.jar").toString()), List.of());
        Path t1 = c.tempFor("t1");
        assertEquals(List.of("-XX:ArchiveClassesAtExit=" + t1, ClassDataArchive.QUIET), c.optionsForNext(t1));
        assertEquals(List.of(), c.optionsForNext(c.tempFor("t2")), "a second trainer at once");

        Files.write(t1, new byte[] {9});
        c.trainerExited(t1, 137); // killed: perhaps half-written
        assertFalse(Files.exists(c.file()));
        assertFalse(Files.exists(t1), "the partial dump is removed");

        Path t3 = c.tempFor("t3");
        assertEquals(List.of("-XX:ArchiveClassesAtExit=" + t3, ClassDataArchive.QUIET), c.optionsForNext(t3),
                "training again after a failure");
        Files.write(t3, new byte[] {9});
        c.trainerExited(t3, 0);
        assertTrue(Files.isRegularFile(c.file()));
        assertEquals(List.of("-XX:SharedArchiveFile=" + c.file(), ClassDataArchive.QUIET),
                c.optionsForNext(c.tempFor("t4")));
    }

    @Test
    void workersOnJdk25AndLaterGetAnAotCacheOthersADynamicArchive() throws IOException {
        assertEquals(ClassDataArchive.Kind.DYNAMIC, ClassDataArchive.Kind.forFeature(17));
        assertEquals(ClassDataArchive.Kind.DYNAMIC, ClassDataArchive.Kind.forFeature(24),
                "24 has AOT in two steps only");
        assertEquals(ClassDataArchive.Kind.DYNAMIC, ClassDataArchive.Kind.forFeature(-1), "unknown JDK");
        assertEquals(ClassDataArchive.Kind.AOT, ClassDataArchive.Kind.forFeature(25));
        assertEquals(ClassDataArchive.Kind.AOT, ClassDataArchive.Kind.forFeature(26));

        String a = jar("a.jar").toString();
        ClassDataArchive aot = ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, 25, List.of(a), List.of());
        ClassDataArchive jsa = ClassDataArchive.forWorkers(dir.resolve("cache"), JAVA, 21, List.of(a), List.of());
        assertTrue(aot.file().getFileName().toString().endsWith(".aot"), aot.file().toString());
        assertTrue(jsa.file().getFileName().toString().endsWith(".jsa"), jsa.file().toString());

        Path t1 = aot.tempFor("t1");
        List<String> training = aot.optionsForNext(t1);
        assertEquals(List.of("-XX:AOTCacheOutput=" + t1, ClassDataArchive.QUIET, ClassDataArchive.QUIET_AOT), training);
        assertTrue(ClassDataArchive.trains(training));
        assertTrue(ClassDataArchive.trains(jsa.optionsForNext(jsa.tempFor("t2"))));
        // The one-step training leaves its configuration beside the output if the assembling JVM never ran.
        Path config = t1.resolveSibling(t1.getFileName() + ".config");
        Files.write(config, new byte[] {7});
        Files.write(t1, new byte[] {9});
        aot.trainerExited(t1, 143);
        assertFalse(Files.exists(config), "the training configuration is removed");
        assertFalse(Files.exists(t1), "renamed into place");
        List<String> use = aot.optionsForNext(aot.tempFor("t3"));
        assertEquals(List.of("-XX:AOTCache=" + aot.file(), ClassDataArchive.QUIET, ClassDataArchive.QUIET_AOT), use);
        assertFalse(ClassDataArchive.trains(use));
    }

    @Test
    void theUsersVmOptionsArePartOfTheKeyTheirSystemPropertiesAndLoggingNot() throws IOException {
        String a = jar("a.jar").toString();
        Path cache = dir.resolve("cache");
        Path plain = ClassDataArchive.forWorkers(cache, JAVA, 25, List.of(a), List.of()).file();
        Path compact = ClassDataArchive.forWorkers(cache, JAVA, 25, List.of(a), List.of("-XX:+UseCompactObjectHeaders"))
                .file();
        assertNotEquals(plain, compact, "an AOT cache made without the option is refused by a JVM with it");
        assertEquals(compact, ClassDataArchive.forWorkers(cache, JAVA, 25, List.of(a),
                List.of("-XX:+UseCompactObjectHeaders")).file());
        assertNotEquals(plain, ClassDataArchive.forWorkers(cache, JAVA, 21, List.of(a), List.of()).file(),
                "another JDK");
        assertEquals(plain, ClassDataArchive.forWorkers(cache, JAVA, 25, List.of(a),
                List.of("-Dapp.tag=1", "-Xlog:class+load:file=x.log", "-verbose:gc")).file(),
                "system properties and logging do not make an archive unusable");
    }

    @Test
    void pruningKeepsTheNewestArchivesOfBothKinds() throws IOException {
        Path cache = Files.createDirectories(dir.resolve("cache"));
        String a = jar("a.jar").toString();
        for (int i = 0; i < ClassDataArchive.KEEP + 2; i++) {
            Path old = Files.write(cache.resolve("old" + i + (i % 2 == 0 ? ".aot" : ".jsa")), new byte[] {1});
            Files.setLastModifiedTime(old, FileTime.fromMillis(1_000_000L + i * 1000L));
        }
        Path other = Files.write(cache.resolve("notes.txt"), new byte[] {1});
        Files.setLastModifiedTime(other, FileTime.fromMillis(1000L));
        ClassDataArchive c = ClassDataArchive.forWorkers(cache, JAVA, 25, List.of(a), List.of());
        Path t = c.tempFor("t");
        c.optionsForNext(t);
        Files.write(t, new byte[] {9});
        c.trainerExited(t, 0);
        assertTrue(Files.isRegularFile(c.file()));
        try (java.util.stream.Stream<Path> s = Files.list(cache)) {
            List<String> left = s.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(ClassDataArchive.KEEP + 1, left.size(), left.toString()); // KEEP archives and notes.txt
            assertTrue(left.contains("notes.txt") && !left.contains("old0.aot") && !left.contains("old1.jsa")
                    && left.contains("old" + (ClassDataArchive.KEEP + 1) + ".jsa"), left.toString());
        }
    }
}
