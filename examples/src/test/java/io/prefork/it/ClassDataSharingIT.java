package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Native;
import io.prefork.testing.Poll;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The class-data archive the supervisor makes for its workers by itself, on the JDK the tests run on (CI: 17 and 25):
 * a dynamic AppCDS archive before JDK 25, an AOT cache from 25. The first worker trains it and writes it as it
 * exits; the workers of the next supervisor map it. The other ITs turn it off (a user -Xshare option).
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ClassDataSharingIT {
    static final Duration READY = Duration.ofSeconds(45);
    private static final boolean AOT = Runtime.version().feature() >= 25;
    private static final String SUFFIX = AOT ? ".aot" : ".jsa";

    @TempDir
    Path cache;

    @Test
    void theFirstWorkerTrainsTheArchiveAndTheNextSupervisorsWorkersMapIt() throws Exception {
        List<String> options = List.of("-Dprefork.cdsCache=" + cache.toAbsolutePath());
        Path archive;
        try (SupervisorProcess s = start(options, 1)) {
            int port = s.awaitReady(READY);
            long trainer = s.awaitWorkers(1, READY).iterator().next();
            String training = AOT ? "-XX:AOTCacheOutput=" : "-XX:ArchiveClassesAtExit=";
            assertTrue(commandLine(trainer).stream().anyMatch(o -> o.startsWith(training)),
                    "the first worker trains: " + commandLine(trainer));
            assertEquals(200, HttpClient.get("127.0.0.1", port, "/", Duration.ofSeconds(30)).status());
            // The archive is written as the trainer exits: here at a SIGTERM of its own, which the supervisor answers
            // with a replacement (no kill timer: an AOT cache's assembly takes a second or two, longer on a loaded
            // machine). The supervisor renames it into place once the trainer is gone.
            Native.kill(trainer, Native.SIGTERM);
            Poll.within(Duration.ofSeconds(90)).until("the archive written", () -> s.output().stream()
                    .anyMatch(l -> l.contains("archive for workers written")), written -> written);
            s.awaitWorkers(1, READY);
            List<Path> files = list(cache);
            assertEquals(1, files.size(), "one archive, no temporary file: " + files);
            archive = files.get(0);
            assertTrue(archive.getFileName().toString().endsWith(SUFFIX) && Files.size(archive) > 0, files.toString());
        }
        try (SupervisorProcess s = start(options, 2)) {
            int port = s.awaitReady(READY);
            String use = (AOT ? "-XX:AOTCache=" : "-XX:SharedArchiveFile=") + archive;
            for (long pid : s.awaitWorkers(2, READY)) {
                assertTrue(commandLine(pid).contains(use), pid + ": " + commandLine(pid));
                // Mapped, not only named: a JVM that cannot use an archive ignores it silently (-Xshare:auto).
                String maps = Files.readString(Path.of("/proc/" + pid + "/maps"));
                assertTrue(maps.contains(archive.toString()), "worker " + pid + " does not map " + archive);
            }
            assertEquals(200, HttpClient.get("127.0.0.1", port, "/", Duration.ofSeconds(30)).status());
            assertEquals(List.of(archive), list(cache), "no second training");
        }
    }

    /**
     * The examples jar alone on the workers' classpath: the supervisor makes no archive for a classpath with a
     * directory (the other ITs add the test classes' directory).
     */
    private static SupervisorProcess start(List<String> options, int workers) throws IOException {
        String jar = Path.of(System.getProperty("prefork.examples.jar", "target/prefork-examples.jar")).toAbsolutePath()
                .toString();
        return SupervisorProcess.startWithJvmOptions(options, "--listen", "127.0.0.1:0", "--workers",
                Integer.toString(workers), "--worker-classpath", jar,
                "--worker", "io.prefork.examples.HelloHttpWorker");
    }

    private static List<String> commandLine(long pid) throws IOException {
        return List.of(Files.readString(Path.of("/proc/" + pid + "/cmdline")).split("\0"));
    }

    /** The archives and their temporary files in the cache (which on JDK 17-21 also holds jffi's library). */
    private static List<Path> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().matches(".*\\.(jsa|aot)(\\..*)?")).sorted().toList();
        }
    }
}
