package io.prefork.it;

import io.prefork.testing.Poll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Native;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The legacy {@code handle(Socket)} server under Prefork, through the channel's {@code socket()} adapter: its
 * protocol, its {@code setSoTimeout} idle timeout, and that a timed-out client frees the worker for the next one.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LegacySocketWorkerIT {
    static final Duration READY = Duration.ofSeconds(60);
    static final Duration IO = Duration.ofSeconds(15);
    static final String LEGACY = "io.prefork.examples.LegacySocketWorker";

    /** A line client over a plain socket, every read bounded. */
    static final class LineClient implements AutoCloseable {
        final Socket socket = new Socket();
        final BufferedReader in;
        final OutputStream out;

        LineClient(int port) throws IOException {
            socket.connect(new InetSocketAddress("127.0.0.1", port), (int) IO.toMillis());
            socket.setSoTimeout((int) IO.toMillis());
            in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            out = socket.getOutputStream();
        }

        String call(String line) throws IOException {
            out.write((line + "\r\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            return in.readLine();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    @Test
    void servesTheLegacyProtocolUnchanged() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, LEGACY)) {
            int port = s.awaitReady(READY);
            long worker;
            try (LineClient c = new LineClient(port)) {
                String greeting = c.in.readLine();
                assertTrue(greeting.startsWith("200 legacy ready pid "), greeting);
                worker = Long.parseLong(greeting.substring("200 legacy ready pid ".length()));
                assertTrue(s.awaitWorkers(2, READY).contains(worker), greeting);
                assertEquals("200 hello there", c.call("ECHO hello there"));
                assertEquals("200 LOUDER", c.call("upper louder"));
                assertEquals("200 " + worker, c.call("PID"));
                assertEquals("500 unknown command", c.call("HELO"));
                assertEquals("221 bye", c.call("QUIT"));
                assertNull(c.in.readLine(), "the legacy server closed the socket after QUIT");
            }
        }
    }

    @Test
    void setSoTimeoutDropsASilentClientAndFreesTheWorker() throws Exception {
        // One worker serving one connection at a time: the second client gets its greeting only after the first
        // was dropped by the legacy server's own setSoTimeout (1.5 s), through the Socket adapter of the channel.
        try (SupervisorProcess s = SupervisorProcess.startExample(1, LEGACY,
                "--worker-setting", "idleTimeoutMs=1500")) {
            int port = s.awaitReady(READY);
            long worker = s.awaitWorkers(1, READY).iterator().next();
            long fdsBefore = SupervisorProcess.fdCount(worker);
            try (LineClient silent = new LineClient(port); LineClient next = new LineClient(port)) {
                assertTrue(silent.in.readLine().startsWith("200 legacy ready"));
                long start = System.nanoTime();
                assertEquals("421 idle timeout", silent.in.readLine());
                long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertTrue(waitedMs >= 1000, "dropped after " + waitedMs + " ms, before its 1500 ms idle timeout");
                assertNull(silent.in.readLine(), "closed after the timeout message");

                String greeting = next.in.readLine();
                assertEquals("200 legacy ready pid " + worker, greeting, "the next client is served once freed");
                assertEquals("200 x", next.call("ECHO x"));
            }
            Poll.within(IO).until("worker descriptors back to " + fdsBefore, () -> SupervisorProcess.fdCount(worker),
                    n -> n <= fdsBefore);
            s.signal(Native.SIGTERM);
            assertEquals(0, s.awaitExit(READY), "exit code after a graceful stop");
            Poll.within(IO).until("no process of this supervisor left", s::taggedProcesses, Set::isEmpty);
        }
    }
}
