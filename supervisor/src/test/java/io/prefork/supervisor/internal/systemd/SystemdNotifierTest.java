package io.prefork.supervisor.internal.systemd;

import io.prefork.supervisor.internal.nativeio.NotifySocket;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.supervisor.SupervisorStatus;
import io.prefork.supervisor.Termination;
import io.prefork.supervisor.WorkerStatus;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The notifier against a datagram socket the test binds as {@code NOTIFY_SOCKET}, with the loop faked by a status
 * source the test controls (answering, or stuck).
 */
@Timeout(30)
class SystemdNotifierTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    static final long PID = 4242;

    static SupervisorStatus status(String state, int ready, int inFlight, int queued) {
        List<WorkerStatus> ws = new java.util.ArrayList<>();
        for (int i = 0; i < ready; i++) {
            ws.add(new WorkerStatus(i + 1, i, 1000 + i, "ready", i == 0 ? inFlight : 0, 0, Duration.ofSeconds(1),
                    Duration.ZERO));
        }
        return new SupervisorStatus(state, List.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), 8080)),
                queued, 0, 0, 2, Instant.now(), ws);
    }

    @Test
    void withoutNotifySocketItDoesNothing() {
        SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of("WATCHDOG_USEC", "1000000"), PID);
        assertFalse(n.enabled());
        n.onReady(List.of());
        n.attach(() -> {
            throw new AssertionError("a disabled notifier must not ask the loop anything");
        });
        n.close();
    }

    @Test
    void lifecycleMessagesArriveInOrderAtAPath() throws Exception {
        try (NotifyReceiver r = NotifyReceiver.atPath()) {
            lifecycle(r);
        }
    }

    @Test
    void lifecycleMessagesArriveInOrderAtAnAbstractAddress() throws Exception {
        try (NotifyReceiver r = NotifyReceiver.abstractAddress()) {
            lifecycle(r);
        }
    }

    private static void lifecycle(NotifyReceiver r) throws Exception {
        SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", r.notifySocket), PID);
        assertTrue(n.enabled());
        assertEquals(0, n.watchdogPeriodUs(), "no WATCHDOG_USEC, no watchdog");
        n.onReady(List.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), 8080)));
        long before = System.nanoTime() / 1000;
        n.onReloading();
        long after = System.nanoTime() / 1000;
        n.onReloaded();
        n.onStopping(true);
        n.onReloaded(); // a replacement that became ready while draining: no second READY
        n.onTerminated(new Termination(0, null));
        n.onReady(List.of()); // closed: sends nothing, throws nothing
        r.await(WAIT, "STOPPING=1", m -> m.startsWith("STOPPING=1"));
        List<String> got = r.messages();
        assertEquals(4, got.size(), got.toString());
        assertEquals("READY=1\nMAINPID=4242\nSTATUS=serving on 127.0.0.1:8080", got.get(0));
        String[] reloading = got.get(1).split("\n");
        assertEquals("RELOADING=1", reloading[0], got.get(1));
        assertTrue(reloading[1].startsWith("MONOTONIC_USEC="), got.get(1));
        long usec = Long.parseLong(reloading[1].substring("MONOTONIC_USEC=".length()));
        assertTrue(usec >= before && usec <= after, usec + " not in [" + before + ", " + after + "]");
        assertEquals("READY=1", got.get(2));
        assertEquals("STOPPING=1\nSTATUS=stopping gracefully", got.get(3));
    }

    /**
     * MONOTONIC_USEC must be CLOCK_MONOTONIC, which systemd reads; System.nanoTime() is that clock on HotSpot/Linux.
     * /proc/uptime is CLOCK_BOOTTIME, which equals CLOCK_MONOTONIC plus the time spent suspended: on a machine
     * that never suspended (a CI box) they agree to within the file's 10 ms resolution.
     */
    @Test
    void monotonicUsecIsTheKernelsMonotonicClock() throws Exception {
        double uptimeSeconds = Double.parseDouble(java.nio.file.Files.readString(java.nio.file.Path.of("/proc/uptime"))
                .split(" ")[0]);
        double nanoSeconds = System.nanoTime() / 1e9;
        assertTrue(nanoSeconds <= uptimeSeconds + 0.05, nanoSeconds + " s after " + uptimeSeconds + " s of uptime");
        // Less than uptime only by time suspended; a JVM clock with another origin would be far off either way.
        assertTrue(uptimeSeconds - nanoSeconds < 24 * 3600, nanoSeconds + " s vs " + uptimeSeconds + " s of uptime");
    }

    @Test
    void statusIsSentWhenItChangesAtMostOncePerSecond() throws Exception {
        try (NotifyReceiver r = NotifyReceiver.atPath()) {
            SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", r.notifySocket), PID);
            AtomicReference<SupervisorStatus> now = new AtomicReference<>(status("running", 2, 0, 0));
            try {
                n.attach(() -> CompletableFuture.completedFuture(now.get()));
                r.await(WAIT, "the first STATUS", m -> m.equals("STATUS=running: 2/2 workers ready, 0 connections "
                        + "in flight, 0 queued"));
                long t0 = System.nanoTime();
                now.set(status("running", 2, 3, 1));
                r.await(WAIT, "the changed STATUS", m -> m.equals("STATUS=running: 2/2 workers ready, 3 connections "
                        + "in flight, 1 queued"));
                assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5));
                long sentAt = System.nanoTime();
                // The same status for 2.5 more seconds: nothing more is sent.
                while (System.nanoTime() - sentAt < TimeUnit.MILLISECONDS.toNanos(2500)) {
                    Thread.sleep(100); // observing that nothing happens takes time by nature
                }
                assertEquals(2, r.messages().size(), r.messages().toString());
            } finally {
                n.close();
            }
        }
    }

    @Test
    void watchdogPingsWhileTheLoopAnswersAndStopsWhenItIsStuck() throws Exception {
        try (NotifyReceiver r = NotifyReceiver.atPath()) {
            SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", r.notifySocket,
                    "WATCHDOG_USEC", "200000", "WATCHDOG_PID", Long.toString(PID)), PID);
            assertEquals(100_000, n.watchdogPeriodUs());
            AtomicBoolean stuck = new AtomicBoolean();
            AtomicReference<Thread> answeredOn = new AtomicReference<>();
            // Questions asked while the fake loop is stuck; it answers them all when it comes back, as a real one does.
            List<CompletableFuture<SupervisorStatus>> unanswered = new java.util.concurrent.CopyOnWriteArrayList<>();
            // An answering loop completes on "its" thread; a stuck one not until it comes back.
            Supplier<CompletableFuture<SupervisorStatus>> status = () -> {
                CompletableFuture<SupervisorStatus> f = new CompletableFuture<>();
                if (stuck.get()) {
                    unanswered.add(f);
                } else {
                    answer(f, answeredOn);
                }
                return f;
            };
            try {
                n.attach(status);
                long t0 = System.nanoTime();
                awaitCount(r, "WATCHDOG=1", 5);
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                assertTrue(ms >= 300, "5 pings at 100 ms intervals took only " + ms + " ms");
                stuck.set(true);
                // At most one more ping (a question asked just before); then none for 1 s, 10 periods.
                int atStuck = count(r, "WATCHDOG=1");
                long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1000);
                while (System.nanoTime() - until < 0) {
                    Thread.sleep(50); // observing that nothing happens takes time by nature
                }
                int afterStuck = count(r, "WATCHDOG=1");
                assertTrue(afterStuck <= atStuck + 1, atStuck + " pings, then " + afterStuck + " while stuck");
                stuck.set(false);
                unanswered.forEach(f -> answer(f, answeredOn));
                awaitCount(r, "WATCHDOG=1", afterStuck + 3);
                assertEquals("fake-loop", answeredOn.get().getName());
            } finally {
                n.close();
            }
        }
    }

    @Test
    void watchdogIsOffForAnotherPidOrABadValue() {
        assertEquals(0, SystemdNotifier.watchdogPeriodUs(Map.of("WATCHDOG_USEC", "200000", "WATCHDOG_PID", "1"), PID));
        assertEquals(0, SystemdNotifier.watchdogPeriodUs(Map.of("WATCHDOG_USEC", "soon"), PID));
        assertEquals(0, SystemdNotifier.watchdogPeriodUs(Map.of(), PID));
        assertEquals(15_000_000, SystemdNotifier.watchdogPeriodUs(Map.of("WATCHDOG_USEC", "30000000"), PID));
    }

    @Test
    void anUpgradeAnnouncesTheNewMainPidAndThenFallsSilent() throws Exception {
        try (NotifyReceiver r = NotifyReceiver.atPath()) {
            SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", r.notifySocket), PID);
            n.onReady(List.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), 8080)));
            n.onHandOver(5151);
            // The service is not stopping, only this process: no STOPPING=1, and nothing more from this pid.
            n.onStopping(true);
            n.onReloaded();
            n.onTerminated(new Termination(0, null));
            r.await(WAIT, "MAINPID=5151", m -> m.startsWith("MAINPID="));
            List<String> got = r.messages();
            assertEquals(List.of("READY=1\nMAINPID=4242\nSTATUS=serving on 127.0.0.1:8080",
                    "MAINPID=5151\nSTATUS=upgraded: the new supervisor, pid 5151, serves; pid 4242 drains"), got);
        }
    }

    @Test
    void aSocketNobodyListensOnIsNotAnError() throws Exception {
        String missing;
        try (NotifyReceiver r = NotifyReceiver.atPath()) {
            missing = r.notifySocket;
        }
        SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", missing), PID);
        assertTrue(n.enabled());
        n.onReady(List.of());
        n.onStopping(false);
        n.close();
        assertFalse(SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", "vsock:2:1234"), PID).enabled());
        assertFalse(SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", "/" + "x".repeat(200)), PID).enabled());
    }

    @Test
    void attachingAfterTheSupervisorTerminatedDoesNothing() throws Exception {
        try (NotifyReceiver r = NotifyReceiver.atPath()) {
            SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", r.notifySocket,
                    "WATCHDOG_USEC", "200000"), PID);
            n.onTerminated(new Termination(3, "a worker failed to boot"));
            n.attach(() -> {
                throw new AssertionError("a closed notifier must not ask the loop anything");
            });
            assertEquals(List.of(), r.messages());
        }
    }

    @Test
    void statusLineReadsWell() {
        assertEquals("draining: 1/2 workers ready, 1 connection in flight, 0 queued",
                SystemdNotifier.statusLine(status("draining", 1, 1, 0)));
    }

    private static void answer(CompletableFuture<SupervisorStatus> f, AtomicReference<Thread> answeredOn) {
        new Thread(() -> {
            answeredOn.set(Thread.currentThread());
            f.complete(status("running", 2, 0, 0));
        }, "fake-loop").start();
    }

    private static int count(NotifyReceiver r, String message) throws Exception {
        return (int) r.messages().stream().filter(message::equals).count();
    }

    private static void awaitCount(NotifyReceiver r, String message, int n) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (count(r, message) < n) {
            assertTrue(System.nanoTime() < deadline, "fewer than " + n + " " + message + ": " + r.messages());
            Thread.sleep(20); // the polling interval
        }
    }
}
