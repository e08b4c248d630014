package io.prefork.supervisor.internal.admin;

import com.codahale.metrics.Counting;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.Metric;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.Snapshot;
import com.codahale.metrics.Timer;
import java.util.List;
import java.util.Map;

/**
 * The supervisor's Dropwizard registry in the Prometheus text exposition format, version 0.0.4.
 *
 * <p>The mapping is written out by hand, family by family, on purpose. The generic Dropwizard-to-Prometheus bridges
 * (client_java's {@code DropwizardExports} and friends) derive names from the Dropwizard names
 * ({@code prefork_handoff}), export timers in whatever unit the registry happens to use, and turn every metric the
 * registry ever gains into a family. Here the exported names, types and units are part of the supervisor's
 * interface (dashboards and alerts are written against them), so they are listed in {@link #FAMILIES}, documented
 * in the README, and change only on purpose. A registry metric that is not listed is not exported; a listed one
 * that is missing from the registry is left out, with its HELP and TYPE lines.
 *
 * <p>Units: Dropwizard timers record nanoseconds; every {@code _seconds} family is converted to seconds here.
 *
 * <p>Thread safety: only reads the registry (counters and meters are atomic, gauges read volatile fields the loop
 * publishes), so it runs on an admin thread without asking the loop anything.
 */
public final class PrometheusText {
    /** The Content-Type of version 0.0.4 of the text format. */
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    /** The quantiles exported for every summary. */
    static final double[] QUANTILES = {0.5, 0.9, 0.99};

    private static final double NANOS_PER_SECOND = 1e9;

    /** A Prometheus metric type, as written on the TYPE line. */
    enum Type {
        COUNTER("counter"), GAUGE("gauge"), SUMMARY("summary");

        final String text;

        Type(String text) {
            this.text = text;
        }
    }

    /**
     * One exported metric family.
     *
     * @param name   the Prometheus name; counters end in {@code _total}, which version 0.0.4 keeps on the TYPE line
     * @param type   its type
     * @param source the Dropwizard metric it reads: a {@link Counting} for a counter, a {@link Gauge} of a number
     *               for a gauge, a {@link Timer} (nanoseconds) for a summary
     * @param sum    for a summary only: the Dropwizard {@link Counting} holding the total of every recorded value in
     *               nanoseconds, or null for none (the family then has no {@code _sum} line)
     * @param help   one line saying what it counts; escaped on output
     */
    record Family(String name, Type type, String source, String sum, String help) {
        static Family counter(String name, String source, String help) {
            return new Family(name, Type.COUNTER, source, null, help);
        }

        static Family gauge(String name, String source, String help) {
            return new Family(name, Type.GAUGE, source, null, help);
        }

        static Family summary(String name, String source, String sum, String help) {
            return new Family(name, Type.SUMMARY, source, sum, help);
        }
    }

    /** The supervisor's exported metrics: the names in {@code internal.metrics.SupervisorMetrics}, mapped. */
    static final List<Family> FAMILIES = List.of(
            Family.counter("prefork_connections_accepted_total", "prefork.connections.accepted",
                    "Connections accepted from the listening socket."),
            Family.gauge("prefork_workers", "prefork.workers",
                    "Worker processes alive: starting, ready, draining or stopping."),
            Family.gauge("prefork_workers_ready", "prefork.workers.ready",
                    "Worker processes ready to take connections."),
            Family.gauge("prefork_workers_spare", "prefork.workers.spare",
                    "Spare workers (--spare-workers) booted and ready outside the rotation."),
            Family.gauge("prefork_queue_depth", "prefork.queue.depth",
                    "Accepted connections waiting in the supervisor for a worker."),
            Family.gauge("prefork_connections_inflight", "prefork.connections.inflight",
                    "Connections given to workers and not yet reported done."),
            Family.summary("prefork_handoff_seconds", "prefork.handoff", "prefork.handoff.nanos",
                    "Time from accept to the worker's report that it took the connection; quantiles over the "
                            + "last minute."),
            Family.counter("prefork_worker_restarts_total", "prefork.worker.restarts",
                    "Workers started to replace one that died."),
            Family.counter("prefork_worker_promotions_total", "prefork.worker.promotions",
                    "Spare workers promoted into the rotation."),
            Family.counter("prefork_connections_redispatched_total", "prefork.connections.redispatched",
                    "Connections given to another worker after a worker rejected or lost them or died before "
                            + "taking them."),
            Family.counter("prefork_connections_dropped_total", "prefork.connections.dropped",
                    "Connections closed unserved: still queued at stop, or returned by workers too often."),
            Family.counter("prefork_prefetch_returned_total", "prefork.prefetch.returned",
                    "Connections sent ahead to a busy worker (--prefetch) that the supervisor revoked for a "
                            + "worker that freed first; they are served by another worker."),
            Family.counter("prefork_proxy_refused_total", "prefork.proxy.refused",
                    "Connections closed unserved because their PROXY protocol header was missing, malformed or too "
                            + "slow, or their peer is not in --proxy-allow-from (reported with worker heartbeats)."),
            Family.gauge("prefork_parked", "prefork.parked",
                    "Keep-alive connections parked in the supervisor, idle between requests (Connection.park)."),
            Family.counter("prefork_parked_total", "prefork.parked.total",
                    "Connections workers parked between requests."),
            Family.counter("prefork_parked_resumed_total", "prefork.parked.resumed",
                    "Parked connections handed to a worker again because the client sent its next request."),
            Family.counter("prefork_parked_peer_closed_total", "prefork.parked.peer_closed",
                    "Parked connections the client closed; the supervisor closed its copy."),
            Family.counter("prefork_parked_expired_total", "prefork.parked.expired",
                    "Parked connections closed after --keep-alive seconds idle."),
            Family.counter("prefork_parked_evicted_total", "prefork.parked.evicted",
                    "Parked connections closed because --max-parked were parked (the longest idle goes)."),
            Family.counter("prefork_handoff_reordered_total", "prefork.handoff.reordered",
                    "Worker reports that broke FIFO order; anything but 0 is a bug."),
            Family.gauge("prefork_loop_allocated_bytes", "prefork.loop.allocated.bytes",
                    "Bytes allocated by the supervisor's loop thread since start (-1 if the JVM cannot tell); "
                            + "divided by connections accepted, what the hot path allocates."));

    private PrometheusText() {
    }

    /** The supervisor's metrics from {@code registry}, as a complete exposition. */
    public static String render(MetricRegistry registry) {
        return render(registry, FAMILIES);
    }

    static String render(MetricRegistry registry, List<Family> families) {
        Map<String, Metric> metrics = registry.getMetrics();
        StringBuilder out = new StringBuilder(4096);
        for (Family f : families) {
            Metric m = metrics.get(f.source());
            switch (f.type()) {
                case COUNTER:
                    if (m instanceof Counting) {
                        header(out, f);
                        sample(out, f.name(), null, ((Counting) m).getCount());
                    }
                    break;
                case GAUGE:
                    Double v = m instanceof Gauge ? gaugeValue((Gauge<?>) m) : null;
                    if (v != null) {
                        header(out, f);
                        sample(out, f.name(), null, v);
                    }
                    break;
                case SUMMARY:
                    if (m instanceof Timer) {
                        header(out, f);
                        summary(out, f, (Timer) m, metrics.get(f.sum()));
                    }
                    break;
                default:
                    throw new AssertionError(f.type());
            }
        }
        return out.toString();
    }

    private static void header(StringBuilder out, Family f) {
        out.append("# HELP ").append(f.name()).append(' ').append(escapeHelp(f.help())).append('\n');
        out.append("# TYPE ").append(f.name()).append(' ').append(f.type().text).append('\n');
    }

    /**
     * Quantiles come from the timer's decaying sample; {@code _count} from its own count (every value ever
     * recorded); {@code _sum} from the separate total, since the sample's mean times the count would mix a recent
     * window with all time. The three are read one after another, not atomically: a scrape during a handoff may see
     * the count and the sum one value apart, which rates over any real interval absorb.
     */
    private static void summary(StringBuilder out, Family f, Timer timer, Metric sum) {
        Snapshot s = timer.getSnapshot();
        for (double q : QUANTILES) {
            // No observations: NaN, as Prometheus' own clients write it, rather than Dropwizard's 0.
            double v = s.size() == 0 ? Double.NaN : s.getValue(q) / NANOS_PER_SECOND;
            sample(out, f.name(), "quantile=\"" + escapeLabelValue(formatDouble(q)) + "\"", v);
        }
        if (sum instanceof Counting) {
            sample(out, f.name() + "_sum", null, ((Counting) sum).getCount() / NANOS_PER_SECOND);
        }
        sample(out, f.name() + "_count", null, timer.getCount());
    }

    private static Double gaugeValue(Gauge<?> g) {
        Object v;
        try {
            v = g.getValue();
        } catch (RuntimeException e) {
            return null; // a failing gauge must not take the whole scrape down
        }
        if (v instanceof Number) {
            return ((Number) v).doubleValue();
        }
        if (v instanceof Boolean) {
            return (Boolean) v ? 1.0 : 0.0;
        }
        return null;
    }

    private static void sample(StringBuilder out, String name, String labels, long value) {
        out.append(name);
        if (labels != null) {
            out.append('{').append(labels).append('}');
        }
        out.append(' ').append(value).append('\n');
    }

    private static void sample(StringBuilder out, String name, String labels, double value) {
        out.append(name);
        if (labels != null) {
            out.append('{').append(labels).append('}');
        }
        out.append(' ').append(formatDouble(value)).append('\n');
    }

    /**
     * A sample value as the format wants it: {@code NaN}, {@code +Inf}, {@code -Inf} (Java would write
     * {@code Infinity}), whole numbers without a fraction, others as Java's shortest round-trip text (exponents as
     * {@code 1.5E-4}, which Prometheus parses).
     */
    static String formatDouble(double v) {
        if (Double.isNaN(v)) {
            return "NaN";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "+Inf" : "-Inf";
        }
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return Double.toString(v);
    }

    /** HELP text: backslash and line feed are escaped ({@code \\}, {@code \n}); nothing else is. */
    static String escapeHelp(String s) {
        return s.replace("\\", "\\\\").replace("\n", "\\n");
    }

    /** A label value: backslash, double quote and line feed are escaped. */
    static String escapeLabelValue(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
