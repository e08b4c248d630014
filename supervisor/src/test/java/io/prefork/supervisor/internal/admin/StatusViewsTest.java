package io.prefork.supervisor.internal.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prefork.supervisor.SupervisorStatus;
import io.prefork.supervisor.WorkerStatus;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link StatusJson} and {@link StatusPage} on a hand-built snapshot. */
@Timeout(30)
class StatusViewsTest {
    static final Instant STARTED = Instant.parse("2026-11-21T10:00:00.5Z");

    static SupervisorStatus status(String workerState) throws Exception {
        return new SupervisorStatus("running", List.of(new InetSocketAddress(InetAddress.getByName("::1"), 8080),
                new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 8081)), 3, 42, 1, 2,
                STARTED, List.of(
                        new WorkerStatus(1, 0, 1001, workerState, 1, 20, Duration.ofMillis(12_345),
                                Duration.ofMillis(250)),
                        new WorkerStatus(3, 1, 1003, "starting", 0, 0, Duration.ofMillis(800), null)));
    }

    @Test
    void jsonHasEveryFieldInSecondsAndIso8601() throws Exception {
        JsonNode j = new ObjectMapper().readTree(StatusJson.render(status("ready"), 77));
        assertEquals("running", j.get("state").asText());
        assertEquals(77, j.get("pid").asLong());
        assertEquals(2, j.get("listen").size(), "one entry per --listen: " + j.get("listen"));
        assertEquals("[::1]:8080", j.get("listen").get(0).asText());
        assertEquals("127.0.0.1:8081", j.get("listen").get(1).asText());
        assertEquals(3, j.get("queueDepth").asInt());
        assertEquals(42, j.get("accepted").asLong());
        assertEquals(1, j.get("restarts").asLong());
        assertEquals(2, j.get("targetWorkers").asInt());
        assertEquals("2026-11-21T10:00:00.500Z", j.get("startedAt").asText());
        JsonNode w0 = j.get("workers").get(0);
        assertEquals(1, w0.get("id").asLong());
        assertEquals(0, w0.get("index").asInt());
        assertEquals(1001, w0.get("pid").asLong());
        assertEquals("ready", w0.get("state").asText());
        assertEquals(1, w0.get("inFlight").asInt());
        assertEquals(20, w0.get("served").asLong());
        assertEquals(12.345, w0.get("ageSeconds").asDouble());
        assertEquals(0.25, w0.get("lastHeartbeatSecondsAgo").asDouble());
        JsonNode w1 = j.get("workers").get(1);
        assertTrue(w1.has("lastHeartbeatSecondsAgo") && w1.get("lastHeartbeatSecondsAgo").isNull(), w1.toString());
    }

    @Test
    void parkedConnectionsAreInTheJsonAndOnThePage() throws Exception {
        SupervisorStatus base = status("ready");
        SupervisorStatus s = new SupervisorStatus(base.state(), base.listen(), base.queueDepth(), base.accepted(),
                base.restarts(), base.targetWorkers(), base.startedAt(), base.workers(), 9876, 54321);
        JsonNode j = new ObjectMapper().readTree(StatusJson.render(s, 77));
        assertEquals(9876, j.get("parked").asInt());
        assertEquals(54321, j.get("parkedResumed").asLong());
        assertEquals(0, new ObjectMapper().readTree(StatusJson.render(base, 77)).get("parked").asInt());
        String page = StatusPage.render(s, 77, STARTED.plusSeconds(1));
        assertTrue(page.contains("9876 now, 54321 resumed since start"), "the page shows the parked connections");
    }

    @Test
    void pageHasOneRowPerWorkerAndEscapesEverything() throws Exception {
        String html = StatusPage.render(status("<script>alert('x')</script>&"), 77, STARTED.plusSeconds(125));
        assertTrue(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"), html);
        assertEquals(2, html.split("<tr class=\"worker\">", -1).length - 1, html);
        assertFalse(html.contains("<script>"), html);
        assertTrue(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"), html);
        assertTrue(html.contains("<td>1001</td>"), html);
        assertTrue(html.contains("<td>12.3 s</td>"), html);
        assertTrue(html.contains("<td>never</td>"), html);
        assertTrue(html.contains("2 min 5 s"), html);
        assertTrue(html.contains("[::1]:8080, 127.0.0.1:8081"), html);
    }

    @Test
    void agesReadWell() {
        assertEquals("0.8 s", StatusPage.age(Duration.ofMillis(800)));
        assertEquals("3 min 12 s", StatusPage.age(Duration.ofSeconds(192)));
        assertEquals("5 h 07 min", StatusPage.age(Duration.ofMinutes(307)));
        assertEquals("2 d 03 h", StatusPage.age(Duration.ofHours(51)));
        assertEquals("0.0 s", StatusPage.age(Duration.ofMillis(-5)));
    }
}
