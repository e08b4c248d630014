package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.supervisor.internal.systemd.NotifyReceiver;
import io.prefork.testing.Poll;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged supervisor as systemd runs it: {@code NOTIFY_SOCKET} (a datagram socket this test binds, as systemd
 * does), {@code WATCHDOG_USEC}, {@code --pid}; then HUP and TERM as {@code systemctl reload} and {@code stop} send
 * them. The messages and their order are what a {@code Type=notify-reload} unit with {@code WatchdogSec=} needs.
 */
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class SystemdIT {
    static final Duration READY = Duration.ofSeconds(45);
    static final int SIGHUP = 1;
    static final int SIGTERM = 15;

    @TempDir
    Path dir;

    @Test
    void notifiesReadyReloadingStoppingPingsTheWatchdogAndKeepsThePidFile() throws Exception {
        Path pidFile = dir.resolve("prefork.pid");
        try (NotifyReceiver systemd = NotifyReceiver.atPath();
             SupervisorProcess s = SupervisorProcess.startExampleWithEnvironment(Map.of(
                     "NOTIFY_SOCKET", systemd.notifySocket, "WATCHDOG_USEC", "1000000"),
                     2, OperationsIT.HELLO, "--pid", pidFile.toString())) {
            s.awaitReady(READY);
            Poll.within(READY).until("READY=1", systemd::lifecycle, l -> l.contains("READY=1"));
            String ready = systemd.messages().stream().filter(m -> m.startsWith("READY=1")).findFirst().orElseThrow();
            assertTrue(ready.startsWith("READY=1\nMAINPID=" + s.pid() + "\n"), ready);
            assertEquals(s.pid() + "\n", Files.readString(pidFile));
            Poll.within(READY).until("two watchdog pings", systemd::messages,
                    ms -> ms.stream().filter("WATCHDOG=1"::equals).count() >= 2);
            Poll.within(READY).until("a STATUS line", systemd::messages,
                    ms -> ms.contains("STATUS=running: 2/2 workers ready, 0 connections in flight, 0 queued"));

            s.signal(SIGHUP);
            Poll.within(READY).until("READY=1 after the reload", systemd::lifecycle,
                    List.of("READY=1", "RELOADING=1", "READY=1")::equals);
            assertTrue(s.output().stream().anyMatch(l -> l.contains("reload finished")), s.output().toString());

            s.signal(SIGTERM);
            assertEquals(0, s.awaitExit(READY));
            assertEquals(List.of("READY=1", "RELOADING=1", "READY=1", "STOPPING=1"), systemd.lifecycle(),
                    systemd.messages().toString());
            assertFalse(Files.exists(pidFile), "the pid file is removed on exit");
            assertTrue(s.output().stream().noneMatch(l -> l.contains("cannot notify")), s.output().toString());
        }
    }
}
