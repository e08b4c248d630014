package io.prefork.it;

import io.prefork.testing.Poll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Native;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What every "existing application" HTTP worker (a framework running on the passed channels under its own selector)
 * must do, checked with real clients: the JDK's {@code java.net.http.HttpClient} over HTTP/1.1 and {@code curl}.
 * Subclasses name the worker class; failsafe runs them as {@code *IT}.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
abstract class HttpFrameworkContract {
    // A framework worker JVM boots slower than HelloHttpWorker, and the machine is shared: generous deadlines.
    static final Duration READY = Duration.ofSeconds(90);
    static final Duration IO = Duration.ofSeconds(20);
    static final int MIB = 1024 * 1024;

    /** The worker class under test, e.g. {@code io.prefork.examples.JettyWorker}. */
    abstract String workerClass();

    /**
     * Sends one request whose header block (16 KiB) is larger than both frameworks accept by default (8 KiB), and
     * returns the answer. Which status comes back is the framework's own choice, so each subclass asserts its own:
     * the request never reaches the application, only the framework's parser, which shows that parser is the one
     * reading the passed channel.
     */
    HttpClient.Response oversizedHeaderAnswer() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1, workerClass())) {
            int port = s.awaitReady(READY);
            try (HttpClient.KeepAlive k = new HttpClient.KeepAlive("127.0.0.1", port, IO)) {
                return k.request("GET", "/", Map.of("X-Large", "a".repeat(16 * 1024)));
            }
        }
    }

    @TempDir
    Path tmp;

    @Test
    void jdkHttpClientKeepsOneConnectionAliveAndEchoesLargeAndChunkedBodies() throws Exception {
        int admin = freePort();
        // keepAliveTimeoutMs: long enough that the client's requests share one connection, short enough that the
        // server closes it soon after (the JDK 17 client cannot be closed), for the leak check at the end.
        try (SupervisorProcess s = SupervisorProcess.startExample(1, workerClass(), "--admin", "127.0.0.1:" + admin,
                "--worker-setting", "keepAliveTimeoutMs=3000")) {
            int port = s.awaitReady(READY);
            long worker = s.awaitWorkers(1, READY).iterator().next();
            Set<String> socketsBefore = sockets(worker);

            java.net.http.HttpClient client = java.net.http.HttpClient.newBuilder()
                    .version(java.net.http.HttpClient.Version.HTTP_1_1).connectTimeout(IO).build();
            URI root = URI.create("http://127.0.0.1:" + port + "/");
            for (int i = 0; i < 5; i++) {
                HttpResponse<String> r = client.send(HttpRequest.newBuilder(root.resolve("/?n=" + i)).timeout(IO)
                        .build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode());
                assertEquals(Long.toString(worker), r.headers().firstValue("X-Prefork-Worker").orElse(null));
                assertEquals("Hello from prefork worker " + worker + "\n", r.body());
                assertEquals("text/plain;charset=utf-8",
                        r.headers().firstValue("Content-Type").orElse("").replace(" ", "").toLowerCase());
            }

            byte[] mib = randomBytes(MIB, 1);
            HttpResponse<byte[]> sized = client.send(HttpRequest.newBuilder(root.resolve("/echo")).timeout(IO)
                    .POST(HttpRequest.BodyPublishers.ofByteArray(mib)).build(), HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(200, sized.statusCode());
            assertArrayEquals(mib, sized.body(), "1 MiB echoed");

            // A publisher of unknown length: the client sends the body chunked.
            byte[] odd = randomBytes(3 * MIB / 2 + 17, 2);
            HttpRequest chunkedRequest = HttpRequest.newBuilder(root.resolve("/echo")).timeout(IO)
                    .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(odd))).build();
            assertEquals(-1, chunkedRequest.bodyPublisher().orElseThrow().contentLength(), "sent chunked");
            HttpResponse<byte[]> chunked = client.send(chunkedRequest, HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(200, chunked.statusCode());
            assertArrayEquals(odd, chunked.body(), "chunked body echoed");

            // Seven requests, one TCP connection: the supervisor accepted exactly one.
            assertEquals(1, accepted(admin), "connections the supervisor accepted for 7 keep-alive requests");

            // Jetty/Netty closes the idle connection; its socket goes, and nothing else of it stays.
            Poll.within(IO).until("worker " + worker + " sockets back to " + socketsBefore, () -> sockets(worker),
                    socketsBefore::equals);
            assertEquals(Set.of(worker), s.workerPids(), "the worker survived");
        }
    }

    @Test
    void curlReusesTheConnectionAndEchoesSizedAndChunkedUploads() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")),
                "curl is not installed at /usr/bin/curl (apt-get install curl); the JDK client test covers the rest");
        try (SupervisorProcess s = SupervisorProcess.startExample(2, workerClass())) {
            int port = s.awaitReady(READY);
            Set<Long> workers = s.awaitWorkers(2, READY);
            String base = "http://127.0.0.1:" + port;

            // Two URLs on one command line: curl keeps the connection and says so on stderr with -v.
            Curl both = curl("-sS", "-v", "-o", tmp.resolve("a").toString(), "-o", tmp.resolve("b").toString(),
                    base + "/", base + "/second");
            assertTrue(both.stderr.contains("Re-using existing connection"), "curl reused its connection:\n"
                    + both.stderr);
            String a = Files.readString(tmp.resolve("a"));
            assertEquals(a, Files.readString(tmp.resolve("b")), "both answered by the same worker");
            Matcher m = Pattern.compile("Hello from prefork worker (\\d+)\n").matcher(a);
            assertTrue(m.matches(), a);
            assertTrue(workers.contains(Long.parseLong(m.group(1))), a + " names one of " + workers);

            Path body = tmp.resolve("body");
            Files.write(body, randomBytes(MIB, 3));
            Path sized = tmp.resolve("sized");
            curl("-sS", "--fail", "--data-binary", "@" + body, "-o", sized.toString(), base + "/echo");
            assertEquals(-1L, Files.mismatch(body, sized), "1 MiB echoed through curl");

            Path chunked = tmp.resolve("chunked");
            Curl c = curl("-sS", "-v", "--fail", "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + body,
                    "-o", chunked.toString(), base + "/echo");
            assertTrue(c.stderr.toLowerCase().contains("transfer-encoding: chunked"), c.stderr);
            assertEquals(-1L, Files.mismatch(body, chunked), "chunked upload echoed through curl");
            assertEquals(workers, s.workerPids(), "no worker died");
        }
    }

    @Test
    void concurrencyKServesKConnectionsAtOnce() throws Exception {
        // An idle timeout far beyond the read timeout: a worker serving one connection at a time would leave the
        // later ones unanswered until the test's reads time out.
        try (SupervisorProcess s = SupervisorProcess.startExample(1, workerClass(), "--concurrency", "3",
                "--worker-setting", "keepAliveTimeoutMs=120000")) {
            int port = s.awaitReady(READY);
            long worker = s.awaitWorkers(1, READY).iterator().next();
            List<HttpClient.KeepAlive> open = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) {
                    open.add(new HttpClient.KeepAlive("127.0.0.1", port, IO));
                }
                for (int round = 0; round < 2; round++) {
                    for (HttpClient.KeepAlive c : open) {
                        HttpClient.Response r = c.get("/");
                        assertEquals(200, r.status());
                        assertEquals(Long.toString(worker), r.header("x-prefork-worker"));
                    }
                }
            } finally {
                for (HttpClient.KeepAlive c : open) {
                    c.close();
                }
            }
        }
    }

    @Test
    void handleReturnsWhenTheFrameworkClosesTheConnection() throws Exception {
        // One worker, one connection at a time: the second client is served only once handle() has returned for
        // the first, which happens when the framework closes it after its idle timeout (the client never closes).
        try (SupervisorProcess s = SupervisorProcess.startExample(1, workerClass(),
                "--worker-setting", "keepAliveTimeoutMs=1000")) {
            int port = s.awaitReady(READY);
            long worker = s.awaitWorkers(1, READY).iterator().next();
            long fdsBefore = SupervisorProcess.fdCount(worker);
            try (HttpClient.KeepAlive idle = new HttpClient.KeepAlive("127.0.0.1", port, IO)) {
                assertEquals(200, idle.get("/").status());
                HttpClient.Response second = HttpClient.get("127.0.0.1", port, "/", IO);
                assertEquals(200, second.status());
                assertTrue(idle.awaitServerClose(), "the framework closed the idle connection");
            }
            // And Connection: close closes too, each time, without leaving a descriptor behind.
            for (int i = 0; i < 20; i++) {
                assertEquals(200, HttpClient.get("127.0.0.1", port, "/", IO).status());
            }
            Poll.within(IO).until("worker descriptors back to " + fdsBefore, () -> SupervisorProcess.fdCount(worker),
                    n -> n <= fdsBefore);

            // A graceful stop ends the framework's threads too: no worker JVM outlives the supervisor.
            s.signal(Native.SIGTERM);
            assertEquals(0, s.awaitExit(READY), "exit code after a graceful stop");
            Poll.within(IO).until("no process of this supervisor left", s::taggedProcesses, Set::isEmpty);
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    static Set<String> sockets(long pid) {
        return SupervisorProcess.fdTargets(pid, true).stream().filter(t -> t.startsWith("socket:"))
                .collect(Collectors.toCollection(HashSet::new));
    }

    /** A port free a moment ago, for {@code --admin} (which does not print the port it bound). */
    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            return s.getLocalPort();
        }
    }

    /** {@code accepted} from the admin endpoint's {@code /status}: connections the supervisor accepted. */
    static long accepted(int adminPort) throws Exception {
        java.net.http.HttpClient c = java.net.http.HttpClient.newBuilder().connectTimeout(IO).build();
        String json = c.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/status"))
                .timeout(IO).build(), HttpResponse.BodyHandlers.ofString()).body();
        Matcher m = Pattern.compile("\"accepted\"\\s*:\\s*(\\d+)").matcher(json);
        assertTrue(m.find(), "no accepted count in " + json);
        return Long.parseLong(m.group(1));
    }

    record Curl(String stdout, String stderr) {
    }

    /** Runs curl with a hard deadline; fails on a non-zero exit, with its output. */
    Curl curl(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/curl", "--max-time", "30"));
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile(tmp, "curl", ".out");
        Path err = Files.createTempFile(tmp, "curl", ".err");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("curl did not finish in 60 s: " + cmd);
        }
        Curl result = new Curl(Files.readString(out, StandardCharsets.ISO_8859_1),
                Files.readString(err, StandardCharsets.ISO_8859_1));
        assertEquals(0, p.exitValue(), "curl " + cmd + " failed:\n" + result.stderr);
        return result;
    }
}
