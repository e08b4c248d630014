package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.management.HotSpotDiagnosticMXBean;
import io.prefork.testing.Poll;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The JVM defaults the supervisor gives workers, seen from outside. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class JvmDefaultsIT {
    static final Duration READY = Duration.ofSeconds(45);

    /**
     * A worker that allocates without bound exits on its OutOfMemoryError (the default -XX:+ExitOnOutOfMemoryError,
     * kept when the user sets the heap size), the log says it ran out of heap, and it is replaced: the supervisor
     * keeps running (code 3 was once the reserved boot-failure code, which would have stopped it).
     */
    @Test
    void aWorkerOutOfHeapIsReplacedWithTheReasonInTheLog() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1,
                "io.prefork.it.workers.HeapHogWorker", "--worker-jvm-option=-Xmx32m", "--admin", "127.0.0.1:0")) {
            int port = s.awaitReady(READY);
            Set<Long> before = s.awaitWorkers(1, READY);
            try {
                HttpClient.get("127.0.0.1", port, "/", Duration.ofSeconds(30));
            } catch (java.io.IOException expected) {
                // The worker died holding the connection: the client sees it closed.
            }
            s.awaitOutput("ran out of heap: java.lang.OutOfMemoryError (exit 3", READY);
            Admin.Status st = Poll.within(READY).until("a new worker ready", s.admin()::status,
                    x -> x.readyWorkers(1) && !x.pids().containsAll(before));
            assertEquals(1, st.restarts(), st.toString());
            assertTrue(s.isAlive(), "the supervisor keeps running");
            assertTrue(s.output().stream().anyMatch(l -> l.contains("Terminating due to java.lang.OutOfMemoryError")),
                    "the JVM's own line is in the log too");
        }
    }

    /**
     * What the worker JVMs are started with (their command line, from /proc), and what the supervisor does to its
     * own JVM once ready (its log line): the defaults bench/README.md's memory figures were measured with.
     */
    @Test
    void workersGetTheMemoryDefaultsAndTheSupervisorShrinksItsOwnHeapOnceReady() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1, "io.prefork.examples.HelloHttpWorker")) {
            s.awaitReady(READY);
            long pid = s.awaitWorkers(1, READY).iterator().next();
            List<String> cmd = List.of(Files.readString(Path.of("/proc/" + pid + "/cmdline")).split("\0"));
            assertTrue(cmd.containsAll(List.of("-XX:+UseSerialGC", "-Xms8m", "-Xmx256m",
                    "-XX:+ExitOnOutOfMemoryError")), cmd.toString());
            // The supervisor runs on this JVM's java, so it gives the trim flag exactly where this JVM has it.
            assertEquals(hasFlag("TrimNativeHeapInterval"), cmd.contains("-XX:TrimNativeHeapInterval=5000"),
                    cmd.toString());
            s.awaitOutput("own footprint: MinHeapFreeRatio 40 -> 10, MaxHeapFreeRatio 70 -> 30", READY);
            if (hasFlag("TrimNativeHeapInterval")) { // the same JDKs have jcmd's System.trim_native_heap
                s.awaitOutput("Trim native heap: RSS+Swap: ", READY);
            }
        }
    }

    private static boolean hasFlag(String name) {
        try {
            return ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class).getVMOption(name) != null;
        } catch (IllegalArgumentException absent) {
            return false;
        }
    }
}
