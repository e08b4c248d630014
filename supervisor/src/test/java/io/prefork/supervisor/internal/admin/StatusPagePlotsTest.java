package io.prefork.supervisor.internal.admin;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.MetricRegistry;
import io.prefork.supervisor.SupervisorStatus;
import io.prefork.supervisor.WorkerStatus;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The status page's scoreboard and plots, the history ring behind them, and the sampler that fills it. */
@Timeout(30)
class StatusPagePlotsTest {
    static WorkerStatus worker(long id, int index, String state, int inFlight) {
        return new WorkerStatus(id, index, 1000 + id, state, inFlight, 0, Duration.ofSeconds(3), Duration.ZERO);
    }

    static SupervisorStatus status(int target, int queued, WorkerStatus... workers) {
        return new SupervisorStatus("running", List.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), 8080)),
                queued, 0, 0, target, Instant.parse("2026-12-03T08:00:00Z"), List.of(workers));
    }

    @Test
    void scoreboardHasOneCharacterPerWorkerBySlot() {
        // Slot 0: busy; slot 1: a draining worker and its booting replacement (a reload); slot 2: idle;
        // slot 3: nothing yet (about to be respawned); slot 4: above the target, being removed (TTOU).
        SupervisorStatus s = status(4, 2, worker(1, 0, "ready", 2), worker(2, 1, "draining", 1),
                worker(7, 1, "starting", 0), worker(3, 2, "ready", 0), worker(5, 4, "stopping", 0));
        assertEquals("WDB_.S", StatusPage.scoreboardText(s));
        assertEquals('X', StatusPage.code(worker(9, 0, "dead", 0)));
        String html = StatusPage.render(s, 77, Instant.parse("2026-12-03T08:01:00Z"));
        assertTrue(html.contains("<span class=\"busy\">W</span><span class=\"drain\">D</span><span class=\"boot\">B"
                + "</span><span class=\"idle\">_</span><span class=\"open\">.</span><span class=\"stop\">S</span>"),
                html);
        assertTrue(html.contains("1 busy, 1 idle, 2 queued."), html);
        assertTrue(html.contains("<code class=\"idle\">_</code> ready, idle"), html);
        assertFalse(html.contains("<script"), "no script: " + html);
        assertFalse(html.contains("src="), "nothing fetched: " + html);
    }

    @Test
    void historyKeepsTheLastCapacitySamplesOldestFirst() {
        History h = new History(3, 1000);
        assertEquals(0, h.copy().size());
        for (int i = 1; i <= 5; i++) {
            h.add(i * 1000L, i, 10 * i, 100 * i, Double.NaN);
        }
        History.Snapshot s = h.copy();
        assertEquals(3, s.size());
        assertArrayEquals(new long[] {3000, 4000, 5000}, s.times);
        assertArrayEquals(new double[] {3, 4, 5}, s.series(History.CONNECTIONS_PER_SECOND));
        assertArrayEquals(new double[] {300, 400, 500}, s.series(History.BUSY_WORKERS));
        assertTrue(Double.isNaN(s.series(History.HANDOFF_MS)[2]));
    }

    @Test
    void plotsDrawTheWindowRightAlignedWithGapsWhereNothingWasMeasured() {
        StringBuilder h = new StringBuilder();
        // A 10-sample window holding 6: 2 points, a gap, 1 lone point, a gap, 1 point at "now".
        Plot.render(h, "queue depth", new double[] {1, 3, Double.NaN, 7, Double.NaN, 2}, 10, 5, 0);
        String svg = h.toString();
        assertTrue(svg.contains("<b>queue depth</b>: now 2, max 7"), svg);
        Matcher m = Pattern.compile("<polyline [^>]*points=\"([^\"]*)\"").matcher(svg);
        assertTrue(m.find(), svg);
        String[] points = m.group(1).split(" ");
        assertEquals(2, points.length, m.group(1));
        assertFalse(m.find(), "one run of two or more samples: " + svg);
        assertEquals(2, svg.split("<circle ", -1).length - 1, "the lone samples are dots: " + svg);
        // Plot area x from 40 to 312 over 9 steps: sample 4 of 10 (the first present) at 40 + 4 * 272/9.
        assertTrue(points[0].startsWith("160.9,"), points[0]);
        assertTrue(svg.contains("cx=\"312.0\""), "the newest at the right edge: " + svg);
        // y axis up to 10 (the round number above 7): 3 is 30% of the 84 px plot height above the bottom (92).
        assertTrue(points[1].endsWith(",66.8"), points[1]);
        assertTrue(svg.contains(">10</text>") && svg.contains(">-5 min</text>") && svg.contains(">now</text>"), svg);
    }

    @Test
    void theHalfWayLabelIsExact() {
        StringBuilder h = new StringBuilder();
        Plot.render(h, "busy workers", new double[] {3, 4}, 10, 5, 0);
        assertTrue(h.toString().contains(">5</text>") && h.toString().contains(">2.5</text>"), h.toString());
        h.setLength(0);
        Plot.render(h, "busy workers", new double[] {1, 0}, 10, 5, 0);
        assertTrue(h.toString().contains(">2</text>") && h.toString().contains(">1</text>"), h.toString());
    }

    @Test
    void anEmptyHistoryStillDrawsItsAxes() {
        StringBuilder h = new StringBuilder();
        Plot.render(h, "handoff latency (ms)", new double[0], 300, 5, 2);
        assertTrue(h.toString().contains("no samples yet"), h.toString());
        assertTrue(h.toString().contains("now &ndash;, max 0.00"), h.toString());
    }

    @Test
    void roundCeilings() {
        assertEquals(1, Plot.niceCeiling(0));
        assertEquals(1, Plot.niceCeiling(Double.NaN));
        assertEquals(0.5, Plot.niceCeiling(0.31), 1e-12);
        assertEquals(2, Plot.niceCeiling(2));
        assertEquals(5, Plot.niceCeiling(2.01));
        assertEquals(10, Plot.niceCeiling(7));
        assertEquals(2000, Plot.niceCeiling(1234));
    }

    @Test
    void samplerTurnsCountersIntoRatesAndTheLoopsAnswerIntoGauges() throws Exception {
        MetricRegistry registry = new MetricRegistry();
        History history = new History(10, 1000);
        AtomicReference<CompletableFuture<SupervisorStatus>> question = new AtomicReference<>();
        Sampler sampler = new Sampler(history, () -> {
            CompletableFuture<SupervisorStatus> f = new CompletableFuture<>();
            question.set(f);
            return f;
        }, registry);
        sampler.run(); // primes the counters; records nothing
        assertEquals(0, history.copy().size());
        registry.meter(Sampler.ACCEPTED).mark(50);
        registry.timer(Sampler.HANDOFFS).update(2, TimeUnit.MILLISECONDS);
        registry.timer(Sampler.HANDOFFS).update(4, TimeUnit.MILLISECONDS);
        registry.counter(Sampler.HANDOFF_NANOS).inc(6_000_000);
        question.get().complete(status(2, 3, worker(1, 0, "ready", 1), worker(2, 1, "ready", 0)));
        long t0 = System.nanoTime();
        while (System.nanoTime() - t0 < TimeUnit.MILLISECONDS.toNanos(100)) {
            Thread.sleep(10); // a known minimum interval, so the rate has a known maximum
        }
        sampler.run();
        double elapsed = (System.nanoTime() - t0) / 1e9;
        History.Snapshot s = history.copy();
        assertEquals(1, s.size());
        double rate = s.series(History.CONNECTIONS_PER_SECOND)[0];
        assertTrue(rate <= 50 / 0.1 && rate >= 50 / (elapsed + 1), "rate " + rate + " over about " + elapsed + " s");
        assertEquals(3, s.series(History.QUEUE_DEPTH)[0]);
        assertEquals(1, s.series(History.BUSY_WORKERS)[0]);
        assertEquals(3.0, s.series(History.HANDOFF_MS)[0], 1e-9, "mean of 2 and 4 ms");
        // The loop does not answer this time: gaps, not zeros; no handoffs: no latency.
        sampler.run();
        s = history.copy();
        assertEquals(0, s.series(History.CONNECTIONS_PER_SECOND)[1]);
        assertTrue(Double.isNaN(s.series(History.QUEUE_DEPTH)[1]));
        assertTrue(Double.isNaN(s.series(History.BUSY_WORKERS)[1]));
        assertTrue(Double.isNaN(s.series(History.HANDOFF_MS)[1]));
    }
}
