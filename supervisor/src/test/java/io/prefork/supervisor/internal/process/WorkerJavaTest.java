package io.prefork.supervisor.internal.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.supervisor.ConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** --worker-java: a java executable or a JDK home, checked before any worker starts. */
@Timeout(10)
class WorkerJavaTest {
    @TempDir
    Path dir;

    private final Path home = Path.of(System.getProperty("java.home"));

    @Test
    void aJdkHomeAndItsJavaResolveToTheSameExecutable() {
        Path java = home.resolve("bin/java");
        assertEquals(java.toAbsolutePath(), WorkerJava.resolve(home));
        assertEquals(java.toAbsolutePath(), WorkerJava.resolve(java));
        assertEquals(Runtime.version().feature(), WorkerJava.feature(java));
    }

    @Test
    void badPathsAreOneLineNamingThem() throws IOException {
        ConfigException e = assertThrows(ConfigException.class, () -> WorkerJava.resolve(dir.resolve("nope")));
        assertTrue(e.getMessage().startsWith("--worker-java " + dir.resolve("nope") + ": does not exist"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> WorkerJava.resolve(dir));
        assertTrue(e.getMessage().contains("is a directory without bin/java"), e.getMessage());
        Path notExecutable = Files.createFile(dir.resolve("java"),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        e = assertThrows(ConfigException.class, () -> WorkerJava.resolve(notExecutable));
        assertTrue(e.getMessage().contains("is not executable"), e.getMessage());
    }

    /** The release file every JDK image has says its version; too old for the runtime is refused. */
    @Test
    void aJdkOlderThan17IsRefused() throws IOException {
        Path old = dir.resolve("jdk-11");
        Files.createDirectories(old.resolve("bin"));
        Files.createFile(old.resolve("bin/java"),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Files.writeString(old.resolve("release"), "IMPLEMENTOR=\"x\"\nJAVA_VERSION=\"11.0.22\"\n");
        ConfigException e = assertThrows(ConfigException.class, () -> WorkerJava.resolve(old));
        assertTrue(e.getMessage().contains("is Java 11; the worker runtime needs Java 17 or newer"), e.getMessage());
        Files.writeString(old.resolve("release"), "JAVA_VERSION=\"1.8.0_402\"\n");
        assertEquals(8, WorkerJava.feature(old.resolve("bin/java")));
    }
}
