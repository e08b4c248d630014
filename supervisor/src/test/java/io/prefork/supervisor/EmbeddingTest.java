package io.prefork.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.testing.Poll;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The supervisor as a library: builder, start, the lifecycle listener, scaling and reload through the API, status,
 * stop. Real worker JVMs (FixedHttpWorker from this module's test classes) on loopback.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class EmbeddingTest {
    static final Duration READY = Duration.ofSeconds(60);

    @AfterEach
    void killLeftovers() {
        ProcessHandle.current().descendants().forEach(ProcessHandle::destroyForcibly);
    }

    @Test
    void listenerSeesTheLifecycleAndTheApiScalesReloadsAndStops() throws Exception {
        List<String> events = new CopyOnWriteArrayList<>();
        SupervisorListener listener = new SupervisorListener() {
            @Override
            public void onReady(List<InetSocketAddress> addresses) {
                events.add("ready " + addresses.get(0).getPort());
            }

            @Override
            public void onWorkerReady(WorkerStatus worker) {
                events.add("worker-ready " + worker.pid());
            }

            @Override
            public void onWorkerExit(WorkerStatus worker, int exitCode) {
                events.add("worker-exit " + worker.pid());
            }

            @Override
            public void onTerminated(Termination termination) {
                events.add("terminated " + termination.exitCode());
            }
        };
        Supervisor s = Supervisor.start(AdminEndpointTest.config().jmx(false).build(), listener);
        try {
            List<InetSocketAddress> bound = s.ready().get(READY.toSeconds(), TimeUnit.SECONDS);
            assertEquals(List.of(s.listenAddress()), bound);
            InetSocketAddress address = bound.get(0);
            assertEquals(2, events.stream().filter(e -> e.startsWith("worker-ready")).count(), events.toString());
            assertTrue(events.contains("ready " + address.getPort()), events.toString());
            assertTrue(AdminEndpointTest.request(address).startsWith("HTTP/1.1 200"));

            s.addWorker();
            Poll.within(READY).until("3 workers ready after addWorker", () -> s.status().get(5, TimeUnit.SECONDS),
                    st -> st.targetWorkers() == 3 && readyWorkers(st) == 3);
            s.removeWorker();
            Poll.within(READY).until("2 workers after removeWorker", () -> s.status().get(5, TimeUnit.SECONDS),
                    st -> st.targetWorkers() == 2 && st.workers().size() == 2 && readyWorkers(st) == 2);
            List<Long> before = s.status().get(5, TimeUnit.SECONDS).workers().stream().map(WorkerStatus::pid).toList();
            s.reload();
            Poll.within(READY).until("2 fresh workers ready after reload (none of " + before + ")",
                    () -> s.status().get(5, TimeUnit.SECONDS), st -> readyWorkers(st) == 2 && st.workers().size() == 2
                            && st.workers().stream().noneMatch(w -> before.contains(w.pid())));
            assertTrue(AdminEndpointTest.request(address).startsWith("HTTP/1.1 200"));
        } finally {
            s.close();
        }
        Termination t = s.terminated().get(30, TimeUnit.SECONDS);
        assertEquals(ExitCodes.OK, t.exitCode());
        assertEquals("terminated 0", events.get(events.size() - 1), events.toString());
        // 2 initial + 1 added + 2 reload replacements became ready; every one of them exited by the end.
        assertEquals(5, events.stream().filter(e -> e.startsWith("worker-ready")).count(), events.toString());
        assertEquals(5, events.stream().filter(e -> e.startsWith("worker-exit")).count(), events.toString());
        assertEquals(List.of(), ProcessHandle.current().children().filter(ProcessHandle::isAlive).toList());
    }

    private static long readyWorkers(SupervisorStatus st) {
        return st.workers().stream().filter(w -> w.state().equals("ready")).count();
    }

}
