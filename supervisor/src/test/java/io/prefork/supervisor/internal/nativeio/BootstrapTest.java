package io.prefork.supervisor.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Bootstrap;
import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.TestFds;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.FrameType;
import io.prefork.internal.wire.SharedRegion;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import jnr.unixsocket.UnixSocketAddress;
import jnr.unixsocket.UnixSocketChannel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The worker's connect-back handshake, both ends in this JVM (the worker's end on a helper thread). */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class BootstrapTest {
    private static final int TIMEOUT_MS = 5000;

    private ExecutorService pool;

    @BeforeEach
    void startPool() {
        pool = Executors.newSingleThreadExecutor();
    }

    @AfterEach
    void stopPool() throws InterruptedException {
        pool.shutdownNow();
        assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS), "a helper thread is stuck");
    }

    @Test
    void anEndpointForAnotherUserIsThatUsersOnly() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(Native.uid() == 0, "only root can give a file to another user; "
                + "this test runs as uid " + Native.uid());
        Accounts.User nobody = Accounts.user("nobody");
        org.junit.jupiter.api.Assumptions.assumeTrue(nobody != null, "no user 'nobody' on this machine");
        try (BootstrapServer server = BootstrapServer.open(nobody.uid(), nobody.gid())) {
            for (Path p : new Path[] {server.path(), server.path().getParent()}) {
                assertEquals(nobody.uid(), Files.getAttribute(p, "unix:uid"), p.toString());
                assertEquals(nobody.gid(), Files.getAttribute(p, "unix:gid"), p.toString());
            }
            assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(server.path().getParent())));
            assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(server.path())));
        }
    }

    @Test
    void serverEndpointIsPrivate() throws IOException {
        try (BootstrapServer server = BootstrapServer.open()) {
            Path socket = server.path();
            Path dir = socket.getParent();
            assertTrue(Files.isDirectory(dir));
            assertEquals("rwx------",
                    PosixFilePermissions.toString(Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS)));
            assertTrue(Files.exists(socket, LinkOption.NOFOLLOW_LINKS));
            assertFalse(Files.isRegularFile(socket, LinkOption.NOFOLLOW_LINKS), "boot.sock is a socket");
            assertEquals("rw-------",
                    PosixFilePermissions.toString(Files.getPosixFilePermissions(socket, LinkOption.NOFOLLOW_LINKS)));
        }
    }

    @Test
    void workerConnectsPresentsTokenAndReceivesItsChannel() throws Exception {
        Path socket;
        Path dir;
        try (BootstrapServer server = BootstrapServer.open()) {
            socket = server.path();
            dir = socket.getParent();
            Future<Bootstrap.Handed> connected = pool.submit(() -> Bootstrap.connect(socket, "tok123", TIMEOUT_MS));

            ControlChannel[] pair = ControlChannel.pair();
            int regionFd = Memfd.create("bootstrap-test");
            SharedRegion region = SharedRegion.create(regionFd, SharedRegion.MIN_SLOTS);
            ControlChannel workerEnd = null;
            try {
                try (BootstrapServer.Arrival arrival = server.accept(TIMEOUT_MS)) {
                    assertNotNull(arrival);
                    assertEquals("tok123", arrival.token);
                    assertEquals(ProcessHandle.current().pid(), arrival.pid);
                    assertEquals(Native.uid(), arrival.uid);
                    arrival.sendChannel(pair[1].fd(), regionFd);
                }
                // The supervisor closes its copies of the worker's end and of the region once they are sent.
                String identity = TestFds.target(pair[1].fd());
                String regionIdentity = TestFds.target(regionFd);
                assertTrue(regionIdentity.startsWith("/memfd:bootstrap-test"), regionIdentity);
                pair[1].close();
                Native.close(regionFd);

                Bootstrap.Handed handed = connected.get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
                workerEnd = handed.channel;
                assertEquals(identity, TestFds.target(workerEnd.fd()), "the worker got the pair's other end");
                assertTrue(Native.isCloseOnExec(workerEnd.fd()));
                assertEquals(regionIdentity, TestFds.target(handed.regionFd), "the worker got the region");
                assertTrue(Native.isCloseOnExec(handed.regionFd));
                SharedRegion workerView = SharedRegion.attach(handed.regionFd);
                Native.close(handed.regionFd);
                workerView.beat();
                assertEquals(1, region.heartbeat(), "one memory, mapped twice, after both descriptors are closed");

                // Worker -> supervisor.
                int n = FrameCodec.encodeReady(workerEnd.sendBuffer(), ProcessHandle.current().pid());
                assertTrue(workerEnd.send(n, null, 0, false));
                assertEquals(n, pair[0].receive(false));
                assertEquals(FrameType.READY, FrameCodec.readHeader(pair[0].receiveBuffer(), n, true));
                assertEquals(ProcessHandle.current().pid(), FrameCodec.readReady(pair[0].receiveBuffer(), n));

                // Supervisor -> worker.
                ByteBuffer b = pair[0].sendBuffer();
                byte[] peer = {4, 0, 80, 127, 0, 0, 1};
                int end = FrameCodec.putHandoffEntry(b, FrameCodec.beginHandoff(), 5, 6, peer, peer.length);
                n = FrameCodec.finishHandoff(b, 1, end);
                int[] sv = Native.seqpacketPair();
                try {
                    assertTrue(pair[0].send(n, sv, 1, false));
                } finally {
                    Native.close(sv[0]);
                    Native.close(sv[1]);
                }
                assertEquals(n, workerEnd.receive(false));
                assertEquals(1, workerEnd.receivedDescriptorCount());
                workerEnd.closeReceivedDescriptors();
                assertEquals(FrameType.HANDOFF, FrameCodec.readHeader(workerEnd.receiveBuffer(), n, false));
            } finally {
                pair[0].close();
                pair[1].close();
                if (workerEnd != null) {
                    workerEnd.close();
                }
            }
        }
        assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS), "the socket file is removed on close");
        assertFalse(Files.exists(dir, LinkOption.NOFOLLOW_LINKS), "the directory is removed on close");
    }

    @Test
    void acceptAfterCloseReturnsNullPromptly() throws IOException {
        BootstrapServer server = BootstrapServer.open();
        server.close();
        server.close(); // safe twice
        assertFalse(Files.exists(server.path().getParent()));
        assertNull(assertTimeoutPreemptively(Duration.ofSeconds(2), () -> server.accept(TIMEOUT_MS)));
    }

    @Test
    void closeWakesAThreadBlockedInAccept() throws Exception {
        BootstrapServer server = BootstrapServer.open();
        try {
            CountDownLatch accepting = new CountDownLatch(1);
            Future<BootstrapServer.Arrival> arrival = pool.submit(() -> {
                accepting.countDown();
                return server.accept(TIMEOUT_MS);
            });
            assertTrue(accepting.await(10, TimeUnit.SECONDS));
            server.close();
            assertNull(arrival.get(10, TimeUnit.SECONDS));
        } finally {
            server.close();
        }
    }

    @Test
    void peerWithoutTokenIsDroppedAndTheNextOneServed() throws Exception {
        try (BootstrapServer server = BootstrapServer.open()) {
            // A peer that connects and hangs up without a token line.
            UnixSocketChannel silent = UnixSocketChannel.open(new UnixSocketAddress(server.path().toFile()));
            silent.close();
            Future<Bootstrap.Handed> connected = pool.submit(() -> Bootstrap.connect(server.path(), "good", TIMEOUT_MS));
            ControlChannel[] pair = ControlChannel.pair();
            int regionFd = Memfd.create("bootstrap-test");
            try (BootstrapServer.Arrival arrival = server.accept(TIMEOUT_MS)) {
                assertNotNull(arrival);
                assertEquals("good", arrival.token);
                arrival.sendChannel(pair[1].fd(), regionFd);
            } finally {
                pair[1].close();
                Native.close(regionFd);
            }
            Bootstrap.Handed handed = connected.get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
            Native.close(handed.regionFd);
            try (ControlChannel workerEnd = handed.channel) {
                int n = FrameCodec.encodeProxyRefused(workerEnd.sendBuffer(), 1);
                assertTrue(workerEnd.send(n, null, 0, false));
                assertEquals(n, pair[0].receive(false));
            } finally {
                pair[0].close();
            }
        }
    }

    @Test
    void connectFailsClearlyWhenRefused() throws Exception {
        try (BootstrapServer server = BootstrapServer.open()) {
            Future<Bootstrap.Handed> connected = pool.submit(() -> Bootstrap.connect(server.path(), "bad", TIMEOUT_MS));
            try (BootstrapServer.Arrival arrival = server.accept(TIMEOUT_MS)) {
                assertEquals("bad", arrival.token);
                // Refused: closed without sending a channel.
            }
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> connected.get(TIMEOUT_MS, TimeUnit.MILLISECONDS));
            assertTrue(e.getCause() instanceof IOException, e.getCause().toString());
            assertTrue(e.getCause().getMessage().contains("without sending a channel"), e.getCause().getMessage());
        }
    }

    @Test
    void connectToMissingEndpointFails() {
        Path missing = Path.of(System.getProperty("java.io.tmpdir"), "prefork-no-such-dir-" + ProcessHandle.current().pid(),
                "boot.sock");
        assertThrows(IOException.class, () -> Bootstrap.connect(missing, "t", TIMEOUT_MS));
    }
}
