package io.prefork.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The facade hands out futures of their own: an embedding program that cancels or completes what {@link
 * Supervisor#ready()} returned changes nothing inside the supervisor, nor what the next caller gets. Real worker
 * JVMs (FixedHttpWorker) on loopback.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SupervisorFuturesTest {
    @AfterEach
    void killLeftovers() {
        ProcessHandle.current().descendants().forEach(ProcessHandle::destroyForcibly);
    }

    @Test
    void cancellingOrCompletingWhatReadyReturnedDoesNotReachTheSupervisor() throws Exception {
        Supervisor s = Supervisor.start(AdminEndpointTest.config().jmx(false).build());
        try {
            // Workers take a second or more to start: these calls come long before the supervisor is ready.
            CompletableFuture<List<InetSocketAddress>> mine = s.ready();
            assertTrue(mine.cancel(true), "not ready yet, so this copy could be cancelled");
            assertTrue(s.ready().complete(List.of()));

            List<InetSocketAddress> bound = s.ready().get(EmbeddingTest.READY.toSeconds(), TimeUnit.SECONDS);
            assertEquals(List.of(s.listenAddress()), bound);
            assertTrue(mine.isCancelled());
            assertFalse(s.terminated().isDone(), "still running");
            assertEquals("running", s.status().get(5, TimeUnit.SECONDS).state());
        } finally {
            s.close();
        }
        assertEquals(ExitCodes.OK, s.terminated().get(30, TimeUnit.SECONDS).exitCode());
        assertEquals(List.of(), ProcessHandle.current().children().filter(ProcessHandle::isAlive).toList());
    }
}
