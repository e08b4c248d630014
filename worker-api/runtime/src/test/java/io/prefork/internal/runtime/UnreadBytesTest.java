package io.prefork.internal.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
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
 * Pins the rule {@code Connection.unread()} documents for a resumed connection: the bytes a previous handler read
 * and left travel beside the socket, not in it, so raw reads of the genuine channel never see them; {@code input()}
 * yields them first; {@code unread()} and {@code input()} share one position; what a handler does not consume is
 * not carried to the next park by itself. A real loopback connection, the previous handler's bytes "GET /a" and the
 * client's next ones "GET /b".
 */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class UnreadBytesTest {
    private ServerSocketChannel server;
    private Socket client;
    private SocketChannel accepted;

    @BeforeEach
    void connect() throws Exception {
        server = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        client = new Socket(InetAddress.getLoopbackAddress(), ((InetSocketAddress) server.getLocalAddress()).getPort());
        accepted = server.accept();
        accepted.socket().setSoTimeout(5000);
        OutputStream out = client.getOutputStream();
        out.write("GET /b".getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }

    @AfterEach
    void close() throws Exception {
        accepted.close();
        client.close();
        server.close();
    }

    private WorkerConnection resumed(String unread) throws Exception {
        return new WorkerConnection(null, 7, accepted, -1, (InetSocketAddress) accepted.getRemoteAddress(), null, 0,
                true, unread.getBytes(StandardCharsets.US_ASCII));
    }

    private static String read(InputStream in, int n) throws Exception {
        return new String(in.readNBytes(n), StandardCharsets.US_ASCII);
    }

    @Test
    void rawReadsOfTheChannelNeverSeeTheUnreadBytes() throws Exception {
        WorkerConnection c = resumed("GET /a");
        ByteBuffer buf = ByteBuffer.allocate(6);
        while (buf.hasRemaining()) {
            c.channel().read(buf);
        }
        assertEquals("GET /b", new String(buf.array(), StandardCharsets.US_ASCII), "the socket's bytes only");
        assertEquals("GET /a", StandardCharsets.US_ASCII.decode(c.unread().duplicate()).toString(),
                "still waiting beside the socket, untouched by the raw read");
    }

    @Test
    void inputYieldsThemFirstThenTheSocketAndSharesTheirPositionWithUnread() throws Exception {
        WorkerConnection c = resumed("GET /a");
        assertEquals('G', c.unread().get(), "one byte taken from unread()");
        assertEquals("ET /aGET /b", read(c.input(), 11), "input() goes on from there, then the socket");
        assertEquals(0, c.unread().remaining(), "and consumed the rest of unread()");
    }

    @Test
    void bytesNotConsumedAreNotCarriedToTheNextParkByThemselves() throws Exception {
        WorkerConnection c = resumed("GET /a");
        c.park(null);
        assertTrue(c.parkRequested());
        assertEquals(0, c.parkUnread().remaining(), "park(null) sends none: they are lost unless passed on");
        c.park(c.unread());
        assertEquals("GET /a", StandardCharsets.US_ASCII.decode(c.parkUnread()).toString(), "passed on explicitly");
        assertEquals(6, c.unread().remaining(), "park copies, it does not consume");
    }
}
