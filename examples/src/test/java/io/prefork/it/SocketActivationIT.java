package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prefork.testing.Poll;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Socket activation with systemd's own tool, {@code systemd-socket-activate}: it listens, starts the supervisor only
 * when the first connection arrives, and passes the listening socket as descriptor 3 with LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES, as a .socket unit does. That first connection, which arrived before any worker existed, is served.
 */
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class SocketActivationIT {
    static final Duration READY = Duration.ofSeconds(45);
    static final int SIGTERM = 15;
    static String tool;

    @BeforeAll
    static void findTool() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            Path candidate = Path.of(dir, "systemd-socket-activate");
            if (Files.isExecutable(candidate)) {
                tool = candidate.toString();
                return;
            }
        }
    }

    private static void assumeTool() {
        assumeTrue(tool != null, "systemd-socket-activate is not installed (Debian: apt-get install systemd)");
    }

    /** A port that is free now; the tool binds it a moment later (a race only with another program taking it). */
    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** True once the launcher's process has exec'd the JVM (it keeps its pid: no fork for a listening socket). */
    private static boolean isJava(long pid) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "comm")).strip().equals("java");
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void startsOnTheFirstConnectionAndServesIt() throws Exception {
        assumeTool();
        int port = freePort();
        try (SupervisorProcess s = SupervisorProcess.startExampleSocketActivated(
                List.of(tool, "--listen=127.0.0.1:" + port, "--fdname=web"), 2, OperationsIT.HELLO)) {
            Poll.within(READY).until("the tool listens (" + s.output() + ")",
                    () -> s.output().stream().anyMatch(l -> l.contains("Listening on 127.0.0.1:" + port)));
            assertFalse(isJava(s.pid()), "nothing started before a connection arrives: " + s.output());
            // The first connection starts it; it waits in the socket's queue while the workers boot.
            HttpClient.Response r = HttpClient.get("127.0.0.1", port, "/", READY);
            assertEquals(200, r.status(), r.toString());
            assertTrue(r.body().startsWith("Hello from prefork worker"), r.body());
            assertTrue(isJava(s.pid()));
            assertEquals(port, s.awaitReady(READY));
            assertTrue(s.output().stream().anyMatch(l -> l.contains("socket activation: serving 1 inherited "
                    + "listening socket(s): 127.0.0.1:" + port)), s.output().toString());
            // Workers see neither the variables (LISTEN_PID names the supervisor) nor the listening socket.
            for (long worker : s.awaitWorkers(2, READY)) {
                String env = new String(Files.readAllBytes(Path.of("/proc", Long.toString(worker), "environ")),
                        StandardCharsets.UTF_8);
                assertFalse(env.contains("LISTEN_"), "worker " + worker + " environment: " + env);
            }
            String listenerInode = Files.readSymbolicLink(Path.of("/proc", Long.toString(s.pid()), "fd", "3"))
                    .toString();
            assertTrue(listenerInode.startsWith("socket:"), listenerInode);
            for (long worker : s.workerPids()) {
                assertFalse(SupervisorProcess.fdTargets(worker, true).contains(listenerInode),
                        "worker " + worker + " holds the listening socket " + listenerInode);
            }
            assertEquals(200, HttpClient.get("127.0.0.1", port, "/", READY).status());
            s.signal(SIGTERM);
            assertEquals(0, s.awaitExit(READY), s.output().toString());
        }
    }

    @Test
    void refusesADatagramSocketNamingIt() throws Exception {
        assumeTool();
        int port = freePort();
        try (SupervisorProcess s = SupervisorProcess.startExampleSocketActivated(
                List.of(tool, "--datagram", "--listen=127.0.0.1:" + port, "--fdname=web"), 1, OperationsIT.HELLO)) {
            Poll.within(READY).until("the tool listens (" + s.output() + ")",
                    () -> s.output().stream().anyMatch(l -> l.contains("Listening on 127.0.0.1:" + port)));
            try (DatagramSocket udp = new DatagramSocket()) {
                byte[] hello = "hello".getBytes(StandardCharsets.US_ASCII);
                udp.send(new DatagramPacket(hello, hello.length, InetAddress.getLoopbackAddress(), port));
            }
            assertEquals(5, s.awaitExit(READY), s.output().toString());
            assertTrue(s.output().contains("prefork: socket activation: descriptor 3 (LISTEN_FDNAMES \"web\") is a UDP "
                    + "(IPv4 datagram) socket, not a TCP one; Prefork serves listening TCP sockets only: in the .socket "
                    + "unit use ListenStream= with an address or port (not a path) and Accept=no (the default)"),
                    s.output().toString());
            assertTrue(s.taggedProcesses().isEmpty(), "no worker was started");
        }
    }

    @Test
    void refusesAConnectionPassedByAcceptYes() throws Exception {
        assumeTool();
        int port = freePort();
        try (SupervisorProcess s = SupervisorProcess.startExampleSocketActivated(
                List.of(tool, "--accept", "--listen=127.0.0.1:" + port), 1, OperationsIT.HELLO)) {
            Poll.within(READY).until("the tool listens (" + s.output() + ")",
                    () -> s.output().stream().anyMatch(l -> l.contains("Listening on 127.0.0.1:" + port)));
            try (Socket client = new Socket("127.0.0.1", port)) {
                client.setSoTimeout((int) READY.toMillis());
                // The supervisor the tool started for this connection refuses it and exits: the connection closes.
                assertEquals(-1, client.getInputStream().read());
            }
            Poll.within(READY).until("the refusal in the log (" + s.output() + ")", () -> s.output().stream()
                    .anyMatch(l -> l.startsWith("prefork: socket activation: descriptor 3 is a TCP socket that is not "
                            + "listening")));
            assertTrue(s.isAlive(), "the tool itself goes on listening");
        }
    }
}
