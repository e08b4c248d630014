package io.prefork.it;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The test client must reject what a broken server sends, or the integration tests built on it prove nothing. */
@Timeout(value = 30, unit = SECONDS)
class HttpClientTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final ExecutorService executor = Executors.newSingleThreadExecutor(task -> {
        Thread thread = new Thread(task, "canned-server");
        thread.setDaemon(true);
        return thread;
    });

    @AfterEach
    void stopServer() {
        executor.shutdownNow();
    }

    /** Accepts one connection, reads the request head, answers with {@code raw} and closes. */
    private Future<String> serveOnce(ServerSocket server, String raw) {
        return executor.submit(() -> {
            try (Socket socket = server.accept()) {
                StringBuilder request = new StringBuilder();
                while (!request.toString().endsWith("\r\n\r\n")) {
                    int b = socket.getInputStream().read();
                    if (b < 0) {
                        break;
                    }
                    request.append((char) b);
                }
                socket.getOutputStream().write(raw.getBytes(StandardCharsets.ISO_8859_1));
                return request.toString();
            }
        });
    }

    private static ServerSocket listen() throws IOException {
        return new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
    }

    @Test
    void parsesAResponseAndSendsConnectionClose() throws Exception {
        try (ServerSocket server = listen()) {
            Future<String> request = serveOnce(server,
                    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Multi: a\r\nx-multi: b\r\n\r\nabc");
            HttpClient.Response response = HttpClient.get("127.0.0.1", server.getLocalPort(), "/p", TIMEOUT);
            assertEquals(200, response.status());
            assertEquals("abc", response.body());
            assertEquals("a, b", response.header("X-MULTI"));
            String sent = request.get();
            assertTrue(sent.startsWith("GET /p HTTP/1.1\r\n"), sent);
            assertTrue(sent.contains("\r\nConnection: close\r\n"), sent);
        }
    }

    @Test
    void readsACloseDelimitedBody() throws Exception {
        try (ServerSocket server = listen()) {
            serveOnce(server, "HTTP/1.0 404 Not Found\r\n\r\nnope");
            HttpClient.Response response = HttpClient.get("127.0.0.1", server.getLocalPort(), "/", TIMEOUT);
            assertEquals(404, response.status());
            assertEquals("nope", response.body());
        }
    }

    @Test
    void truncatedBodyThrows() throws Exception {
        try (ServerSocket server = listen()) {
            serveOnce(server, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
            IOException e = assertThrows(IOException.class,
                    () -> HttpClient.get("127.0.0.1", server.getLocalPort(), "/", TIMEOUT));
            assertTrue(e.getMessage().contains("truncated") && e.getMessage().contains("10"), e.getMessage());
        }
    }

    @Test
    void truncatedHeadThrows() throws Exception {
        try (ServerSocket server = listen()) {
            serveOnce(server, "HTTP/1.1 200 OK\r\nContent-Len");
            IOException e = assertThrows(IOException.class,
                    () -> HttpClient.get("127.0.0.1", server.getLocalPort(), "/", TIMEOUT));
            assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        }
    }

    @Test
    void noResponseAtAllThrows() throws Exception {
        try (ServerSocket server = listen()) {
            serveOnce(server, "");
            IOException e = assertThrows(IOException.class,
                    () -> HttpClient.get("127.0.0.1", server.getLocalPort(), "/", TIMEOUT));
            assertTrue(e.getMessage().contains("before any response byte"), e.getMessage());
        }
    }

    @Test
    void keepAliveRejectsAResponseWithoutContentLength() throws Exception {
        try (ServerSocket server = listen()) {
            serveOnce(server, "HTTP/1.1 200 OK\r\n\r\nbody");
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive("127.0.0.1", server.getLocalPort(), TIMEOUT)) {
                IOException e = assertThrows(IOException.class, () -> client.get("/"));
                assertTrue(e.getMessage().contains("no Content-Length"), e.getMessage());
            }
        }
    }

    @Test
    void malformedStatusLineThrows() throws Exception {
        try (ServerSocket server = listen()) {
            serveOnce(server, "HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n");
            IOException e = assertThrows(IOException.class,
                    () -> HttpClient.get("127.0.0.1", server.getLocalPort(), "/", TIMEOUT));
            assertTrue(e.getMessage().contains("malformed status line"), e.getMessage());
        }
    }
}
