package io.prefork.examples;

import static io.prefork.examples.WorkerHarness.HOST;
import static io.prefork.examples.WorkerHarness.TIMEOUT;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.it.HttpClient;
import io.prefork.it.HttpClient.Response;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = SECONDS)
class HelloHttpWorkerTest {

    private static final String PID = Long.toString(ProcessHandle.current().pid());
    private static final String BODY = "Hello from prefork worker " + PID + "\n";

    private static HelloHttpWorker started(Map<String, String> settings) {
        HelloHttpWorker worker = new HelloHttpWorker();
        worker.start(FakeContext.of(settings));
        return worker;
    }

    private static void assertHello(Response response) {
        assertEquals(200, response.status());
        assertEquals(PID, response.header("X-Prefork-Worker"));
        assertEquals("text/plain; charset=utf-8", response.header("content-type"));
        assertEquals(Integer.toString(BODY.getBytes(StandardCharsets.UTF_8).length), response.header("Content-Length"));
        assertEquals(BODY, response.body());
        assertTrue(response.header("X-Client-Address").matches("127\\.0\\.0\\.1:[0-9]+"),
                "the client address the worker sees: " + response.header("X-Client-Address"));
    }

    @Test
    void clientAddressHeaderBracketsIpv6() throws Exception {
        assertEquals("X-Client-Address: [2001:db8:0:0:0:0:0:7]:5150\r\n", new String(HelloHttpWorker.clientHeader(
                new java.net.InetSocketAddress(java.net.InetAddress.getByName("2001:db8::7"), 5150)),
                StandardCharsets.US_ASCII));
        assertEquals("X-Client-Address: 192.0.2.7:80\r\n", new String(HelloHttpWorker.clientHeader(
                new java.net.InetSocketAddress(java.net.InetAddress.getByName("192.0.2.7"), 80)),
                StandardCharsets.US_ASCII));
    }

    @Test
    void getAnswersHelloWithThisPid() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            Response response = HttpClient.get(HOST, harness.port(), "/", TIMEOUT);
            assertHello(response);
            assertEquals("close", response.header("Connection"));
            harness.awaitHandled();
        }
    }

    @Test
    void parksBetweenRequestsByDefaultAndNotWithParkFalse() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                assertHello(client.get("/one"));
                assertHello(client.get("/two"));
            }
            harness.awaitHandled();
            assertEquals(2, harness.parks(), "parked after each kept-alive response");
        }
        try (WorkerHarness harness = new WorkerHarness(started(Map.of("park", "false")))) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                assertHello(client.get("/one"));
                assertHello(client.get("/two"));
            }
            harness.awaitHandled();
            assertEquals(0, harness.parks());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> started(Map.of("park", "yes")));
        assertTrue(e.getMessage().contains("park=yes") && e.getMessage().contains("true or false"), e.getMessage());
    }

    @Test
    void keepAliveServesSeveralRequestsOnOneConnection() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                Response first = client.get("/one");
                assertHello(first);
                assertNull(first.header("Connection"), "HTTP/1.1 keep-alive needs no Connection header");
                assertHello(client.get("/two"));
                assertHello(client.get("/three"));
            }
            harness.awaitHandled(); // the client's close is a clean EOF between requests
        }
    }

    @Test
    void connectionCloseClosesAfterTheResponse() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()));
                HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
            assertHello(client.get("/"));
            // Header names and the token are case-insensitive.
            Response response = client.request("GET", "/", Map.of("cOnNeCtIoN", "Close"));
            assertHello(response);
            assertEquals("close", response.header("connection"));
            assertTrue(client.awaitServerClose(), "server should close after Connection: close");
            harness.awaitHandled();
        }
    }

    @Test
    void http10WithoutKeepAliveCloses() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()));
                HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
            client.sendRaw("GET / HTTP/1.0\r\n\r\n");
            Response response = client.readResponse();
            assertHello(response);
            assertEquals("close", response.header("connection"));
            assertTrue(client.awaitServerClose(), "HTTP/1.0 closes by default");
            harness.awaitHandled();
        }
    }

    @Test
    void http10WithKeepAliveStaysOpen() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                for (int i = 0; i < 2; i++) {
                    client.sendRaw("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n");
                    Response response = client.readResponse();
                    assertHello(response);
                    assertEquals("keep-alive", response.header("connection"));
                }
            }
            harness.awaitHandled();
        }
    }

    @Test
    void pipelinedRequestsAfterABodyAreAllAnswered() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                // The POST body must be skipped exactly: one byte too many or too few breaks the next request.
                client.sendRaw("POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
                        + "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"); // a stray CRLF between requests is ignored
                assertHello(client.readResponse());
                assertHello(client.readResponse());
                assertHello(client.readResponse());
            }
            harness.awaitHandled();
        }
    }

    @Test
    void headAnswersHeadersOnly() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                Response head = client.request("HEAD", "/", Map.of());
                assertEquals(200, head.status());
                assertEquals(PID, head.header("x-prefork-worker"));
                assertEquals(Integer.toString(BODY.length()), head.header("content-length"));
                // Had the server sent a body, it would now be read as the start of this response and fail.
                assertHello(client.get("/"));
            }
            harness.awaitHandled();
        }
    }

    @Test
    void largeBodyIsSkipped() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                String body = "x".repeat(100_000); // larger than the 16 KiB head buffer
                client.sendRaw("PUT / HTTP/1.1\r\nContent-Length: " + body.length() + "\r\n\r\n" + body);
                assertHello(client.readResponse());
                assertHello(client.get("/"));
            }
            harness.awaitHandled();
        }
    }

    @Test
    void malformedRequestLineGets400AndClose() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                client.sendRaw("THIS IS NOT HTTP\r\n\r\n");
                Response response = client.readResponse();
                assertEquals(400, response.status());
                assertEquals("close", response.header("connection"));
                assertTrue(client.awaitServerClose());
            }
            harness.awaitHandled();
        }
    }

    @Test
    void malformedHeaderGets400() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                client.sendRaw("GET / HTTP/1.1\r\nContent-Length : 3\r\n\r\n");
                assertEquals(400, client.readResponse().status());
                assertTrue(client.awaitServerClose());
            }
            harness.awaitHandled();
        }
    }

    @Test
    void oversizedHeadGets431AndClose() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                client.sendRaw("GET / HTTP/1.1\r\nX-Big: " + "a".repeat(HttpExchange.MAX_HEAD_BYTES) + "\r\n\r\n");
                Response response = client.readResponse();
                assertEquals(431, response.status());
                assertEquals("close", response.header("connection"));
                assertTrue(client.awaitServerClose());
            }
            harness.awaitHandled();
        }
    }

    @Test
    void chunkedRequestGets411AndClose() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                client.sendRaw("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
                assertEquals(411, client.readResponse().status());
                assertTrue(client.awaitServerClose());
            }
            harness.awaitHandled();
        }
    }

    /**
     * Bytes already in the socket are read without the timeout (no fcntl), bytes still to come with it: a head that
     * arrives in pieces is answered, and a client that stalls after a first piece is dropped after the timeout, not
     * waited for forever.
     */
    @Test
    void requestInPiecesIsAnsweredAndAStallInsideItTimesOut() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of("keepAliveTimeoutMs", "2000")));
                HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
            client.sendRaw("GET / HT");
            // Not a wait for anything: the pauses make the handler's next read find the socket empty (the timed path).
            Thread.sleep(50);
            client.sendRaw("TP/1.1\r\nHost: x\r\n");
            Thread.sleep(50);
            client.sendRaw("\r\n");
            assertHello(client.readResponse());
            harness.awaitHandled(); // it parks the connection after the response (park defaults to true)
        }
        try (WorkerHarness harness = new WorkerHarness(started(Map.of("keepAliveTimeoutMs", "200", "park", "false")));
                HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
            client.sendRaw("GET / HTTP/1.1\r\nHost: x\r\n"); // read at once (available), then the head stalls
            harness.awaitHandled();
            assertTrue(client.awaitServerClose(), "a head stalled for longer than keepAliveTimeoutMs is dropped");
        }
    }

    @Test
    void idleKeepAliveConnectionIsDroppedAfterTheTimeout() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of("keepAliveTimeoutMs", "200")));
                HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
            assertHello(client.get("/"));
            // The client stays silent: handle must return on its own, well within the harness's deadline.
            harness.awaitHandled();
            assertTrue(client.awaitServerClose());
        }
    }

    @Test
    void slowRequestWaitsTheAskedMillisecondsThenAnswersHello() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            long t0 = System.nanoTime();
            assertHello(HttpClient.get(HOST, harness.port(), "/slow?ms=150", TIMEOUT));
            long tookMs = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(tookMs >= 150, "answered after " + tookMs + " ms, asked for 150");
            harness.awaitHandled();
        }
        assertEquals(0, HelloHttpWorker.slowMillis("/slow?ms=0"));
        assertEquals(HelloHttpWorker.MAX_SLOW_MS, HelloHttpWorker.slowMillis("/slow?ms=10000"));
        assertEquals(200, HelloHttpWorker.slowMillis("/slow?ms=00200"));
    }

    @Test
    void slowRequestOutOfRangeOrMalformedGets400NamingTheValue() throws Exception {
        for (String target : new String[] {"/slow?ms=10001", "/slow?ms=abc", "/slow?ms=", "/slow", "/slow?sleep=5",
                "/slow?ms=-1", "/slow?ms=999999"}) {
            assertEquals(-1, HelloHttpWorker.slowMillis(target), target);
            try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
                Response response = HttpClient.get(HOST, harness.port(), target, TIMEOUT);
                assertEquals(400, response.status(), target);
                assertTrue(response.body().contains(target) && response.body().contains("0 to 10000"),
                        response.body());
                assertEquals("close", response.header("connection"));
                harness.awaitHandled();
            }
        }
    }

    @Test
    void targetThatOnlyStartsWithSlowIsAnOrdinaryRequest() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(started(Map.of()))) {
            assertHello(HttpClient.get(HOST, harness.port(), "/slowly?ms=99999", TIMEOUT));
            harness.awaitHandled();
        }
    }

    @Test
    void invalidSettingFailsStart() {
        HelloHttpWorker worker = new HelloHttpWorker();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> worker.start(FakeContext.of(Map.of("keepAliveTimeoutMs", "soon"))));
        assertTrue(e.getMessage().contains("keepAliveTimeoutMs"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> worker.start(FakeContext.of(Map.of("keepAliveTimeoutMs", "0"))));
    }
}
