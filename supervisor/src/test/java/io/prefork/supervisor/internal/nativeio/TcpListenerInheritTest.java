package io.prefork.supervisor.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link TcpListener#inherit}: what socket activation passes, made here the way a service manager makes it (a
 * blocking socket without close-on-exec), and every wrong kind of descriptor, each refused with what it is.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TcpListenerInheritTest {
    private static final int SOCK_DGRAM = 2;

    private static int socket(int family, int type) throws NativeException {
        return Native.check(Native.LIBC.socket(family, type, 0), "socket");
    }

    private static void bindLoopback(int fd) throws NativeException {
        Pointer sa = Native.allocate(Native.SOCKADDR_BYTES);
        int len = Native.putSockaddr(new InetSocketAddress("127.0.0.1", 0), sa);
        Native.check(Native.LIBC.bind(fd, sa, len), "bind");
    }

    @Test
    void takesAListeningTcpSocketAndMakesItCloseOnExecAndNonBlocking() throws Exception {
        int fd = socket(Native.AF_INET, Native.SOCK_STREAM);
        bindLoopback(fd);
        Native.check(Native.LIBC.listen(fd, 16), "listen");
        assertFalse(Native.isCloseOnExec(fd));
        assertTrue(Native.isBlocking(fd));
        try (TcpListener listener = TcpListener.inherit(fd)) {
            assertTrue(listener.inherited());
            assertEquals(fd, listener.fd());
            assertEquals(Native.AF_INET, listener.family());
            assertTrue(Native.isCloseOnExec(fd), "no process the supervisor starts may inherit it");
            assertFalse(Native.isBlocking(fd), "the loop polls it");
            assertEquals("127.0.0.1", listener.boundAddress().getAddress().getHostAddress());
            try (Socket client = new Socket()) {
                client.connect(listener.boundAddress(), 5000);
                Native.close(TestSockets.accept(listener, Duration.ofSeconds(10)));
            }
        }
        assertThrows(NativeException.class, () -> Native.isBlocking(fd), "closed with the listener that owns it");
    }

    @Test
    void closingAnInheritedListenerRemovesTheHandshakeFilterFromTheSocketItShares() throws Exception {
        // The service manager's copy of the socket: it outlives ours, and must accept connections after we close.
        int managers = socket(Native.AF_INET, Native.SOCK_STREAM);
        try {
            bindLoopback(managers);
            Native.check(Native.LIBC.listen(managers, 16), "listen");
            int ours = Native.check(Native.LIBC.fcntl(managers, Native.F_DUPFD_CLOEXEC, 3), "dup");
            InetSocketAddress address;
            try (TcpListener listener = TcpListener.inherit(ours)) {
                address = listener.boundAddress();
                listener.refuseNewHandshakes();
            }
            // A new connection completes its handshake (the filter is gone) and waits in the manager's queue.
            try (Socket client = new Socket()) {
                client.connect(address, 5000);
                Native.setBlocking(managers, false);
                int accepted = -1;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (accepted < 0 && System.nanoTime() - deadline < 0) {
                    accepted = Native.LIBC.accept4(managers, null, null, Native.SOCK_CLOEXEC);
                    if (accepted < 0) {
                        Thread.onSpinWait();
                    }
                }
                assertTrue(accepted >= 0, "the connection reached the socket's queue");
                Native.close(accepted);
            }
        } finally {
            Native.close(managers);
        }
    }

    @Test
    void refusesAUdpSocket() throws IOException {
        int fd = socket(Native.AF_INET, SOCK_DGRAM);
        try {
            bindLoopback(fd);
            TcpListener.NotAListener e = assertThrows(TcpListener.NotAListener.class, () -> TcpListener.inherit(fd));
            assertEquals("is a UDP (IPv4 datagram) socket, not a TCP one", e.getMessage());
            assertFalse(Native.isCloseOnExec(fd), "a refused descriptor is left as it was");
        } finally {
            Native.close(fd);
        }
    }

    @Test
    void refusesAnAfUnixSocket() throws IOException {
        int[] pair = Native.seqpacketPair();
        try {
            TcpListener.NotAListener e = assertThrows(TcpListener.NotAListener.class,
                    () -> TcpListener.inherit(pair[0]));
            assertEquals("is an AF_UNIX socket, not a TCP one", e.getMessage());
        } finally {
            Native.close(pair[0]);
            Native.close(pair[1]);
        }
    }

    @Test
    void refusesATcpSocketThatIsNotListening() throws IOException {
        int fd = socket(Native.AF_INET6, Native.SOCK_STREAM);
        try {
            TcpListener.NotAListener e = assertThrows(TcpListener.NotAListener.class, () -> TcpListener.inherit(fd));
            assertTrue(e.getMessage().startsWith("is a TCP socket that is not listening"), e.getMessage());
            assertTrue(e.getMessage().contains("Accept=yes"), e.getMessage());
        } finally {
            Native.close(fd);
        }
    }

    @Test
    void refusesWhatIsNotASocket() throws IOException {
        int fd = Native.check(Native.LIBC.eventfd(0, Native.EFD_CLOEXEC), "eventfd");
        try {
            TcpListener.NotAListener e = assertThrows(TcpListener.NotAListener.class, () -> TcpListener.inherit(fd));
            assertEquals("is not a socket (a file, a pipe or a terminal)", e.getMessage());
        } finally {
            Native.close(fd);
        }
    }

    @Test
    void refusesADescriptorThatIsNotOpen() {
        // Far above any descriptor table's size: EBADF for certain, with no race against other threads' opens.
        TcpListener.NotAListener e = assertThrows(TcpListener.NotAListener.class, () -> TcpListener.inherit(1 << 29));
        assertEquals("is not open", e.getMessage());
    }
}
