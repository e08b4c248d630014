package io.prefork.internal.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.proxy.AllowList;
import io.prefork.internal.proxy.ProxyMode;
import io.prefork.internal.proxy.ProxyProtocol;
import io.prefork.internal.wire.WireAddress;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The worker's PROXY protocol check over a real loopback connection: the client address from the header, the
 * balancer's kept as the peer, the application's bytes left in the channel; a peer outside the allow list and a
 * header slower than the deadline refused and counted.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ProxyGateTest {
    private ServerSocketChannel server;
    private SocketChannel client;
    private SocketChannel accepted;

    @BeforeEach
    void connect() throws IOException {
        server = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        client = SocketChannel.open(server.getLocalAddress());
        accepted = server.accept(); // blocking, as a passed connection arrives
    }

    @AfterEach
    void close() throws IOException {
        client.close();
        accepted.close();
        server.close();
    }

    private WorkerConnection connection() throws IOException {
        InetSocketAddress remote = (InetSocketAddress) accepted.getRemoteAddress();
        return new WorkerConnection(null, 7, accepted, -1, remote, WireAddress.encode(remote), 0, false, new byte[0]);
    }

    private static ProxyGate gate(ProxyMode mode, String allow) {
        return new ProxyGate(new ProxyProtocol(mode, AllowList.parse(allow)));
    }

    private void send(String s) throws IOException {
        client.write(ByteBuffer.wrap(s.getBytes(StandardCharsets.US_ASCII)));
    }

    @Test
    void aValidHeaderGivesTheClientAndLeavesTheApplicationsBytes() throws IOException {
        WorkerConnection c = connection();
        InetSocketAddress balancer = c.peerAddress();
        send("PROXY TCP4 203.0.113.7 192.0.2.1 4242 80\r\nhello");
        ProxyGate g = gate(ProxyMode.AUTO, AllowList.DEFAULT);
        assertTrue(g.admit(c));
        assertEquals(new InetSocketAddress(InetAddress.getByName("203.0.113.7"), 4242), c.remoteAddress());
        assertEquals(balancer, c.peerAddress());
        assertEquals(0, accepted.socket().getSoTimeout(), "the handler gets the channel without a read timeout");
        ByteBuffer rest = ByteBuffer.allocate(5);
        while (rest.hasRemaining()) {
            assertTrue(accepted.read(rest) > 0);
        }
        assertEquals("hello", new String(rest.array(), StandardCharsets.US_ASCII));
        assertEquals(0, g.takeRefusedCount());
    }

    @Test
    void aPeerOutsideTheAllowListIsRefusedUnread() throws IOException {
        String header = "PROXY TCP4 203.0.113.7 192.0.2.1 4242 80\r\n";
        send(header);
        ProxyGate g = gate(ProxyMode.V1, "10.0.0.0/8");
        WorkerConnection c = connection();
        assertFalse(g.admit(c));
        assertEquals(c.peerAddress(), c.remoteAddress(), "no client address taken from an untrusted peer");
        assertEquals(1, g.takeRefusedCount());
        assertEquals(0, g.takeRefusedCount(), "taken: the heartbeat reports each refusal once");
        // One small write on loopback arrives whole: all of it is still there to read.
        assertEquals(header.length(), accepted.read(ByteBuffer.allocate(100)), "not a byte read");
    }

    @Test
    void aHeaderSlowerThanTheDeadlineIsRefusedAtTheDeadline() throws IOException {
        send("PROXY TCP4 203.0.113.7 ");
        ProxyGate g = gate(ProxyMode.V1, AllowList.DEFAULT);
        long start = System.nanoTime();
        assertFalse(g.admit(connection()));
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(ms >= ProxyProtocol.HEADER_TIMEOUT_MS - 50 && ms < ProxyProtocol.HEADER_TIMEOUT_MS + 5000,
                "refused after " + ms + " ms");
        assertEquals(1, g.takeRefusedCount());
    }
}
