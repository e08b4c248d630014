package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.testing.Poll;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code --proxy-protocol} with the real supervisor and worker JVMs, hand-made v1 and v2 headers on loopback (an
 * allowed balancer by default): {@code HelloHttpWorker} answers the client address the header gave, and a connection
 * with a missing, malformed or too slow header, or from a peer not allowed, is closed unanswered and counted in
 * {@code /metrics}, while the worker goes on serving.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ProxyProtocolIT {
    static final Duration READY = Duration.ofSeconds(45);
    static final Duration IO = Duration.ofSeconds(15);
    static final String HELLO = "io.prefork.examples.HelloHttpWorker";
    static final byte[] V2_SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    static final String GET = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    @Test
    void v1AndV2HeadersGiveTheClientAddressAndBadOnesAreRefusedAndCounted() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1, HELLO, "--admin", "127.0.0.1:0",
                "--proxy-protocol", "auto")) {
            int port = s.awaitReady(READY);
            s.awaitWorkers(1, READY);

            HttpClient.Response v1 = exchange(port, ascii("PROXY TCP4 203.0.113.7 192.0.2.1 4242 80\r\n" + GET));
            assertEquals(200, v1.status());
            assertEquals("203.0.113.7:4242", v1.header("X-Client-Address"));

            ByteBuffer addr = ByteBuffer.allocate(36).put(InetAddress.getByName("2001:db8::7").getAddress())
                    .put(InetAddress.getByName("2001:db8::1").getAddress()).putShort((short) 65000)
                    .putShort((short) 443);
            byte[] alpn = {0x01, 0x00, 0x02, 'h', '2'};
            HttpClient.Response v2 = exchange(port, concat(v2(0x21, 0x21, concat(addr.array(), alpn)), ascii(GET)));
            assertEquals("[2001:db8:0:0:0:0:0:7]:65000", v2.header("X-Client-Address"));

            // LOCAL (a balancer's own health check): the connection's real peer, here this test's socket.
            try (Socket local = new Socket()) {
                local.connect(new InetSocketAddress("127.0.0.1", port), (int) IO.toMillis());
                local.setSoTimeout((int) IO.toMillis());
                local.getOutputStream().write(concat(v2(0x20, 0x00, new byte[0]), ascii(GET)));
                HttpClient.Response r = HttpClient.readResponse(local.getInputStream(), false, true);
                assertEquals("127.0.0.1:" + local.getLocalPort(), r.header("X-Client-Address"));
            }

            assertEquals(0, s.admin().metric("prefork_proxy_refused_total"));
            // Missing (plain HTTP), malformed v1, v2 with an unassigned command, and one that stops half-way
            // (refused at the 2 s header deadline): each closed without an answer.
            assertRefused(port, ascii(GET));
            assertRefused(port, ascii("PROXY TCP4 203.0.113.7 192.0.2.1 4242\r\n" + GET));
            assertRefused(port, concat(v2(0x2F, 0x11, new byte[12]), ascii(GET)));
            long slowStart = System.nanoTime();
            assertRefused(port, ascii("PROXY TCP4 203.0.113.7 "));
            long slowMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - slowStart);
            assertTrue(slowMs >= 1900, "a slow header is given its 2 s: closed after " + slowMs + " ms");

            Poll.within(IO).until("4 refusals in /metrics (reported with the next heartbeats)",
                    () -> s.admin().metric("prefork_proxy_refused_total"), n -> n == 4);
            // Logged, but rate-limited: the first refusal's line, not one line per refusal.
            s.awaitOutput("unserved: no PROXY protocol v1 or v2 header", IO);
            long lines = s.output().stream().filter(l -> l.contains("unserved:")).count();
            assertTrue(lines >= 1 && lines < 4, lines + " log lines for 4 refusals within 10 s");

            // The worker (one, at concurrency 1) is still serving.
            assertEquals("198.51.100.9:1",
                    exchange(port, ascii("PROXY TCP4 198.51.100.9 192.0.2.1 1 80\r\n" + GET)).header("X-Client-Address"));
            assertEquals(0, s.admin().metric("prefork_connections_dropped_total"));
        }
    }

    /**
     * A kept-alive connection behind a balancer: the header comes once, the connection is parked between requests
     * (HelloHttpWorker parks by default) and resumed, and every request on it still sees the client's address, not
     * the balancer's, and the next request's bytes are not taken for a header.
     */
    @Test
    void aParkedAndResumedConnectionKeepsTheClientAddressFromItsOneHeader() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1, HELLO, "--admin", "127.0.0.1:0",
                "--proxy-protocol", "v1");
             Socket c = new Socket()) {
            int port = s.awaitReady(READY);
            s.awaitWorkers(1, READY);
            c.connect(new InetSocketAddress("127.0.0.1", port), (int) IO.toMillis());
            c.setSoTimeout((int) IO.toMillis());
            String keepAlive = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
            c.getOutputStream().write(ascii("PROXY TCP4 203.0.113.7 192.0.2.1 4242 80\r\n" + keepAlive));
            assertEquals("203.0.113.7:4242",
                    HttpClient.readResponse(c.getInputStream(), false, false).header("X-Client-Address"));
            for (int i = 1; i <= 3; i++) {
                long parkedBefore = i;
                // Parked after each answer; the next request resumes it, in whichever worker.
                Poll.within(IO).until("the connection parked " + parkedBefore + " time(s)",
                        () -> s.admin().metric("prefork_parked_total"), n -> n >= parkedBefore);
                c.getOutputStream().write(ascii(keepAlive));
                assertEquals("203.0.113.7:4242",
                        HttpClient.readResponse(c.getInputStream(), false, false).header("X-Client-Address"),
                        "request " + (i + 1) + ", after a park");
            }
            assertTrue(s.admin().metric("prefork_parked_resumed_total") >= 3, "resumed from parking");
            assertEquals(0, s.admin().metric("prefork_proxy_refused_total"), "no later request taken for a header");
        }
    }

    @Test
    void aPeerNotInTheAllowListIsRefusedEvenWithAValidHeader() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1, HELLO, "--admin", "127.0.0.1:0",
                "--proxy-protocol", "v1", "--proxy-allow-from", "10.0.0.0/8,fd00::/8")) {
            int port = s.awaitReady(READY);
            s.awaitWorkers(1, READY);
            assertRefused(port, ascii("PROXY TCP4 203.0.113.7 192.0.2.1 4242 80\r\n" + GET));
            Poll.within(IO).until("the refusal in /metrics", () -> s.admin().metric("prefork_proxy_refused_total"),
                    n -> n == 1);
            s.awaitOutput("is not in --proxy-allow-from 10.0.0.0/8,fd00::/8", IO);
        }
    }

    @Test
    void offByDefaultAHeaderIsTheApplicationsBytes() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1, HELLO)) {
            int port = s.awaitReady(READY);
            HttpClient.Response plain = exchange(port, ascii(GET));
            assertTrue(plain.header("X-Client-Address").startsWith("127.0.0.1:"), plain.header("X-Client-Address"));
        }
    }

    /** Sends {@code bytes} on a new connection and reads the one response, up to the server's close. */
    private static HttpClient.Response exchange(int port, byte[] bytes) throws IOException {
        try (Socket c = new Socket()) {
            c.connect(new InetSocketAddress("127.0.0.1", port), (int) IO.toMillis());
            c.setSoTimeout((int) IO.toMillis());
            c.getOutputStream().write(bytes);
            return HttpClient.readResponse(c.getInputStream(), false, true);
        }
    }

    /** Sends {@code bytes} and expects the server to close the connection without a byte of answer. */
    private static void assertRefused(int port, byte[] bytes) throws IOException {
        try (Socket c = new Socket()) {
            c.connect(new InetSocketAddress("127.0.0.1", port), (int) IO.toMillis());
            c.setSoTimeout((int) IO.toMillis());
            c.getOutputStream().write(bytes);
            InputStream in = c.getInputStream();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            try {
                in.transferTo(got);
            } catch (SocketTimeoutException e) {
                throw new AssertionError("not closed within " + IO + " after sending "
                        + new String(bytes, StandardCharsets.ISO_8859_1).replace("\r\n", "\\r\\n"), e);
            } catch (IOException reset) {
                // Closed with our request unread: the kernel answers RST. Refused either way.
            }
            assertEquals("", got.toString(StandardCharsets.ISO_8859_1), "no answer to a refused connection");
        }
    }

    static byte[] v2(int verCmd, int famProto, byte[] body) {
        return ByteBuffer.allocate(16 + body.length).put(V2_SIGNATURE).put((byte) verCmd).put((byte) famProto)
                .putShort((short) body.length).put(body).array();
    }

    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }
}
