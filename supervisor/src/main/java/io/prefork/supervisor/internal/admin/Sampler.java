package io.prefork.supervisor.internal.admin;

import com.codahale.metrics.Counting;
import com.codahale.metrics.Metric;
import com.codahale.metrics.MetricRegistry;
import io.prefork.supervisor.SupervisorStatus;
import io.prefork.supervisor.WorkerStatus;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * Fills a {@link History} once per tick from two sources that never block the loop: the Dropwizard registry
 * (counters the loop updates; read from here like any reporter does) and the loop's own snapshot, asked for at each
 * tick and used at the next (the loop completes the future when it gets to it; all it does then is store it).
 * A loop that did not answer within a tick leaves a gap in the queue and busy-worker plots, which is what it is.
 *
 * <p>Rates come from counter differences over the measured time between ticks, not the nominal period, so a late
 * tick (a loaded machine) does not show as a spike.
 */
final class Sampler implements Runnable {
    /** Names in {@code SupervisorMetrics}; absent ones (a registry without them, in tests) read as 0. */
    static final String ACCEPTED = "prefork.connections.accepted";
    static final String HANDOFFS = "prefork.handoff";
    static final String HANDOFF_NANOS = "prefork.handoff.nanos";

    private final History history;
    private final Supplier<CompletableFuture<SupervisorStatus>> status;
    private final MetricRegistry registry;
    private final AtomicReference<SupervisorStatus> answer = new AtomicReference<>();
    /** Sampler thread only. */
    private long lastNanos;
    private long lastAccepted;
    private long lastHandoffs;
    private long lastHandoffNanos;
    private boolean primed;

    Sampler(History history, Supplier<CompletableFuture<SupervisorStatus>> status, MetricRegistry registry) {
        this.history = history;
        this.status = status;
        this.registry = registry;
    }

    @Override
    public void run() {
        long nanos = System.nanoTime();
        long accepted = count(ACCEPTED);
        long handoffs = count(HANDOFFS);
        long handoffNanos = count(HANDOFF_NANOS);
        SupervisorStatus s = answer.getAndSet(null);
        if (primed) {
            double seconds = Math.max(1e-3, (nanos - lastNanos) / 1e9);
            long n = handoffs - lastHandoffs;
            history.add(System.currentTimeMillis(),
                    (accepted - lastAccepted) / seconds,
                    s == null ? Double.NaN : s.queueDepth(),
                    s == null ? Double.NaN : busyWorkers(s),
                    n > 0 ? (handoffNanos - lastHandoffNanos) / (double) n / 1e6 : Double.NaN);
        }
        primed = true;
        lastNanos = nanos;
        lastAccepted = accepted;
        lastHandoffs = handoffs;
        lastHandoffNanos = handoffNanos;
        status.get().thenAccept(answer::set);
    }

    /** Workers holding at least one connection: serving, or draining what they hold. */
    static int busyWorkers(SupervisorStatus s) {
        int busy = 0;
        for (WorkerStatus w : s.workers()) {
            if (w.inFlight() > 0) {
                busy++;
            }
        }
        return busy;
    }

    private long count(String name) {
        Metric m = registry.getMetrics().get(name);
        return m instanceof Counting ? ((Counting) m).getCount() : 0;
    }
}
