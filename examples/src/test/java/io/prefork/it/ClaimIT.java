package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Native;
import io.prefork.testing.Poll;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Claims in the shared region, seen from outside with real worker JVMs: a connection a worker claimed belongs to it,
 * and dies with it; it is never served twice.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ClaimIT {
    static final Duration READY = Duration.ofSeconds(45);
    private static final Pattern HOLDING = Pattern.compile("hold-unread: connection (\\d+) from (\\d+) in (\\d+)");

    /**
     * One worker claims a connection and blocks before reading a byte of it; it is killed there. The connection was
     * claimed (the claim precedes the handler), so the supervisor, reading the dead worker's region, closes its copy
     * instead of sending it to the replacement: the client sees its connection end, promptly, and the replacement
     * never sees it. A second connection, accepted while the only worker was busy and so still queued or sent
     * ahead and unclaimed, is served by the replacement.
     */
    @Test
    void aWorkerKilledAfterItClaimedAConnectionAndBeforeItReadTakesOnlyThatOneWithIt() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1, "io.prefork.it.workers.HoldUnreadWorker",
                "--admin", "127.0.0.1:0")) {
            int port = s.awaitReady(READY);
            long victim = s.awaitWorkers(1, READY).iterator().next();
            try (Socket claimed = connect(port); Socket waiting = connect(port)) {
                claimed.getOutputStream().write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                Matcher held = awaitHolding(s, claimed.getLocalPort());
                assertEquals(victim, Long.parseLong(held.group(3)), "held by the only worker");
                long claimedId = Long.parseLong(held.group(1));

                Native.kill(victim, Native.SIGKILL);

                // Both copies are gone: the worker's with the process, the supervisor's when it read the claim.
                assertTrue(endsWithin(claimed, Duration.ofSeconds(20)), "the claimed connection was closed");
                // The replacement gets the waiting one, and only that one.
                Matcher next = awaitHolding(s, waiting.getLocalPort());
                long replacement = Long.parseLong(next.group(3));
                assertTrue(replacement != victim, "served by the replacement");
                assertTrue(Long.parseLong(next.group(1)) != claimedId);
                for (String line : s.output()) {
                    Matcher m = HOLDING.matcher(line);
                    if (m.find() && Long.parseLong(m.group(1)) == claimedId) {
                        assertEquals(victim, Long.parseLong(m.group(3)), "the claimed connection was never "
                                + "handed to another worker: " + line);
                    }
                }
                long again = s.admin().metric("prefork_connections_redispatched_total");
                assertTrue(again <= 1, "at most the unclaimed connection (if it was sent ahead to the victim) was "
                        + "dispatched again, never the claimed one: " + again);
            }
        }
    }

    private static Socket connect(int port) throws IOException {
        Socket socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
        return socket;
    }

    private static Matcher awaitHolding(SupervisorProcess s, int clientPort) {
        return Poll.within(READY).untilPresent("a worker holding the connection from port " + clientPort, () -> {
            List<String> lines = s.output();
            for (String line : lines) {
                Matcher m = HOLDING.matcher(line);
                if (m.find() && Integer.parseInt(m.group(2)) == clientPort) {
                    return m;
                }
            }
            return null;
        });
    }

    /** True if the server side of {@code socket} ends (end of stream or reset) within {@code timeout}. */
    private static boolean endsWithin(Socket socket, Duration timeout) throws IOException {
        socket.setSoTimeout((int) timeout.toMillis());
        InputStream in = socket.getInputStream();
        try {
            return in.read() == -1;
        } catch (SocketException reset) {
            return true; // a reset ends it too: the kernel answers for a dead process's unread data
        }
    }
}
