package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Native;
import io.prefork.it.workers.AddressWorker;
import io.prefork.supervisor.internal.nativeio.TestSockets;
import io.prefork.testing.Poll;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What the supervisor accepts, and from where: several {@code --listen} addresses sharing one pool of workers, the
 * metadata a worker sees for each connection, the graceful stop on every listener, and the bounded queue that leaves
 * connections in the kernel backlog when it is full. Real supervisor and worker JVMs on loopback.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AcceptIT {
    static final Duration READY = Duration.ofSeconds(45);
    static final Duration IO = Duration.ofSeconds(20);
    static final String ADDRESS_WORKER = "io.prefork.it.workers.AddressWorker";

    /** Every listener serves, and the worker sees which one a connection came through and from which client. */
    @Test
    void everyListenAddressIsServedAndTheWorkerKnowsWhichOne() throws Exception {
        List<String> extra = new ArrayList<>(List.of("--listen", "127.0.0.1:0"));
        boolean ipv6 = ipv6Loopback();
        if (ipv6) {
            extra.addAll(List.of("--listen", "[::1]:0"));
        }
        try (SupervisorProcess s = SupervisorProcess.startExample(2, ADDRESS_WORKER, extra.toArray(new String[0]))) {
            List<InetSocketAddress> listen = s.awaitReadyAddresses(READY);
            assertEquals(ipv6 ? 3 : 2, listen.size(), "one bound address per --listen: " + listen);
            assertEquals(listen.size(), new HashSet<>(listen).size(), "each port 0 got a port of its own: " + listen);
            for (InetSocketAddress a : listen) {
                for (int i = 0; i < 5; i++) {
                    try (Socket socket = connect(a)) {
                        String response = get(socket, "/");
                        assertTrue(response.startsWith("HTTP/1.1 200 "), response);
                        String expected = "local=" + AddressWorker.text(a) + " peer="
                                + AddressWorker.text((InetSocketAddress) socket.getLocalSocketAddress()) + "\n";
                        assertTrue(response.endsWith("\r\n\r\n" + expected), "expected body " + expected + " in "
                                + response);
                    }
                }
            }
        }
    }

    /** SIGTERM with load on two listeners: every connection whose handshake completed, on either, is served. */
    @Test
    void sigtermServesTheBacklogOfEveryListener() throws Exception {
        FaultsIT.sigtermUnderLoad("--listen", "127.0.0.1:0");
    }

    /**
     * SIGTERM while a client's handshake is half-open (it never sends its final ACK): the supervisor waits for it at
     * most a second, says so, and still stops cleanly; a connection completed before the stop is served meanwhile,
     * and the workers are not stopped before the listeners are closed.
     */
    @Test
    void aHandshakeLeftHalfOpenHoldsTheStopUpForASecondAtMost() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1, "io.prefork.examples.HelloHttpWorker")) {
            InetSocketAddress address = new InetSocketAddress("127.0.0.1", s.awaitReady(READY));
            int halfOpen = TestSockets.halfOpen(address);
            try (Socket completed = connect(address)) {
                s.signal(Native.SIGTERM);
                // The log stays the oracle: no metric counts the handshakes a stop gave up on, and this line is
                // the operator's only notice that those clients will be reset.
                s.awaitOutput("closing the listeners with 1 TCP handshake(s) still unfinished after 1000 ms", READY);
                String response = get(completed, "/");
                assertTrue(response.startsWith("HTTP/1.1 200 "), response);
                assertEquals(0, s.awaitExit(IO));
            } finally {
                Native.close(halfOpen);
            }
        }
    }

    /**
     * With every worker busy, what it may be sent ahead (--prefetch, 2 by default) sent and the queue full, the
     * supervisor stops accepting: the rest wait in the kernel's backlog (its accept queue, read from /proc/net/tcp),
     * and all of them are served once the worker frees up.
     */
    @Test
    void aFullQueueLeavesConnectionsInTheKernelBacklog() throws Exception {
        int queueSize = 2;
        int prefetch = 2; // the default: not passed, so that the test holds for what runs without flags
        int kernel = 5;
        try (SupervisorProcess s = SupervisorProcess.startExample(1, ADDRESS_WORKER, "--queue-size",
                Integer.toString(queueSize), "--admin", "127.0.0.1:0")) {
            int port = s.awaitReady(READY);
            s.awaitWorkers(1, READY);
            List<Socket> clients = new ArrayList<>();
            // Stopped, the supervisor cannot accept: every handshake completes in the kernel and all of them are
            // pending at once when it continues. So the test sees whether it takes only what it has room for, not
            // whether it happened to keep up with connections arriving one at a time.
            s.signal(Native.SIGSTOP);
            // kill(2) only queues the stop: wait until every thread of the supervisor has actually stopped.
            Poll.within(READY).until("supervisor " + s.pid() + " stopped", () -> SupervisorProcess.allThreadsStopped(s.pid()));
            try {
                // The first connection takes the only worker's only slot until the test lets it go.
                Socket holder = connect(new InetSocketAddress("127.0.0.1", port));
                clients.add(holder);
                holder.getOutputStream().write(request("/hold"));
                for (int i = 0; i < prefetch + queueSize + kernel; i++) {
                    Socket c = connect(new InetSocketAddress("127.0.0.1", port));
                    clients.add(c);
                    c.getOutputStream().write(request("/"));
                }
                assertEquals(1 + prefetch + queueSize + kernel, acceptQueue(port),
                        "all pending while the supervisor is stopped");
                s.signal(Native.SIGCONT);
                // 1 in the worker, prefetch sent ahead to it, queueSize in the supervisor's queue; the others must
                // stay with the kernel.
                Poll.within(READY).until(kernel + " connections in the listen backlog of port " + port,
                        () -> acceptQueue(port), n -> n == kernel);
                assertEquals(kernel, acceptQueue(port), "the supervisor took no more than it had room for");
                // And the supervisor's own account of what it took: one in the worker and two ahead, the queue full.
                Admin.Status st = s.admin().status();
                assertEquals(queueSize, st.queueDepth(), st.toString());
                assertEquals(1 + prefetch, st.workers().get(0).inFlight(), st.toString());
                assertEquals(1 + prefetch + queueSize, st.accepted(), st.toString());

                holder.getOutputStream().write('!');
                for (Socket c : clients) {
                    String response = readAll(c);
                    assertTrue(response.startsWith("HTTP/1.1 200 "), response);
                }
                assertEquals(0, acceptQueue(port));
            } finally {
                s.signal(Native.SIGCONT);
                for (Socket c : clients) {
                    c.close();
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private static boolean ipv6Loopback() {
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("::1"))) {
            return probe.getLocalPort() > 0;
        } catch (IOException e) {
            return false;
        }
    }

    private static Socket connect(InetSocketAddress a) throws IOException {
        Socket socket = new Socket();
        try {
            socket.connect(a, (int) IO.toMillis());
            socket.setSoTimeout((int) IO.toMillis());
            return socket;
        } catch (IOException e) {
            socket.close();
            throw e;
        }
    }

    private static byte[] request(String path) {
        return ("GET " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
    }

    private static String get(Socket socket, String path) throws IOException {
        socket.getOutputStream().write(request(path));
        return readAll(socket);
    }

    private static String readAll(Socket socket) throws IOException {
        InputStream in = socket.getInputStream();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        in.transferTo(out);
        return out.toString(StandardCharsets.US_ASCII);
    }

    /**
     * The accept queue of the IPv4 socket listening on {@code port}: for a socket in state LISTEN (0A), the kernel
     * reports the number of completed handshakes not yet accepted as {@code rx_queue} in /proc/net/tcp.
     */
    static int acceptQueue(int port) {
        String hexPort = String.format(Locale.ROOT, ":%04X", port);
        try {
            for (String line : Files.readAllLines(Path.of("/proc/net/tcp"))) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 4 && f[1].endsWith(hexPort) && f[3].equals("0A")) {
                    return Integer.parseInt(f[4].substring(f[4].indexOf(':') + 1), 16);
                }
            }
        } catch (IOException e) {
            throw new AssertionError("cannot read /proc/net/tcp", e);
        }
        throw new AssertionError("no socket listening on port " + port + " in /proc/net/tcp");
    }
}
