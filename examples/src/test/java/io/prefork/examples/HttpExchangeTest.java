package io.prefork.examples;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What one thread's successive exchanges share (its head buffer) must not carry anything from one to the next. */
@Timeout(value = 30, unit = SECONDS)
class HttpExchangeTest {

    @Test
    void successiveExchangesOnOneThreadSeeOnlyTheirOwnBytes() throws IOException {
        try (ServerSocketChannel listener = ServerSocketChannel.open()) {
            listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            // First: a long head, then the start of a pipelined request left unread.
            String longTarget = "/" + "a".repeat(4000);
            try (Socket client = new Socket()) {
                client.connect(listener.getLocalAddress(), 5000);
                client.getOutputStream().write(("GET " + longTarget + " HTTP/1.1\r\nHost: x\r\nX-Pad: "
                        + "p".repeat(6000) + "\r\n\r\nGET /next").getBytes(StandardCharsets.US_ASCII));
                try (SocketChannel ch = listener.accept()) {
                    HttpExchange http = new HttpExchange(ch, 5000, null);
                    assertTrue(http.readRequest());
                    assertEquals(longTarget, http.target());
                    http.respond(new byte[] {'1'});
                    ByteBuffer unread = http.unread();
                    byte[] rest = new byte[unread.remaining()];
                    unread.get(rest);
                    // May hold less than all of it (a read can end anywhere), never anything else.
                    assertTrue("GET /next".startsWith(new String(rest, StandardCharsets.US_ASCII)),
                            new String(rest, StandardCharsets.US_ASCII));
                }
                assertStatus200(client.getInputStream());
            }
            // Second, on the same thread (so the same head buffer): a short request, nothing after it.
            try (Socket client = new Socket()) {
                client.connect(listener.getLocalAddress(), 5000);
                client.getOutputStream().write("GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                try (SocketChannel ch = listener.accept()) {
                    HttpExchange http = new HttpExchange(ch, 5000, null);
                    assertTrue(http.readRequest());
                    assertEquals("/c", http.target());
                    assertEquals(0, http.unread().remaining(), "no byte of the first exchange");
                    http.respond(new byte[] {'2'});
                }
                assertStatus200(client.getInputStream());
            }
        }
    }

    private static void assertStatus200(InputStream in) throws IOException {
        String head = new String(in.readNBytes(12), StandardCharsets.US_ASCII);
        assertEquals("HTTP/1.1 200", head);
    }
}
