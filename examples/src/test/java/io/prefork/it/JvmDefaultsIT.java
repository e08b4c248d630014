package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.testing.Poll;
import java.time.Duration;
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
}
