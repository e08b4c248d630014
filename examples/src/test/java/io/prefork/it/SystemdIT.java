package io.prefork.it;

import io.prefork.testing.Poll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
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

    /** The notification socket; read by a daemon thread, as systemd reads it (Linux queues only 10 datagrams). */
    static final class Receiver implements AutoCloseable {
        final UnixDatagramChannel channel;
        final List<String> messages = new ArrayList<>();
        volatile boolean closed;
        final Thread reader;

        Receiver(Path socket) throws IOException {
            channel = UnixDatagramChannel.open();
            channel.bind(new UnixSocketAddress(socket.toString()));
            channel.configureBlocking(false);
            reader = new Thread(this::read, "notify-receiver");
            reader.setDaemon(true);
            reader.start();
        }

        private void read() {
            ByteBuffer buf = ByteBuffer.allocate(4096);
            while (!closed) {
                try {
                    buf.clear();
                    if (channel.receive(buf) != null && buf.position() > 0) {
                        buf.flip();
                        synchronized (messages) {
                            messages.add(StandardCharsets.UTF_8.decode(buf).toString());
                        }
                        continue;
                    }
                } catch (IOException e) {
                    if (!String.valueOf(e.getMessage()).contains("temporarily unavailable")) {
                        return; // closed
                    }
                }
                try {
                    Thread.sleep(2); // the polling interval: a jnr datagram channel has no selector or timeout
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        List<String> messages() {
            synchronized (messages) {
                return List.copyOf(messages);
            }
        }

        /** The first lines of every message but STATUS and WATCHDOG ones: the lifecycle, in order. */
        List<String> lifecycle() {
            return messages().stream().map(m -> m.split("\n")[0])
                    .filter(m -> !m.startsWith("STATUS=") && !m.equals("WATCHDOG=1")).toList();
        }

        @Override
        public void close() throws IOException {
            closed = true;
            try {
                reader.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            channel.close();
        }
    }

    @Test
    void notifiesReadyReloadingStoppingPingsTheWatchdogAndKeepsThePidFile() throws Exception {
        Path pidFile = dir.resolve("prefork.pid");
        try (Receiver systemd = new Receiver(dir.resolve("notify.sock"));
             SupervisorProcess s = SupervisorProcess.startExampleWithEnvironment(Map.of(
                     "NOTIFY_SOCKET", dir.resolve("notify.sock").toString(), "WATCHDOG_USEC", "1000000"),
                     2, OperationsIT.HELLO, "--pid", pidFile.toString())) {
            s.awaitReady(READY);
            Poll.within(READY).until("READY=1 (got " + systemd.messages() + ")",
                    () -> systemd.lifecycle().contains("READY=1"));
            String ready = systemd.messages().stream().filter(m -> m.startsWith("READY=1")).findFirst().orElseThrow();
            assertTrue(ready.startsWith("READY=1\nMAINPID=" + s.pid() + "\n"), ready);
            assertEquals(s.pid() + "\n", Files.readString(pidFile));
            Poll.within(READY).until("two watchdog pings", () -> systemd.messages().stream()
                    .filter("WATCHDOG=1"::equals).count() >= 2);
            Poll.within(READY).until("a STATUS line", () -> systemd.messages().contains(
                    "STATUS=running: 2/2 workers ready, 0 connections in flight, 0 queued"));

            s.signal(SIGHUP);
            Poll.within(READY).until("READY=1 after the reload (got " + systemd.messages() + ")",
                    () -> systemd.lifecycle().equals(List.of("READY=1", "RELOADING=1", "READY=1")));
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
