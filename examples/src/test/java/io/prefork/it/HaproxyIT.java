package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prefork.testing.Poll;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real HAProxy in front of the supervisor on loopback, sending PROXY protocol v2 ({@code send-proxy-v2}), with
 * health checks on the admin endpoint's {@code /ready}: {@code HelloHttpWorker} sees each client's own address and
 * port, over IPv4 and IPv6, although every connection it receives comes from HAProxy. Skipped, saying why, where
 * HAProxy is not installed ({@code .ci/run} installs it on CI).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HaproxyIT {
    static final Duration READY = Duration.ofSeconds(45);
    static final Duration IO = Duration.ofSeconds(15);

    static Path haproxy() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            for (String name : new String[]{"haproxy"}) {
                Path p = Path.of(dir, name);
                if (Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        for (String p : new String[]{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"}) {
            if (Files.isExecutable(Path.of(p))) {
                return Path.of(p);
            }
        }
        return null;
    }

    @Test
    void haproxyWithSendProxyV2PassesTheClientsAddress(@TempDir Path dir) throws Exception {
        Path haproxy = haproxy();
        assumeTrue(haproxy != null, "HAProxy is not installed (Debian: apt-get install haproxy; .ci/run does it when "
                + "CI is set): the PROXY protocol is tested with hand-made headers only, by ProxyProtocolIT");
        try (SupervisorProcess s = SupervisorProcess.startExample(2, "io.prefork.examples.HelloHttpWorker",
                "--admin", "127.0.0.1:0", "--proxy-protocol", "v2")) {
            int port = s.awaitReady(READY);
            s.awaitWorkers(2, READY);
            int adminPort = s.admin().port();
            int front = freePort();
            Path cfg = dir.resolve("haproxy.cfg");
            Files.writeString(cfg, String.join("\n",
                    "global",
                    "    maxconn 256",
                    "defaults",
                    "    mode tcp",
                    "    timeout connect 5s",
                    "    timeout client 30s",
                    "    timeout server 30s",
                    "frontend fe",
                    "    bind 127.0.0.1:" + front,
                    "    bind [::1]:" + front,
                    "    default_backend be",
                    "backend be",
                    "    option httpchk GET /ready",
                    "    http-check expect status 200",
                    "    server s1 127.0.0.1:" + port + " send-proxy-v2 check port " + adminPort
                            + " inter 500ms rise 1 fall 1",
                    ""));
            Process p = new ProcessBuilder(haproxy.toString(), "-db", "-f", cfg.toString())
                    .redirectErrorStream(true).redirectOutput(dir.resolve("haproxy.log").toFile()).start();
            try {
                // Polled: HAProxy takes a moment to bind and to pass its first check on /ready.
                Poll.within(READY).until("HAProxy forwarding", () -> clientAddressVia("127.0.0.1", front),
                        a -> a != null);
                // Each answer names the client socket's own port, which only the PROXY header can tell the worker.
                List<String> mismatches = Collections.synchronizedList(new ArrayList<>());
                for (int i = 0; i < 20; i++) {
                    check("127.0.0.1", front, "127.0.0.1", mismatches);
                    check("::1", front, "[0:0:0:0:0:0:0:1]", mismatches);
                }
                assertEquals(List.of(), mismatches, "X-Client-Address not the client's own address");
                assertEquals(0, s.admin().metric("prefork_proxy_refused_total"),
                        "HAProxy's header accepted on every connection; " + Files.readString(dir.resolve("haproxy.log")));
            } finally {
                p.destroy();
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            }
        }
    }

    private static void check(String host, int port, String expectedHost, List<String> mismatches) throws IOException {
        try (Socket c = new Socket()) {
            c.connect(new InetSocketAddress(host, port), (int) IO.toMillis());
            c.setSoTimeout((int) IO.toMillis());
            c.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            HttpClient.Response r = HttpClient.readResponse(c.getInputStream(), false, true);
            String expected = expectedHost + ":" + c.getLocalPort();
            if (r.status() != 200 || !expected.equals(r.header("X-Client-Address"))) {
                mismatches.add("expected " + expected + ", got " + r.status() + " " + r.header("X-Client-Address"));
            }
        }
    }

    /** The X-Client-Address of one request through HAProxy, or null if it does not answer (yet). */
    private static String clientAddressVia(String host, int port) {
        try (Socket c = new Socket()) {
            c.connect(new InetSocketAddress(host, port), 2000);
            c.setSoTimeout(5000);
            c.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            HttpClient.Response r = HttpClient.readResponse(c.getInputStream(), false, true);
            return r.status() == 200 ? r.header("X-Client-Address") : null;
        } catch (IOException e) {
            return null;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket ss = new ServerSocket(0)) {
            return ss.getLocalPort();
        }
    }
}
