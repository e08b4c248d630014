package io.prefork.supervisor.internal.metrics;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.Meter;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.Reservoir;
import com.codahale.metrics.SlidingTimeWindowArrayReservoir;
import com.codahale.metrics.Snapshot;
import com.codahale.metrics.Timer;
import java.lang.management.ManagementFactory;
import java.util.concurrent.TimeUnit;

/**
 * The supervisor's Dropwizard metrics. Counters and timers are updated by the loop thread; gauges read values the
 * loop publishes through volatile fields, so a reporter on another thread never touches loop state.
 */
public final class SupervisorMetrics {
    public final MetricRegistry registry;
    /** Connections accepted from the listening socket (accept4). */
    public final Meter accepted;
    /**
     * The handoff latency: from accept to the worker's report that it took the connection. Quantiles over a sliding
     * window of the last minute.
     */
    public final Timer handoff;
    /**
     * The sum of every latency recorded in {@link #handoff}, in nanoseconds ({@code prefork.handoff.nanos}). A
     * Dropwizard timer keeps a count and a decaying sample but no total, and Prometheus' summary needs one
     * ({@code prefork_handoff_seconds_sum}). The timer's reservoir adds each value here as it is recorded, so the
     * loop still records a handoff once, with {@code handoff.update}.
     */
    public final Counter handoffNanos;
    /** Workers started to replace one that died. */
    public final Counter restarts;
    /** Connections given to another worker after a worker rejected, lost or died holding them untaken. */
    public final Counter redispatched;
    /** Connections sent ahead to a busy worker that were revoked and served by a worker that freed first. */
    public final Counter prefetchReturned;
    /** Reports from a worker that broke FIFO order (must stay 0; checked on every report). */
    public final Counter reordered;
    /** Connections closed unserved (stop with connections still queued, or bounced between workers too often). */
    public final Counter dropped;
    /**
     * Connections a worker closed unserved for their PROXY protocol header (missing, malformed, too slow) or their
     * peer (not in --proxy-allow-from). Workers report them with their heartbeat, so this lags by up to a second.
     */
    public final Counter proxyRefused;

    /** Connections workers parked (gave back idle between requests, {@code Connection.park}). */
    public final Counter parked;
    /** Parked connections handed to a worker again: the client sent more, or unread bytes came with them. */
    public final Counter parkedResumed;
    /** Parked connections whose client closed (or reset) them; closed by the supervisor. */
    public final Counter parkedPeerClosed;
    /** Parked connections closed after --keep-alive seconds idle. */
    public final Counter parkedExpired;
    /** Parked connections closed because --max-parked were parked (the longest idle goes). */
    public final Counter parkedEvicted;

    private volatile int queueDepth;
    private volatile int parkedNow;
    private volatile int workersReady;
    private volatile int inFlight;
    private volatile int workers;
    private volatile int workersSpare;
    /** Spares promoted into the rotation (--spare-workers). */
    public final Counter promotions;

    public SupervisorMetrics(MetricRegistry registry) {
        this.registry = registry;
        this.accepted = registry.meter("prefork.connections.accepted");
        Counter handoffSum = registry.counter("prefork.handoff.nanos");
        this.handoffNanos = handoffSum;
        // The last minute of handoffs. Not the default ExponentiallyDecayingReservoir: it allocates a skip-list node
        // and a sample object on every update, on the loop thread's hot path; this one stores longs in chunks.
        Reservoir sample = new SlidingTimeWindowArrayReservoir(1, TimeUnit.MINUTES);
        this.handoff = registry.timer("prefork.handoff", () -> new Timer(new Reservoir() {
            @Override
            public int size() {
                return sample.size();
            }

            @Override
            public void update(long nanos) {
                handoffSum.inc(nanos);
                sample.update(nanos);
            }

            @Override
            public Snapshot getSnapshot() {
                return sample.getSnapshot();
            }
        }));
        this.restarts = registry.counter("prefork.worker.restarts");
        this.promotions = registry.counter("prefork.worker.promotions");
        this.redispatched = registry.counter("prefork.connections.redispatched");
        this.dropped = registry.counter("prefork.connections.dropped");
        this.prefetchReturned = registry.counter("prefork.prefetch.returned");
        this.reordered = registry.counter("prefork.handoff.reordered");
        this.proxyRefused = registry.counter("prefork.proxy.refused");
        this.parked = registry.counter("prefork.parked.total");
        this.parkedResumed = registry.counter("prefork.parked.resumed");
        this.parkedPeerClosed = registry.counter("prefork.parked.peer_closed");
        this.parkedExpired = registry.counter("prefork.parked.expired");
        this.parkedEvicted = registry.counter("prefork.parked.evicted");
        registry.register("prefork.parked", (Gauge<Integer>) () -> parkedNow);
        registry.register("prefork.queue.depth", (Gauge<Integer>) () -> queueDepth);
        registry.register("prefork.workers.ready", (Gauge<Integer>) () -> workersReady);
        registry.register("prefork.connections.inflight", (Gauge<Integer>) () -> inFlight);
        registry.register("prefork.workers", (Gauge<Integer>) () -> workers);
        registry.register("prefork.workers.spare", (Gauge<Integer>) () -> workersSpare);
        registry.register("prefork.loop.allocated.bytes", (Gauge<Long>) this::loopAllocatedBytes);
    }

    private volatile long loopThreadId = -1;

    /** Called once by the loop thread, so {@link #loopAllocatedBytes()} can watch it. */
    public void loopThreadStarted() {
        loopThreadId = Thread.currentThread().getId();
    }

    /**
     * Bytes the loop thread has allocated since it started (HotSpot's per-thread allocation counter), or -1 where
     * the JVM does not say. Divided by connections accepted, it shows what the hot path allocates end to end.
     */
    public long loopAllocatedBytes() {
        long id = loopThreadId;
        if (id < 0 || !(ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean)) {
            return -1;
        }
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getThreadAllocatedBytes(id);
    }

    /** Called by the loop once per iteration, with the connections parked now. */
    public void publishParked(int parked) {
        this.parkedNow = parked;
    }

    /** Called by the loop once per iteration. */
    public void publish(int queueDepth, int workersReady, int inFlight, int workers, int workersSpare) {
        this.workersSpare = workersSpare;
        this.queueDepth = queueDepth;
        this.workersReady = workersReady;
        this.inFlight = inFlight;
        this.workers = workers;
    }
}
