package io.prefork.supervisor.internal.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.SlidingWindowReservoir;
import com.codahale.metrics.Timer;
import io.prefork.supervisor.internal.admin.PrometheusText.Family;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class PrometheusTextTest {

    @Test
    void writesHelpTypeAndSampleForEachKind() {
        MetricRegistry r = new MetricRegistry();
        r.meter("accepted").mark(3);
        r.counter("restarts").inc(2);
        r.register("depth", (Gauge<Integer>) () -> 7);
        r.register("ratio", (Gauge<Double>) () -> 0.25);
        List<Family> families = List.of(
                Family.counter("x_accepted_total", "accepted", "Accepted."),
                Family.counter("x_restarts_total", "restarts", "Restarts."),
                Family.gauge("x_depth", "depth", "Depth."),
                Family.gauge("x_ratio", "ratio", "Ratio."));
        assertEquals("# HELP x_accepted_total Accepted.\n"
                + "# TYPE x_accepted_total counter\n"
                + "x_accepted_total 3\n"
                + "# HELP x_restarts_total Restarts.\n"
                + "# TYPE x_restarts_total counter\n"
                + "x_restarts_total 2\n"
                + "# HELP x_depth Depth.\n"
                + "# TYPE x_depth gauge\n"
                + "x_depth 7\n"
                + "# HELP x_ratio Ratio.\n"
                + "# TYPE x_ratio gauge\n"
                + "x_ratio 0.25\n", PrometheusText.render(r, families));
    }

    @Test
    void summaryIsInSecondsWithQuantilesSumAndCount() {
        MetricRegistry r = new MetricRegistry();
        // A uniform sample, so the quantiles are exact: 250 ms three times.
        Timer t = r.timer("lat", () -> new Timer(new SlidingWindowReservoir(16)));
        for (int i = 0; i < 3; i++) {
            t.update(250, TimeUnit.MILLISECONDS);
        }
        r.counter("lat.nanos").inc(TimeUnit.MILLISECONDS.toNanos(750));
        assertEquals("# HELP x_seconds Latency.\n"
                + "# TYPE x_seconds summary\n"
                + "x_seconds{quantile=\"0.5\"} 0.25\n"
                + "x_seconds{quantile=\"0.9\"} 0.25\n"
                + "x_seconds{quantile=\"0.99\"} 0.25\n"
                + "x_seconds_sum 0.75\n"
                + "x_seconds_count 3\n",
                PrometheusText.render(r, List.of(Family.summary("x_seconds", "lat", "lat.nanos", "Latency."))));
    }

    @Test
    void emptySummaryHasNaNQuantilesAndZeroSumAndCount() {
        MetricRegistry r = new MetricRegistry();
        r.timer("lat");
        r.counter("lat.nanos");
        String text = PrometheusText.render(r, List.of(Family.summary("x_seconds", "lat", "lat.nanos", "L.")));
        assertTrue(text.contains("x_seconds{quantile=\"0.99\"} NaN\n"), text);
        assertTrue(text.contains("x_seconds_sum 0\nx_seconds_count 0\n"), text);
    }

    @Test
    void escapesHelpText() {
        MetricRegistry r = new MetricRegistry();
        r.counter("c");
        String text = PrometheusText.render(r, List.of(Family.counter("x_total", "c", "back\\slash\nnew \"line\"")));
        assertTrue(text.startsWith("# HELP x_total back\\\\slash\\nnew \"line\"\n# TYPE x_total counter\n"), text);
    }

    @Test
    void escapesLabelValues() {
        assertEquals("a\\\\b\\\"c\\nd", PrometheusText.escapeLabelValue("a\\b\"c\nd"));
    }

    @Test
    void formatsSpecialAndFractionalValues() {
        assertEquals("NaN", PrometheusText.formatDouble(Double.NaN));
        assertEquals("+Inf", PrometheusText.formatDouble(Double.POSITIVE_INFINITY));
        assertEquals("-Inf", PrometheusText.formatDouble(Double.NEGATIVE_INFINITY));
        assertEquals("3", PrometheusText.formatDouble(3.0));
        assertEquals("-2", PrometheusText.formatDouble(-2.0));
        assertEquals("1.5E-4", PrometheusText.formatDouble(0.00015));
        assertEquals(0.00015, Double.parseDouble(PrometheusText.formatDouble(0.00015)));
    }

    @Test
    void leavesOutMissingMetricsAndGaugesWithoutANumber() {
        MetricRegistry r = new MetricRegistry();
        r.register("text", (Gauge<String>) () -> "not a number");
        r.register("broken", (Gauge<Integer>) () -> {
            throw new IllegalStateException("broken gauge");
        });
        r.counter("not.a.timer");
        String text = PrometheusText.render(r, List.of(
                Family.counter("x_missing_total", "missing", "M."),
                Family.gauge("x_text", "text", "T."),
                Family.gauge("x_broken", "broken", "B."),
                Family.summary("x_seconds", "not.a.timer", null, "S."),
                Family.gauge("x_bool", "bool", "B.")));
        assertEquals("", text);
    }

    /** The real registry: every exported family present, and the handoff sum kept by SupervisorMetrics. */
    @Test
    void mapsTheSupervisorRegistry() {
        SupervisorMetrics m = new SupervisorMetrics(new MetricRegistry());
        m.accepted.mark(4);
        m.handoff.update(2, TimeUnit.MILLISECONDS);
        m.handoff.update(4, TimeUnit.MILLISECONDS);
        m.restarts.inc();
        m.promotions.inc(2);
        m.publish(5, 2, 3, 4, 1);
        String text = PrometheusText.render(m.registry);
        for (Family f : PrometheusText.FAMILIES) {
            assertTrue(text.contains("# HELP " + f.name() + " "), f.name() + " in\n" + text);
            assertTrue(text.contains("# TYPE " + f.name() + " " + f.type().text + "\n"), f.name() + " in\n" + text);
        }
        assertTrue(text.contains("\nprefork_connections_accepted_total 4\n"), text);
        assertTrue(text.contains("\nprefork_queue_depth 5\n"), text);
        assertTrue(text.contains("\nprefork_workers_ready 2\n"), text);
        assertTrue(text.contains("\nprefork_connections_inflight 3\n"), text);
        assertTrue(text.contains("\nprefork_workers 4\n"), text);
        assertTrue(text.contains("\nprefork_workers_spare 1\n"), text);
        assertTrue(text.contains("\nprefork_worker_promotions_total 2\n"), text);
        assertTrue(text.contains("\nprefork_worker_restarts_total 1\n"), text);
        assertTrue(text.contains("\nprefork_handoff_seconds_sum 0.006\n"), text);
        assertTrue(text.contains("\nprefork_handoff_seconds_count 2\n"), text);
        assertTrue(text.contains("\nprefork_connections_dropped_total 0\n"), text);
        assertEquals(TimeUnit.MILLISECONDS.toNanos(6), m.handoffNanos.getCount());
    }
}
