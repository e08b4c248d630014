package io.prefork.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prefork.supervisor.internal.admin.PrometheusText;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.supervisor.testworkers.FixedHttpWorker;
import io.prefork.testing.Poll;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The admin endpoint and JMX on a real, in-process {@link Supervisor} with two real worker JVMs
 * ({@link FixedHttpWorker}, from this module's test classes) on loopback.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AdminEndpointTest {
    static final Duration READY = Duration.ofSeconds(60);
    static final Duration IO = Duration.ofSeconds(10);
    static final int REQUESTS = 5;

    static final List<String> REQUIRED = List.of("prefork_connections_accepted_total counter",
            "prefork_workers gauge", "prefork_workers_ready gauge", "prefork_queue_depth gauge",
            "prefork_connections_inflight gauge", "prefork_handoff_seconds summary",
            "prefork_worker_restarts_total counter", "prefork_connections_redispatched_total counter",
            "prefork_connections_dropped_total counter", "prefork_handoff_reordered_total counter");

    final HttpClient http = HttpClient.newBuilder().connectTimeout(IO).build();
    final ObjectMapper json = new ObjectMapper();

    /** Whatever a failed test left behind: no worker JVM outlives it. */
    @AfterEach
    void killLeftovers() {
        ProcessHandle.current().descendants().forEach(ProcessHandle::destroyForcibly);
    }

    @Test
    void servesStatusMetricsAndPageAndRegistersMBeansUntilClosed() throws Exception {
        MBeanServer mbeans = ManagementFactory.getPlatformMBeanServer();
        ObjectName domain = new ObjectName(Supervisor.JMX_DOMAIN + ":*");
        Supervisor s = Supervisor.start(config().admin("127.0.0.1:0").build());
        InetSocketAddress admin = s.adminAddress();
        try {
            assertNotNull(admin);
            assertTrue(admin.getPort() > 0, "the real port, not 0: " + admin);
            s.ready().get(READY.toSeconds(), TimeUnit.SECONDS);
            for (int i = 0; i < REQUESTS; i++) {
                assertTrue(request(s.listenAddress()).endsWith("\r\n\r\nok\n"));
            }

            // /status: JSON from the loop's snapshot.
            HttpResponse<String> r = get(admin, "/status");
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("application/json; charset=utf-8", r.headers().firstValue("content-type").orElse(""));
            JsonNode st = json.readTree(r.body());
            assertEquals("running", st.get("state").asText());
            assertEquals(TcpListener.format(s.listenAddress()), st.get("listen").get(0).asText());
            assertEquals(ProcessHandle.current().pid(), st.get("pid").asLong());
            assertEquals(2, st.get("targetWorkers").asInt());
            assertEquals(0, st.get("queueDepth").asInt());
            assertEquals(0, st.get("restarts").asLong());
            assertTrue(st.get("accepted").asLong() >= REQUESTS, r.body());
            assertTrue(Instant.parse(st.get("startedAt").asText()).isBefore(Instant.now()));
            JsonNode workers = st.get("workers");
            assertEquals(2, workers.size(), r.body());
            Set<Long> pids = new HashSet<>();
            Set<Integer> indexes = new HashSet<>();
            for (JsonNode w : workers) {
                assertEquals("ready", w.get("state").asText(), r.body());
                for (String field : List.of("id", "inFlight", "served", "ageSeconds")) {
                    assertTrue(w.get(field).isNumber(), field + " in " + w);
                }
                JsonNode hb = w.get("lastHeartbeatSecondsAgo");
                assertTrue(hb != null && (hb.isNull() || hb.isNumber()), "lastHeartbeatSecondsAgo in " + w);
                pids.add(w.get("pid").asLong());
                indexes.add(w.get("index").asInt());
            }
            assertEquals(Set.of(0, 1), indexes);
            Set<Long> children = ProcessHandle.current().children().filter(ProcessHandle::isAlive)
                    .map(ProcessHandle::pid).collect(Collectors.toSet());
            assertEquals(children, pids, "the workers /status lists are this JVM's child processes");

            // /metrics: the handoff is timed when the worker's TAKEN report arrives, which may be a moment after
            // the client got its answer: poll for it.
            Poll.within(IO).until("every handoff timed in /metrics: prefork_handoff_seconds_count " + REQUESTS,
                    () -> samples(metrics(admin)).get("prefork_handoff_seconds_count"),
                    count -> Double.valueOf(REQUESTS).equals(count));
            HttpResponse<String> m = get(admin, "/metrics");
            assertEquals(200, m.statusCode());
            assertEquals(PrometheusText.CONTENT_TYPE, m.headers().firstValue("content-type").orElse(""));
            for (String typeLine : REQUIRED) {
                String name = typeLine.substring(0, typeLine.indexOf(' '));
                assertTrue(m.body().contains("\n# TYPE " + typeLine + "\n"), typeLine + " in\n" + m.body());
                assertTrue(m.body().contains("# HELP " + name + " "), "HELP of " + name + " in\n" + m.body());
            }
            Map<String, Double> samples = samples(m.body());
            assertEquals(REQUESTS, samples.get("prefork_connections_accepted_total").doubleValue(), m.body());
            assertEquals(2, samples.get("prefork_workers").doubleValue(), m.body());
            assertEquals(2, samples.get("prefork_workers_ready").doubleValue(), m.body());
            assertTrue(samples.get("prefork_handoff_seconds_sum") > 0, m.body());
            double median = samples.get("prefork_handoff_seconds{quantile=\"0.5\"}");
            assertTrue(median > 0 && median < 10, "the median handoff in seconds, not nanoseconds: " + median);

            // /: one row per worker.
            HttpResponse<String> page = get(admin, "/");
            assertEquals(200, page.statusCode());
            assertEquals("text/html; charset=utf-8", page.headers().firstValue("content-type").orElse(""));
            assertTrue(page.body().contains("<meta http-equiv=\"refresh\" content=\"5\">"), page.body());
            assertEquals(2, count(page.body(), "<tr class=\"worker\">"), page.body());
            for (long pid : pids) {
                assertTrue(page.body().contains("<td>" + pid + "</td>"), pid + " in " + page.body());
            }

            // Anything else.
            assertEquals(404, get(admin, "/nope").statusCode());
            assertEquals(404, get(admin, "/status/").statusCode());
            HttpResponse<String> post = http.send(HttpRequest.newBuilder(uri(admin, "/status")).timeout(IO)
                    .POST(HttpRequest.BodyPublishers.ofString("x")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(405, post.statusCode());
            assertEquals("GET", post.headers().firstValue("allow").orElse(""));

            // JMX: the registry's MBeans, under the "prefork" domain.
            assertFalse(mbeans.queryNames(domain, null).isEmpty());
            assertEquals(2, ((Number) mbeans.getAttribute(
                    new ObjectName("prefork:name=prefork.workers,type=gauges"), "Value")).intValue());
        } finally {
            s.close();
        }
        assertTrue(s.terminated().isDone());
        assertThrows(ConnectException.class, () -> {
            try (Socket socket = new Socket()) {
                socket.connect(admin, (int) IO.toMillis());
            }
        }, "the admin port is closed once the supervisor terminated");
        assertTrue(mbeans.queryNames(domain, null).isEmpty(), "MBeans unregistered");
        assertEquals(List.of(), ProcessHandle.current().children().filter(ProcessHandle::isAlive)
                .map(ProcessHandle::pid).collect(Collectors.toList()), "no worker outlives the supervisor");
        // Stopped synchronously before terminated() completes: nothing to wait for.
        assertEquals(List.of(), Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
                .map(Thread::getName).filter(n -> n.startsWith("prefork-admin") || n.equals("HTTP-Dispatcher"))
                .collect(Collectors.toList()), "admin threads left");
    }

    @Test
    void adminAddressIsNullWithoutAdmin() throws Exception {
        try (Supervisor s = Supervisor.start(config().jmx(false).build())) {
            assertNull(s.adminAddress());
        }
    }

    @Test
    void adminPortInUseFailsTheStartAndUndoesEverything() throws Exception {
        int listenPort;
        try (ServerSocket probe = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            listenPort = probe.getLocalPort();
        }
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            SupervisorConfig c = config().listen("127.0.0.1:" + listenPort)
                    .admin("127.0.0.1:" + taken.getLocalPort()).build();
            StartupException e = assertThrows(StartupException.class, () -> Supervisor.start(c));
            assertEquals(ExitCodes.LISTEN_FAILED, e.exitCode());
            assertEquals("--admin 127.0.0.1:" + taken.getLocalPort() + ": address already in use; stop the process "
                    + "using that port or choose another port", e.getMessage());
        }
        assertEquals(List.of(), ProcessHandle.current().children().filter(ProcessHandle::isAlive)
                .map(ProcessHandle::pid).collect(Collectors.toList()), "workers started before the failure");
        assertTrue(ManagementFactory.getPlatformMBeanServer()
                .queryNames(new ObjectName(Supervisor.JMX_DOMAIN + ":*"), null).isEmpty(), "MBeans left");
        // The listening socket was closed: its port can be bound again.
        try (ServerSocket again = new ServerSocket(listenPort, 1, java.net.InetAddress.getLoopbackAddress())) {
            assertEquals(listenPort, again.getLocalPort());
        }
    }

    @Test
    void nonLoopbackAdminNeedsAllowRemote() throws Exception {
        ConfigException e = assertThrows(ConfigException.class, () -> config().admin("0.0.0.0:9090").build());
        assertEquals("--admin", e.setting());
        assertTrue(e.getMessage().contains("--admin-allow-remote"), e.getMessage());
        assertEquals(9090, config().admin("0.0.0.0:9090").adminAllowRemote(true).build().admin().getPort());
    }

    // ------------------------------------------------------------------------------------------------ helpers

    static SupervisorConfig.Builder config() throws Exception {
        Path testClasses = Path.of(FixedHttpWorker.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        return SupervisorConfig.builder().listen("127.0.0.1:0").workers(2)
                .workerClass(FixedHttpWorker.class.getName()).workerClasspath(List.of(testClasses))
                .gracefulTimeout(Duration.ofSeconds(5));
    }

    /** One request on a new TCP connection to the listen port; the whole response, read to end-of-stream. */
    static String request(InetSocketAddress listen) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(listen, (int) IO.toMillis());
            socket.setSoTimeout((int) IO.toMillis());
            socket.getOutputStream().write("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            in.transferTo(out);
            return out.toString(StandardCharsets.US_ASCII);
        }
    }

    HttpResponse<String> get(InetSocketAddress admin, String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(uri(admin, path)).timeout(IO).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    String metrics(InetSocketAddress admin) {
        try {
            return get(admin, "/metrics").body();
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static URI uri(InetSocketAddress a, String path) {
        return URI.create("http://" + TcpListener.format(a) + path);
    }

    private static final Pattern SAMPLE = Pattern.compile("^([a-z_]+(?:\\{[^}]*\\})?) (\\S+)$", Pattern.MULTILINE);

    /** Every sample line, {@code name{labels}} to value. */
    static Map<String, Double> samples(String exposition) {
        Map<String, Double> out = new HashMap<>();
        Matcher m = SAMPLE.matcher(exposition);
        while (m.find()) {
            out.put(m.group(1), Double.parseDouble(m.group(2)));
        }
        return out;
    }

    static int count(String text, String part) {
        int n = 0;
        for (int i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + 1)) {
            n++;
        }
        return n;
    }
}
