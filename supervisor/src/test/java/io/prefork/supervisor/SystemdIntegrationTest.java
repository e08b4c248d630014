package io.prefork.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.supervisor.internal.systemd.NotifyReceiver;
import io.prefork.supervisor.internal.systemd.SystemdNotifier;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The supervisor as systemd, a balancer and an orchestrator see it, with two real worker JVMs: the sd_notify
 * messages in order, the watchdog stopping while the loop is stuck, /health and /ready through a stuck loop and a
 * graceful stop, and the pid file.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class SystemdIntegrationTest {
    static final Duration WAIT = Duration.ofSeconds(60);
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    @TempDir
    Path dir;

    @AfterEach
    void killLeftovers() {
        ProcessHandle.current().descendants().forEach(ProcessHandle::destroyForcibly);
    }

    /** The notifier, and a way to hold the loop thread inside a listener call (a stuck loop). */
    static final class Listeners implements SupervisorListener {
        final SystemdNotifier systemd;
        final AtomicReference<CountDownLatch> holdNextWorkerReady = new AtomicReference<>();
        final CountDownLatch held = new CountDownLatch(1);

        Listeners(SystemdNotifier systemd) {
            this.systemd = systemd;
        }

        @Override
        public void onReady(List<InetSocketAddress> addresses) {
            systemd.onReady(addresses);
        }

        @Override
        public void onWorkerReady(WorkerStatus worker) {
            CountDownLatch release = holdNextWorkerReady.getAndSet(null);
            if (release != null) {
                held.countDown();
                try {
                    release.await(60, TimeUnit.SECONDS); // the loop thread, stuck here until the test releases it
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        @Override
        public void onReloading() {
            systemd.onReloading();
        }

        @Override
        public void onReloaded() {
            systemd.onReloaded();
        }

        @Override
        public void onStopping(boolean graceful) {
            systemd.onStopping(graceful);
        }

        @Override
        public void onTerminated(Termination termination) {
            systemd.onTerminated(termination);
        }
    }

    @Test
    void notifiesSystemdAnswersProbesAndKeepsThePidFile() throws Exception {
        long pid = ProcessHandle.current().pid();
        Path pidFile = dir.resolve("prefork.pid");
        try (NotifyReceiver systemd = NotifyReceiver.atPath()) {
            SystemdNotifier notifier = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", systemd.notifySocket,
                    "WATCHDOG_USEC", "400000"), pid);
            Listeners listeners = new Listeners(notifier);
            Supervisor s = Supervisor.start(AdminEndpointTest.config().admin("127.0.0.1:0").jmx(false)
                    .pidFile(pidFile).build(), listeners);
            try {
                notifier.attach(s::status);
                assertEquals(pid + "\n", Files.readString(pidFile), "written once it listens, before ready");
                s.ready().get(WAIT.toSeconds(), TimeUnit.SECONDS);
                systemd.await(WAIT, "READY=1 with MAINPID", m -> m.startsWith("READY=1\nMAINPID=" + pid + "\n"));
                systemd.await(WAIT, "a STATUS", m -> m.equals("STATUS=running: 2/2 workers ready, 0 connections in "
                        + "flight, 0 queued"));
                awaitPings(systemd, 3);
                assertEquals(200, get(s, "/ready").statusCode());
                assertEquals(200, get(s, "/health").statusCode());

                // The loop thread stuck in a listener call: no watchdog ping, /health and /ready 503.
                CountDownLatch release = new CountDownLatch(1);
                listeners.holdNextWorkerReady.set(release);
                s.addWorker();
                assertTrue(listeners.held.await(WAIT.toSeconds(), TimeUnit.SECONDS), "the third worker became ready");
                int pings;
                try {
                    HttpResponse<String> health = get(s, "/health");
                    assertEquals(503, health.statusCode(), health.body());
                    assertEquals(503, get(s, "/ready").statusCode());
                    pings = pings(systemd);
                    long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1200);
                    while (System.nanoTime() - until < 0) {
                        Thread.sleep(100); // observing that no ping comes takes time by nature
                    }
                    assertTrue(pings(systemd) <= pings + 1, pings + " pings, then " + pings(systemd) + " while stuck");
                } finally {
                    release.countDown();
                }
                awaitPings(systemd, pings(systemd) + 2);
                assertEquals(200, get(s, "/health").statusCode());

                int reloading = systemd.messages().size(); // before the reload: the receiver reads continuously
                s.reload();
                systemd.await(WAIT, "RELOADING=1", m -> m.startsWith("RELOADING=1\nMONOTONIC_USEC="));
                long deadline = System.nanoTime() + WAIT.toNanos();
                while (!systemd.messages().subList(reloading, systemd.messages().size()).contains("READY=1")) {
                    assertTrue(System.nanoTime() < deadline, "no READY=1 after the reload: " + systemd.messages());
                    Thread.sleep(50); // the polling interval
                }
                List<String> after = systemd.messages().subList(reloading, systemd.messages().size());
                assertTrue(after.stream().filter(m -> m.startsWith("RELOADING=1")).count() == 1
                        && indexOf(after, "RELOADING=1") < after.indexOf("READY=1"), after.toString());

                // A connection in flight holds the graceful stop open: not ready, still healthy.
                try (Socket held = new Socket()) {
                    held.connect(s.listenAddress(), 10_000);
                    held.setSoTimeout(10_000);
                    awaitInFlight(s, 1);
                    s.stop();
                    systemd.await(WAIT, "STOPPING=1", m -> m.startsWith("STOPPING=1"));
                    HttpResponse<String> ready = get(s, "/ready");
                    assertEquals(503, ready.statusCode(), ready.body());
                    assertTrue(ready.body().startsWith("not ready: stopping gracefully"), ready.body());
                    assertEquals(200, get(s, "/health").statusCode());
                    held.getOutputStream().write("GET / HTTP/1.1\r\nHost: t\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    InputStream in = held.getInputStream();
                    ByteArrayOutputStream got = new ByteArrayOutputStream();
                    in.transferTo(got);
                    assertTrue(got.toString(StandardCharsets.US_ASCII).startsWith("HTTP/1.1 200"), got.toString());
                }
                assertEquals(ExitCodes.OK, s.terminated().get(WAIT.toSeconds(), TimeUnit.SECONDS).exitCode());
                assertFalse(Files.exists(pidFile), "removed on exit");
                List<String> all = systemd.messages();
                assertEquals(List.of("READY=1", "RELOADING=1", "READY=1", "STOPPING=1"), all.stream()
                        .map(m -> m.split("\n")[0]).filter(m -> !m.startsWith("STATUS=") && !m.startsWith("WATCHDOG"))
                        .toList(), all.toString());
                assertTrue(all.get(all.size() - 1).startsWith("STOPPING=1") || all.get(all.size() - 1)
                        .startsWith("WATCHDOG=1") || all.get(all.size() - 1).startsWith("STATUS="), all.toString());
            } finally {
                s.stopNow();
                s.terminated().get(WAIT.toSeconds(), TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aPidFileThatCannotBeWrittenStopsTheStartAndLeavesNothingOpen() throws Exception {
        Path gone = Files.createDirectory(dir.resolve("gone"));
        SupervisorConfig config = AdminEndpointTest.config().admin("127.0.0.1:0").jmx(false)
                .pidFile(gone.resolve("prefork.pid")).build(); // checked now, while the directory exists
        Files.delete(gone);
        StartupException e = org.junit.jupiter.api.Assertions.assertThrows(StartupException.class,
                () -> Supervisor.start(config));
        assertEquals(ExitCodes.USAGE, e.exitCode());
        assertTrue(e.getMessage().startsWith("--pid " + gone.resolve("prefork.pid") + ": cannot write the pid file"),
                e.getMessage());
        assertEquals(List.of(), ProcessHandle.current().children().filter(ProcessHandle::isAlive).toList(),
                "no worker was started");
        assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.isAlive()
                && (t.getName().equals("prefork-loop") || t.getName().startsWith("prefork-admin"))),
                "no loop or admin thread left");
    }

    private static int indexOf(List<String> messages, String prefix) {
        for (int i = 0; i < messages.size(); i++) {
            if (messages.get(i).startsWith(prefix)) {
                return i;
            }
        }
        return -1;
    }

    private static int pings(NotifyReceiver r) throws Exception {
        return (int) r.messages().stream().filter("WATCHDOG=1"::equals).count();
    }

    private static void awaitPings(NotifyReceiver r, int n) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (pings(r) < n) {
            assertTrue(System.nanoTime() < deadline, "fewer than " + n + " pings: " + r.messages());
            Thread.sleep(50); // the polling interval
        }
    }

    private static void awaitInFlight(Supervisor s, int n) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (s.status().get(5, TimeUnit.SECONDS).workers().stream().mapToInt(WorkerStatus::inFlight).sum() < n) {
            assertTrue(System.nanoTime() < deadline, "no connection in flight");
            Thread.sleep(20); // the polling interval
        }
    }

    private HttpResponse<String> get(Supervisor s, String path) throws Exception {
        URI uri = URI.create("http://127.0.0.1:" + s.adminAddress().getPort() + path);
        return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
