package io.prefork.supervisor.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.nativeio.TestFds;
import io.prefork.testing.Poll;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Stopping a listener without resetting a connection the kernel completed: {@link TcpListener#refuseNewHandshakes},
 * {@link TcpListener#handshakesInProgress} and the drain the supervisor builds on them, against real loopback
 * clients.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TcpListenerDrainTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    @Test
    void countsOnlySynRecvRowsOfThePort() {
        List<String> tcp = List.of(
                "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
                "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1",
                "   1: 0100007F:1F90 0100007F:D431 03 00000000:00000000 01:00000064 00000000     0        0 0 1",
                "   2: 0100007F:1F90 0100007F:D432 03 00000000:00000000 01:00000064 00000000     0        0 0 1",
                "   3: 0100007F:1F90 0100007F:D433 01 00000000:00000000 00:00000000 00000000     0        0 2 1",
                "   4: 0100007F:1F91 0100007F:D434 03 00000000:00000000 01:00000064 00000000     0        0 0 1",
                "   5: 0100007F:D435 0100007F:1F90 03 00000000:00000000 01:00000064 00000000     0        0 0 1");
        assertEquals(2, TcpListener.countHandshakes(tcp, Set.of(0x1F90))); // rows 1 and 2: not the listener, nor row 5
        assertEquals(1, TcpListener.countHandshakes(tcp, Set.of(0x1F91)));
        List<String> tcp6 = List.of(
                "  sl  local_address                         remote_address                        st tx_queue",
                "   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:C350 03 00000000:0");
        assertEquals(1, TcpListener.countHandshakes(tcp6, Set.of(0x1F90)));
        assertEquals(0, TcpListener.countHandshakes(List.of("", "garbage", "0: x:zz y 03"), Set.of(0x1F90)));
        assertEquals(3, TcpListener.countHandshakes(tcp, Set.of(0x1F90, 0x1F91)));
    }

    /**
     * A connection completed before the filter is still accepted and carries data both ways; a connection attempt
     * after it gets no answer at all (its SYN is dropped), so nothing new can enter the accept queue.
     */
    @Test
    void afterRefusingNewHandshakesOnlyCompletedConnectionsRemain() throws IOException {
        try (TcpListener listener = TcpListener.open(new InetSocketAddress("127.0.0.1", 0), 16);
             Socket before = new Socket()) {
            before.connect(listener.boundAddress(), 5000);
            listener.refuseNewHandshakes();
            try (Socket after = new Socket()) {
                assertThrows(SocketTimeoutException.class, () -> after.connect(listener.boundAddress(), 300),
                        "a SYN after the filter is never answered");
            }
            assertEquals(0, handshakesOn(listener));
            int fd = TestSockets.accept(listener, WAIT);
            // The wrapper owns the descriptor from here: closing the channel closes it.
            try (java.nio.channels.SocketChannel accepted = io.prefork.internal.runtime.ChannelWrapper.create()
                    .wrap(fd, false, (InetSocketAddress) before.getLocalSocketAddress())) {
                assertEquals(-1, listener.accept(), "only the connection completed before the filter");
                OutputStream out = before.getOutputStream();
                out.write("ping".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                out.flush();
                byte[] got = accepted.socket().getInputStream().readNBytes(4);
                assertEquals("ping", new String(got, java.nio.charset.StandardCharsets.US_ASCII));
                accepted.socket().getOutputStream().write('!');
                assertEquals('!', before.getInputStream().read());
            } catch (io.prefork.internal.runtime.ChannelWrapper.UnavailableException e) {
                Native.closeQuietly(fd);
                throw new AssertionError(e);
            }
        }
    }

    /**
     * A handshake left half-open (the client never answers the SYN-ACK) is counted while it lasts, for the port it
     * is on only, and no longer once the server has given up on it.
     */
    @Test
    void countsHandshakesUnderWay() throws IOException {
        try (TcpListener listener = TcpListener.open(new InetSocketAddress("127.0.0.1", 0), 16);
             TcpListener other = TcpListener.open(new InetSocketAddress("127.0.0.1", 0), 16)) {
            assertEquals(0, handshakesOn(listener));
            int client = TestSockets.halfOpen(listener.boundAddress());
            try {
                assertEquals(1, handshakesOn(listener));
                assertEquals(0, handshakesOn(other));
                assertEquals(1, TcpListener.handshakesInProgress(Set.of(listener.boundAddress().getPort(),
                        other.boundAddress().getPort())));
                assertEquals(-1, listener.accept(), "a half-open handshake is not in the accept queue");
                // Both ways of asking agree: sock_diag, and the /proc tables it falls back to.
                Set<Integer> port = Set.of(listener.boundAddress().getPort());
                assertEquals(1, SocketDiag.handshakesInProgress(port));
                assertEquals(1, TcpListener.handshakesInProc(port));
            } finally {
                Native.close(client);
            }
            // Closing a socket in SYN_SENT sends nothing; the server's request socket goes when its SYN-ACK
            // retransmission (after 1 s) meets the closed port's RST.
            Poll.within(WAIT).every(Duration.ofMillis(5)).until("no handshake in progress once its client closed",
                    () -> handshakesOn(listener), n -> n == 0);
        }
    }

    /**
     * Clients connect as fast as they can while the listener is refused new handshakes, emptied and closed, as the
     * supervisor does on SIGTERM: every client either got its connection (read to a clean end of stream) or was
     * refused; none was reset. Without the filter, a handshake completing between the last empty accept and the
     * close is reset (seen here: "Connection reset" within a few rounds).
     */
    @Test
    void drainingUnderAConnectStormResetsNoConnection() throws Exception {
        for (int round = 0; round < 3; round++) {
            List<String> resets = drainUnderStorm(4);
            assertEquals(List.of(), resets, "round " + round + ": only refusals may fail");
        }
    }

    /** One round: {@code clients} threads connecting in a loop; returns every failure that is not a refusal. */
    static List<String> drainUnderStorm(int clients) throws Exception {
        TcpListener listener = TcpListener.open(new InetSocketAddress("127.0.0.1", 0), 128);
        InetSocketAddress address = listener.boundAddress();
        List<String> bad = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger served = new AtomicInteger();
        AtomicInteger refused = new AtomicInteger();
        AtomicBoolean accepting = new AtomicBoolean(true);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < clients; t++) {
            Thread th = new Thread(() -> {
                while (true) {
                    try (Socket s = new Socket()) {
                        s.connect(address, 10_000);
                        s.setSoTimeout(10_000);
                        InputStream in = s.getInputStream();
                        if (in.read() != -1) {
                            bad.add("data where end of stream was expected");
                        }
                        served.incrementAndGet();
                    } catch (ConnectException e) {
                        refused.incrementAndGet();
                        return; // the listener is gone
                    } catch (IOException e) {
                        bad.add(e.toString());
                    }
                }
            }, "storm-" + t);
            th.setDaemon(true);
            threads.add(th);
        }
        // The server: accept and close at once (a clean end of stream for the client) until told to stop.
        Thread server = new Thread(() -> {
            try {
                while (accepting.get()) {
                    int fd = listener.accept();
                    if (fd >= 0) {
                        Native.close(fd);
                    } else {
                        Thread.onSpinWait();
                    }
                }
            } catch (NativeException e) {
                bad.add("server: " + e);
            }
        }, "storm-server");
        server.start();
        threads.forEach(Thread::start);
        try {
            Poll.within(WAIT).every(Duration.ofMillis(1)).until("the storm going: 2000 connections served",
                    served::get, n -> n >= 2000);
            accepting.set(false);
            server.join(WAIT.toMillis());
            // What the supervisor does on SIGTERM.
            listener.refuseNewHandshakes();
            long settle = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
            while (handshakesOn(listener) > 0 && System.nanoTime() < settle) {
                java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
            }
            int fd;
            while ((fd = listener.accept()) >= 0) {
                Native.close(fd);
            }
        } finally {
            listener.close();
            accepting.set(false);
        }
        for (Thread t : threads) {
            t.join(WAIT.toMillis() * 3);
            assertTrue(!t.isAlive(), t.getName() + " finished");
        }
        assertEquals(clients, refused.get(), "each client ended on a refusal");
        return new ArrayList<>(bad);
    }

    /** Handshakes under way on {@code listener}'s port, as the supervisor asks for its own ports. */
    private static int handshakesOn(TcpListener listener) {
        return TcpListener.handshakesInProgress(Set.of(listener.boundAddress().getPort()));
    }
}
