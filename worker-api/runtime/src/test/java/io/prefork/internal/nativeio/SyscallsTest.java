package io.prefork.internal.nativeio;

import io.prefork.testing.Loopback;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Both native backends on real sockets, and which one this JVM runs on: on JDK 22+ the whole runtime suite (this
 * class's default-backend tests, ControlChannelTest, ChannelWrapperTest) goes through FFM, on JDK 17 through jnr-ffi.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SyscallsTest {
    private static final int JDK = Runtime.version().feature();

    /** jnr-ffi always; FFM too on JDK 22+ (the build compiles it there, or with a forked JDK 22+ javac). */
    static List<SyscallBackend> backends() {
        List<SyscallBackend> all = new ArrayList<>();
        all.add(new JnrBackend());
        if (JDK >= 22) {
            all.add(Syscalls.choose("ffm", JDK));
        }
        return all;
    }

    @Test
    void theBackendIsFfmFromJdk22AndJnrBefore() {
        // Unless a run forces one on purpose: then the property says which.
        String forced = System.getProperty(Syscalls.BACKEND_PROPERTY, "");
        String expected = !forced.isEmpty() ? forced : JDK >= 22 ? "ffm" : "jnr";
        assertEquals(expected, Syscalls.backend(), "native backend on JDK " + JDK);
    }

    @Test
    void aWrongBackendPropertyIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Syscalls.choose("jna", JDK));
        assertTrue(e.getMessage().contains("-Dprefork.native=jna") && e.getMessage().contains("ffm"), e.getMessage());
        IllegalStateException old = assertThrows(IllegalStateException.class, () -> Syscalls.choose("ffm", 21));
        assertTrue(old.getMessage().contains("JDK 21") && old.getMessage().contains("jnr-ffi"), old.getMessage());
        assertEquals("jnr", Syscalls.choose("jnr", JDK).name());
        assertEquals("jnr", Syscalls.choose("", 17).name());
    }

    @ParameterizedTest
    @MethodSource("backends")
    void passesADescriptorAndReturnsMinusErrno(SyscallBackend b) throws IOException {
        int before = TestFds.count();
        ByteBuffer sv = Syscalls.nativeBuffer(8);
        assertEquals(0, b.socketpair(Native.AF_UNIX, Native.SOCK_SEQPACKET | Native.SOCK_CLOEXEC, 0, b.address(sv)));
        int left = sv.getInt(0);
        int right = sv.getInt(4);
        int received = -1;
        try {
            ByteBuffer out = ByteBuffer.allocateDirect(2).put(0, (byte) 'h').put(1, (byte) 'i');
            MessageStruct send = new MessageStruct(1);
            send.prepareSend(b.address(out), 2, new int[] {left}, 1);
            assertEquals(2, b.sendmsg(left, send.msg, Native.MSG_NOSIGNAL));

            ByteBuffer in = ByteBuffer.allocateDirect(8);
            MessageStruct receive = new MessageStruct(1);
            receive.prepareReceive(b.address(in), 8);
            assertEquals(2, b.recvmsg(right, receive.msg, Native.MSG_CMSG_CLOEXEC));
            int[] fds = new int[1];
            assertEquals(1, receive.collectDescriptors(fds));
            received = fds[0];
            assertEquals('h', in.get(0));
            assertEquals('i', in.get(1));
            // A new descriptor for the same socket, close-on-exec as asked.
            assertTrue(received != left && received != right, "received " + received);
            assertEquals(TestFds.target(left), TestFds.target(received));
            assertEquals(Native.FD_CLOEXEC, b.fcntl(received, Native.F_GETFD, 0) & Native.FD_CLOEXEC);

            // errno comes back as a negative result, from each kind of call.
            receive.prepareReceive(b.address(in), 8);
            assertEquals(-Native.EAGAIN, b.recvmsg(right, receive.msg, Native.MSG_DONTWAIT));
            assertEquals(-Native.EBADF, b.fcntl(-1, Native.F_GETFL, 0));
            assertEquals(-Native.EBADF, b.shutdown(-1, Native.SHUT_RDWR));
            assertEquals(-Native.EBADF, b.sendmsg(-1, send.msg, Native.MSG_NOSIGNAL));
            assertEquals(-97 /* EAFNOSUPPORT */, b.socket(12345, Native.SOCK_STREAM, 0));
        } finally {
            Syscalls.closeQuietly(received);
            assertEquals(0, b.close(left));
            assertEquals(0, b.close(right));
        }
        assertEquals(-Native.EBADF, b.close(left), "a second close of fd " + left);
        assertEquals(before, TestFds.count(), "descriptors left open");
    }

    @ParameterizedTest
    @MethodSource("backends")
    void getsocknameFillsTheAddressAndReturnsMinusErrno(SyscallBackend b) throws IOException {
        try (TestListener listener = TestListener.open(new InetSocketAddress("127.0.0.1", 0));
             Socket client = new Socket()) {
            client.connect(listener.boundAddress(), 5000);
            int fd = listener.accept();
            try {
                ByteBuffer sa = Syscalls.nativeBuffer(32);
                sa.putInt(28, 28);
                assertEquals(0, b.getsockname(fd, b.address(sa), b.address(sa) + 28));
                assertEquals(16, sa.getInt(28), "sockaddr_in's length");
                assertEquals(Native.AF_INET, sa.getShort(0));
                assertEquals(listener.boundAddress().getPort(), (sa.get(2) & 0xFF) << 8 | (sa.get(3) & 0xFF));
                assertEquals(-Native.EBADF, b.getsockname(-1, b.address(sa), b.address(sa) + 28));
            } finally {
                Syscalls.closeQuietly(fd);
            }
        }
    }

    /** One getsockname gives what the JDK's two give (its Net.localAddress), for each kind of TCP socket. */
    @Test
    void localAddressIsTheOneTheClientReached() throws IOException {
        List<InetSocketAddress> binds = new ArrayList<>(List.of(new InetSocketAddress("127.0.0.1", 0)));
        if (Loopback.ipv6Works()) {
            binds.add(new InetSocketAddress(InetAddress.getByName("::1"), 0));
            // A dual-stack listener: an IPv4 client's socket is AF_INET6 with an IPv4-mapped address, which the JDK
            // reports as an Inet4Address.
            binds.add(new InetSocketAddress(InetAddress.getByName("::"), 0));
        }
        for (InetSocketAddress bind : binds) {
            try (TestListener listener = TestListener.open(bind); Socket client = new Socket()) {
                boolean wildcard = bind.getAddress().isAnyLocalAddress();
                InetSocketAddress target = wildcard
                        ? new InetSocketAddress("127.0.0.1", listener.boundAddress().getPort()) : listener.boundAddress();
                client.connect(target, 5000);
                int fd = listener.accept();
                try {
                    InetSocketAddress local = Syscalls.localAddress(fd);
                    assertEquals(target, local, "bound to " + bind);
                    assertEquals(target.getAddress().getClass(), local.getAddress().getClass(), "bound to " + bind);
                    assertEquals(client.getRemoteSocketAddress(), local);
                } finally {
                    Syscalls.closeQuietly(fd);
                }
            }
        }
    }

    /** The thread's last IPv4 address is reused only for the same address and port. */
    @Test
    void localAddressFollowsEachConnectionAcrossListeners() throws IOException {
        try (TestListener a = TestListener.open(new InetSocketAddress("127.0.0.1", 0));
             TestListener b = TestListener.open(new InetSocketAddress("127.0.0.2", 0))) {
            for (TestListener l : List.of(a, a, b, a, b, b)) {
                try (Socket client = new Socket()) {
                    client.connect(l.boundAddress(), 5000);
                    int fd = l.accept();
                    try {
                        assertEquals(l.boundAddress(), Syscalls.localAddress(fd));
                    } finally {
                        Syscalls.closeQuietly(fd);
                    }
                }
            }
        }
    }

    @Test
    void localAddressOfANonSocketNamesTheCall() throws IOException {
        int fd = TestFds.eventfd();
        try {
            NativeException e = assertThrows(NativeException.class, () -> Syscalls.localAddress(fd));
            assertEquals(88 /* ENOTSOCK */, e.errno());
            assertTrue(e.getMessage().contains("getsockname(fd=" + fd + ")"), e.getMessage());
        } finally {
            Syscalls.closeQuietly(fd);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void connectsToAUnixPathAndSendsOnIt(SyscallBackend b, @TempDir Path dir) throws Exception {
        Path path = dir.resolve("s.sock");
        byte[] p = path.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer sa = Syscalls.nativeBuffer(110);
        sa.putShort(0, (short) Native.AF_UNIX).put(2, p).put(2 + p.length, (byte) 0);
        int fd = b.socket(Native.AF_UNIX, Native.SOCK_STREAM | Native.SOCK_CLOEXEC, 0);
        assertTrue(fd >= 0, "socket: " + fd);
        try {
            assertEquals(-2 /* ENOENT */, b.connect(fd, b.address(sa), 2 + p.length + 1));
        } finally {
            b.close(fd);
        }
        try (java.nio.channels.ServerSocketChannel server =
                java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            server.bind(java.net.UnixDomainSocketAddress.of(path));
            fd = b.socket(Native.AF_UNIX, Native.SOCK_STREAM | Native.SOCK_CLOEXEC, 0);
            try {
                assertEquals(0, b.connect(fd, b.address(sa), 2 + p.length + 1));
                ByteBuffer hello = ByteBuffer.allocateDirect(5).put(0, "hello".getBytes(StandardCharsets.US_ASCII));
                assertEquals(5, b.send(fd, b.address(hello), 5, Native.MSG_NOSIGNAL));
                try (java.nio.channels.SocketChannel accepted = server.accept()) {
                    ByteBuffer got = ByteBuffer.allocate(5);
                    while (got.hasRemaining() && accepted.read(got) >= 0) {
                        // reads until the five bytes are in (blocking)
                    }
                    assertEquals("hello", new String(got.array(), StandardCharsets.US_ASCII));
                }
                // The peer is gone: a send now fails with EPIPE, reported as such (and MSG_NOSIGNAL: no SIGPIPE).
                long n;
                do {
                    n = b.send(fd, b.address(hello), 5, Native.MSG_NOSIGNAL);
                } while (n > 0);
                assertTrue(n == -Native.EPIPE || n == -Native.ECONNRESET, "send after the peer closed: " + n);
            } finally {
                b.close(fd);
            }
        }
    }

    /**
     * The calls the two tests above leave out, on both backends: FFM passes every call but fcntl through one handle
     * of a shape wider than the C function's, so each kind of result (an int cut from a long register, a pointer
     * compared with SIG_ERR, a poll count with its revents written through a pointer) is checked, with its errno.
     */
    @ParameterizedTest
    @MethodSource("backends")
    void pollSetsockoptAndSignalReturnTheirResultsAndErrno(SyscallBackend b) throws IOException {
        int before = TestFds.count();
        ByteBuffer sv = Syscalls.nativeBuffer(8);
        assertEquals(0, b.socketpair(Native.AF_UNIX, Native.SOCK_SEQPACKET | Native.SOCK_CLOEXEC, 0, b.address(sv)));
        int left = sv.getInt(0);
        int right = sv.getInt(4);
        try {
            ByteBuffer tv = Syscalls.nativeBuffer(16).putLong(0, 1).putLong(8, 0);
            assertEquals(0, b.setsockopt(left, Native.SOL_SOCKET, 20 /* SO_RCVTIMEO */, b.address(tv), 16));
            assertEquals(-Native.EBADF, b.setsockopt(-1, Native.SOL_SOCKET, 20, b.address(tv), 16));
            assertEquals(-22 /* EINVAL */, b.setsockopt(left, Native.SOL_SOCKET, 20, b.address(tv), 3));

            ByteBuffer pollFd = Syscalls.nativeBuffer(8);
            pollFd.putInt(0, left).putShort(4, Native.POLLIN).putShort(6, (short) 0);
            assertEquals(0, b.poll(b.address(pollFd), 1, 0), "nothing to read yet");
            assertEquals(0, b.shutdown(right, Native.SHUT_RDWR));
            assertEquals(1, b.poll(b.address(pollFd), 1, 0), "the peer shut down");
            assertTrue((pollFd.getShort(6) & Native.POLLHUP) != 0, "revents " + pollFd.getShort(6));
            assertEquals(-22 /* EINVAL */, b.poll(b.address(pollFd), -1L, 0), "nfds above RLIMIT_NOFILE");

            assertEquals(-22 /* EINVAL */, b.ignoreSignal(12345), "no such signal: SIG_ERR");
        } finally {
            assertEquals(0, b.close(left));
            assertEquals(0, b.close(right));
        }
        assertEquals(before, TestFds.count(), "descriptors left open");
    }

    @Test
    void connectUnixNamesThePathItFailedOn(@TempDir Path dir) throws IOException {
        int before = TestFds.count();
        Path missing = dir.resolve("missing.sock");
        NativeException e = assertThrows(NativeException.class, () -> Syscalls.connectUnix(missing, 1000));
        assertEquals(2 /* ENOENT */, e.errno());
        assertTrue(e.getMessage().startsWith("connect(" + missing + ") failed: ENOENT"), e.getMessage());
        Path tooLong = dir.resolve("x".repeat(120));
        IllegalArgumentException longPath =
                assertThrows(IllegalArgumentException.class, () -> Syscalls.connectUnix(tooLong, 1000));
        assertTrue(longPath.getMessage().contains("allows 107"), longPath.getMessage());
        assertEquals(before, TestFds.count(), "descriptors left open after failed connects");
    }

    /**
     * The point of the FFM backend: a worker-like JVM on JDK 22+ that uses the whole worker half of the boundary
     * (socketpair, a frame with a descriptor, fcntl, signal, a failed connect) loads no jnr-ffi or jffi class at all
     * (jnr-constants, which names errno values in NativeException's messages, only on an error path); on JDK 17 it
     * loads jnr-ffi but neither jnr-unixsocket, jnr-posix nor the supervisor's whole LibC binding.
     */
    @Test
    void aWorkerSideJvmLoadsNoJnrOnJdk22(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("classes.log");
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED",
                "-Xlog:class+load=info:file=" + log, "-cp", System.getProperty("java.class.path"),
                WorkerSideProbe.class.getName(), dir.resolve("none.sock").toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output;
        try (InputStream in = p.getInputStream()) {
            output = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        assertEquals(0, p.exitValue(), output);
        assertTrue(output.contains("probe ok backend=" + (JDK >= 22 ? "ffm" : "jnr")), output);
        assertFalse(output.contains("WARNING"), "no restricted-method warning expected: " + output);
        List<String> loaded = Files.readAllLines(log);
        assertTrue(loaded.stream().anyMatch(l -> l.contains("io.prefork.internal.nativeio.ControlChannel ")),
                "the class-load log must list the probe's classes");
        for (String l : loaded) {
            assertFalse(l.contains(" jnr.unixsocket.") || l.contains(" jnr.posix.") || l.contains(" jnr.enxio.")
                    || l.contains(" io.prefork.internal.nativeio.LibC "), l);
            if (JDK >= 22) {
                assertFalse(l.contains(" jnr.ffi.") || l.contains(" com.kenai.jffi."), l);
            }
        }
        if (JDK >= 22) {
            // One class per linked shape (the FFM binding's specialised stub): the shared one and fcntl's, which the
            // probe calls. A dozen shapes cost a worker about 150 ms of boot; see FfmBackend.
            long stubs = loaded.stream().filter(l -> l.contains("jdk.internal.foreign.abi.DowncallStub")).count();
            assertTrue(stubs >= 1 && stubs <= 2,
                    stubs + " downcall shapes linked, expected the shared one and fcntl's");
        }
    }
}
