package io.prefork.supervisor.internal.loop;

import io.prefork.supervisor.internal.nativeio.BootstrapServer;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.supervisor.internal.nativeio.Poller;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.supervisor.internal.nativeio.Wakeup;
import io.prefork.supervisor.ExitCodes;
import io.prefork.supervisor.SupervisorConfig;
import io.prefork.supervisor.SupervisorListener;
import io.prefork.supervisor.SupervisorStatus;
import io.prefork.supervisor.Termination;
import io.prefork.supervisor.WorkerStatus;
import io.prefork.supervisor.internal.accept.Acceptor;
import io.prefork.supervisor.internal.dispatch.Dispatcher;
import io.prefork.supervisor.internal.dispatch.ParkedSet;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.pool.WorkerPool;
import io.prefork.supervisor.internal.upgrade.Upgrader;
import io.prefork.supervisor.internal.process.Launcher;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.net.InetSocketAddress;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The supervisor's one state-owning thread: the poll set, the tasks other threads post, the timers and the phase.
 * Every other thread (signal handlers, process-exit callbacks, the bootstrap acceptor, API callers) only
 * {@link #post}s a task here; so no lock guards any supervisor state, and every decision sees a consistent picture
 * (gunicorn's arbiter works the same way). The work itself is split by concern, each part called only on this
 * thread:
 *
 * <ul>
 *   <li>{@link Acceptor}: the listeners, accepting into the queue, closing them at a graceful stop;</li>
 *   <li>{@link Dispatcher}: the queue, the workers' outboxes, sending handoffs and reading the workers' reports;</li>
 *   <li>{@link WorkerPool}: spawn, reap, murder, scale, reload and terminate the worker processes.</li>
 * </ul>
 *
 * <p>One {@code poll(2)} covers the wakeup eventfd, the listening sockets (only while there is room to take more),
 * each worker's channel (POLLOUT too while that worker's outbox waits on a full socket buffer) and the one epoll
 * descriptor of the parked keep-alive connections ({@link ParkedSet}).
 */
public final class SupervisorLoop implements Runnable, WorkerPool.Owner {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");

    private final SupervisorConfig config;
    private final BootstrapServer bootServer;
    private final SupervisorMetrics metrics;
    private final SupervisorListener events;
    private final Wakeup wakeup;
    private final Poller poller = new Poller(16);
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final Timers timers;
    private final Instant startedAt = Instant.now();
    private final Acceptor acceptor;
    private final Dispatcher dispatcher;
    private final WorkerPool pool;
    /** Parked keep-alive connections: one epoll descriptor in the poll set, however many there are. */
    private final ParkedSet parked;
    /** How often parked connections are checked against --keep-alive: a tenth of it, at most a second. */
    private final long parkedSweepNanos;
    /** The workers whose channels are in the poll set, in slot order after the listeners. */
    private final List<WorkerProcess> polled = new ArrayList<>();

    private Phase phase = Phase.STARTING;
    /** An upgrade (USR2) is under way: another is refused until it succeeds or fails. */
    private boolean upgrading;
    /** The upgrade under way, or null. */
    private Upgrader upgrade;
    /** An upgrade stopped because this supervisor is stopping: {@link #run} waits for its end before returning. */
    private Upgrader abortedUpgrade;
    /** How long {@link #run} waits for an aborted upgrade's new supervisor to stop. */
    private static final java.time.Duration ABORT_WAIT = java.time.Duration.ofSeconds(60);
    private Termination termination = new Termination(ExitCodes.OK, null);

    private final CompletableFuture<List<InetSocketAddress>> ready = new CompletableFuture<>();
    private final CompletableFuture<Termination> terminated = new CompletableFuture<>();

    public SupervisorLoop(SupervisorConfig config, Launcher launcher, List<TcpListener> listeners,
                          BootstrapServer bootServer, SupervisorMetrics metrics, SupervisorListener events)
            throws NativeException {
        this.config = config;
        this.bootServer = bootServer;
        this.metrics = metrics;
        this.events = events;
        this.timers = new Timers(Clock.SYSTEM);
        List<WorkerProcess> workers = new ArrayList<>();
        this.dispatcher = new Dispatcher(workers, config.concurrency(), config.prefetch(), config.queueSize(),
                this::targetWorkers, timers, metrics);
        this.pool = new WorkerPool(config, launcher, bootServer.path(), timers, workers, dispatcher, metrics, events,
                this, this::post);
        dispatcher.lifecycle(pool);
        this.acceptor = new Acceptor(listeners, dispatcher, timers, metrics, config.gracefulTimeout());
        this.parked = new ParkedSet(config.keepAlive().toNanos(), config.maxParked(), metrics, dispatcher::release);
        dispatcher.parked(parked);
        this.parkedSweepNanos = Math.min(config.keepAlive().toNanos() / 10, 1_000_000_000L);
        try {
            this.wakeup = new Wakeup();
        } catch (NativeException | RuntimeException e) {
            parked.close();
            throw e;
        }
    }

    private int targetWorkers() {
        return pool.target();
    }

    // ------------------------------------------------------------------------------------------------ API (any thread)

    /** Runs {@code task} on the loop thread soon. Safe from any thread, including signal handlers. */
    public void post(Runnable task) {
        tasks.add(task);
        wakeup.signal();
    }

    /** Graceful stop: stop accepting, finish what is in flight up to the graceful timeout, stop workers. */
    public void requestStop() {
        post(() -> stop(true));
    }

    /** Quick stop: stop workers now (TERM, then KILL). */
    public void requestStopNow() {
        post(() -> stop(false));
    }

    /** Rolling reload: replace every worker with a fresh JVM, one at a time, without a capacity dip. */
    public void requestReload() {
        post(pool::reload);
    }

    /**
     * Upgrade (USR2): when running and not already upgrading, calls {@code start} on the loop thread with duplicates
     * of the listening sockets (the caller's to close); otherwise logs why not. {@code start} must not block; the
     * upgrade it returns is aborted if this supervisor is asked to stop before the new one is ready.
     */
    public void requestUpgrade(java.util.function.Function<List<Integer>, Upgrader> start) {
        post(() -> {
            if (phase != Phase.RUNNING || upgrading) {
                LOG.warn("upgrade (USR2) ignored: {}", upgrading ? "an upgrade is already under way"
                        : "the supervisor is " + phase.name().toLowerCase(java.util.Locale.ROOT)
                        + "; an upgrade starts only from a running supervisor");
                return;
            }
            List<Integer> dups;
            try {
                dups = acceptor.duplicateListeners();
            } catch (NativeException e) {
                LOG.error("upgrade (USR2) not started: {}", e.getMessage());
                return;
            }
            upgrading = true;
            upgrade = start.apply(new ArrayList<>(dups));
        });
    }

    /** The upgrade failed; the old supervisor serves on (and may be upgraded again). */
    public void upgradeFailed(String reason) {
        post(() -> {
            upgrading = false;
            upgrade = null;
            LOG.error("upgrade failed, still serving: {}", reason);
        });
    }

    /**
     * The new supervisor (pid {@code newPid}) is ready on the same sockets: stop accepting, drain as a graceful stop
     * does, and exit 0. {@code /ready} answers 503 from here on.
     */
    public void requestHandOver(long newPid) {
        post(() -> {
            upgrading = false;
            upgrade = null;
            if (phase.compareTo(Phase.DRAINING) >= 0) {
                return; // a stop began meanwhile: it closes the listeners itself
            }
            LOG.info("upgrade: the new supervisor (pid {}) is ready; stopping accepting and draining", newPid);
            notifyListener(() -> events.onHandOver(newPid));
            stop(true, true);
        });
    }

    /** One more worker. */
    public void requestAddWorker() {
        post(() -> pool.scale(+1));
    }

    /** One fewer worker: the oldest is drained and stopped. */
    public void requestRemoveWorker() {
        post(() -> pool.scale(-1));
    }

    /** A worker connected back to the bootstrap endpoint (posted by the bootstrap thread). */
    public void arrived(BootstrapServer.Arrival arrival) {
        post(() -> pool.arrived(arrival));
    }

    /** A consistent snapshot, taken on the loop thread. */
    public CompletableFuture<SupervisorStatus> status() {
        CompletableFuture<SupervisorStatus> f = new CompletableFuture<>();
        if (terminated.isDone()) {
            f.complete(snapshot());
        } else {
            post(() -> f.complete(snapshot()));
        }
        return f;
    }

    /**
     * Completes with the bound addresses once every initial worker is ready; fails if the loop ends first. The
     * loop's own future: hand callers outside the supervisor a dependent copy, never this one.
     */
    public CompletableFuture<List<InetSocketAddress>> ready() {
        return ready;
    }

    /** Completes once the loop has ended, every worker reaped; the loop's own future, as {@link #ready()}. */
    public CompletableFuture<Termination> terminated() {
        return terminated;
    }

    /** Releases what the constructor acquired, for a loop that will never {@link #run}. */
    public void discard() {
        wakeup.close();
        parked.close();
    }

    /** The listeners' bound addresses, in --listen order; any thread (they are fixed once bound). */
    public List<InetSocketAddress> boundAddresses() {
        return acceptor.boundAddresses();
    }

    @Override
    public void run() {
        metrics.loopThreadStarted();
        try {
            LOG.info("listening on {}; starting {} worker(s) of {} (concurrency {})",
                    listenText(), pool.target(), config.workerClass(), config.concurrency());
            pool.start();
            sweepParked();
            while (phase != Phase.STOPPED) {
                iterate();
            }
            if (abortedUpgrade != null) {
                // Last: this supervisor's own workers are stopped; the new one stopped its own meanwhile.
                try {
                    LOG.info("upgrade aborted: {}", abortedUpgrade.awaitAborted(ABORT_WAIT));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    LOG.warn("upgrade aborted; interrupted while waiting for the new supervisor to stop");
                }
            }
        } catch (Throwable t) {
            LOG.error("supervisor loop failed; killing all workers", t);
            termination = new Termination(ExitCodes.INTERNAL, "internal error: " + t);
            try {
                pool.killAll();
            } catch (Throwable again) {
                LOG.error("killing the workers failed", again);
            }
        } finally {
            // Whatever happens while closing, `terminated` must complete: Main waits on it to exit.
            try {
                closeEverything();
            } catch (Throwable t) {
                LOG.error("closing the supervisor's resources failed", t);
                if (termination.exitCode() == ExitCodes.OK) {
                    termination = new Termination(ExitCodes.INTERNAL, "internal error while stopping: " + t);
                }
            } finally {
                phase = Phase.STOPPED;
                ready.completeExceptionally(new IllegalStateException(termination.reason() != null
                        ? termination.reason() : "stopped before ready"));
                notifyListener(() -> events.onTerminated(termination));
                terminated.complete(termination);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ the loop

    private void iterate() throws NativeException {
        poller.clear();
        poller.add(wakeup.fd(), Native.POLLIN);
        // Slots 1..listenSlots: the listeners, in order, or none while there is no room for more connections.
        int listenSlots = accepting() ? acceptor.addTo(poller) : 0;
        polled.clear();
        for (WorkerProcess w : pool.workers()) {
            if (w.hasChannel()) {
                short ev = (short) (Native.POLLIN | (w.outbox().isEmpty() ? 0 : Native.POLLOUT));
                poller.add(w.channel().fd(), ev);
                polled.add(w);
            }
        }
        // Parked connections that speak again are bounded like accepted ones: none resumed without room (their
        // readiness, level-triggered, waits in the epoll set; polling it without room would only spin).
        int parkedSlot = dispatcher.room() > 0 ? poller.add(parked.fd(), Native.POLLIN) : -1;
        // The eventcount: ask the workers we must hear from to wake us, then look once more; sleep only if nothing
        // moved (a claim or done stored before our request was read is seen here; one after it sends WAKE).
        boolean moved = dispatcher.prepareToSleep(phase == Phase.DRAINING);
        poller.poll(moved ? 0 : timers.pollTimeoutMs());

        if ((poller.readyOps(0) & Native.POLLIN) != 0) {
            wakeup.drain();
        }
        runTasks();
        int firstWorkerSlot = 1 + listenSlots;
        for (int i = 0; i < polled.size(); i++) {
            WorkerProcess w = polled.get(i);
            short ops = poller.readyOps(firstWorkerSlot + i);
            if (ops != 0 && w.hasChannel() && (ops & (Native.POLLIN | Native.POLLHUP | Native.POLLERR)) != 0) {
                dispatcher.receiveFrom(w);
            }
        }
        if (parkedSlot >= 0 && (poller.readyOps(parkedSlot) & Native.POLLIN) != 0) {
            parked.onReady(dispatcher.resumer(), dispatcher.room());
        }
        // A task above may have closed the listeners (a stop): their descriptor numbers may already be reused.
        if (listenSlots > 0 && acceptor.isOpen()) {
            acceptor.acceptReady(poller, 1);
        }
        timers.runDue();
        // Claims and dones in the workers' regions, whether or not a WAKE came: we are awake anyway.
        dispatcher.collectAll();
        dispatcher.dispatch();
        dispatcher.flushAll();
        if (phase == Phase.DRAINING && !acceptor.isOpen() && dispatcher.queued() == 0
                && dispatcher.totalInFlight() == 0) {
            LOG.info("all connections finished; stopping workers");
            terminateWorkers();
        }
        publishMetrics();
    }

    /** Closes parked connections idle for --keep-alive, then again a sweep interval later. */
    private void sweepParked() {
        parked.expire(timers.clock().nanoTime());
        if (phase != Phase.STOPPED) {
            timers.schedule(parkedSweepNanos, this::sweepParked);
        }
    }

    private void runTasks() {
        Runnable r;
        while ((r = tasks.poll()) != null) {
            r.run();
        }
    }

    private void notifyListener(Runnable call) {
        try {
            call.run();
        } catch (RuntimeException e) {
            LOG.warn("a SupervisorListener threw; ignoring it", e);
        }
    }

    /**
     * Whether to accept now: from the start until a stop or hand-over begins, so that connections wait in the
     * supervisor's queue rather than the kernel's while the first workers boot. Except for an upgrade's new
     * supervisor, which accepts only once ready: until then the old one accepts on the same sockets, and what this one
     * took would be lost (reset) if it then failed to boot, whereas what it leaves in the queue the old one serves.
     */
    private boolean accepting() {
        if (phase == Phase.STARTING) {
            return !config.inheritedFrom().equals(SupervisorConfig.FROM_UPGRADE);
        }
        return phase.compareTo(Phase.DRAINING) < 0;
    }

    // ------------------------------------------------------------------------------------------------ the pool's owner

    @Override
    public Phase phase() {
        return phase;
    }

    @Override
    public void allReady() {
        phase = Phase.RUNNING;
        LOG.info("ready: {} worker(s) serving on {}", pool.target(), listenText());
        List<InetSocketAddress> bound = boundAddresses();
        notifyListener(() -> events.onReady(bound));
        ready.complete(bound);
    }

    @Override
    public void fail(int exitCode, String reason) {
        if (termination.exitCode() == ExitCodes.OK) {
            termination = new Termination(exitCode, reason);
        }
        LOG.error("{}; stopping", reason);
        stop(false);
    }

    @Override
    public void allReaped() {
        phase = Phase.STOPPED;
    }

    // ------------------------------------------------------------------------------------------------ stopping

    private void stop(boolean graceful) {
        stop(graceful, false);
    }

    private void stop(boolean graceful, boolean handOver) {
        if (phase == Phase.STOPPED) {
            return;
        }
        if (phase.compareTo(Phase.DRAINING) < 0) {
            notifyListener(() -> events.onStopping(graceful));
        }
        if (upgrading && !handOver && abortedUpgrade == null && upgrade != null) {
            // Asked to stop while the new supervisor is not yet ready: a user who stops the service means all of
            // it, and a new supervisor left to finish would serve on unasked, orphaned. Once it is ready (the
            // hand-over), it is the service, and a stop of this one ends only this one.
            LOG.warn("stopping during an upgrade, before the new supervisor was ready: aborting the upgrade "
                    + "(SIGTERM to the new supervisor, which stops its workers)");
            abortedUpgrade = upgrade;
            upgrade.abort();
        }
        if (phase == Phase.STOPPING) {
            if (!graceful) {
                pool.killAll();
            }
            return;
        }
        if (phase == Phase.DRAINING || !graceful) {
            terminateWorkers();
            return;
        }
        phase = Phase.DRAINING;
        parked.closeAll();
        pool.stopReloading();
        if (handOver) {
            acceptor.handOver();
        } else {
            acceptor.closeGracefully();
        }
        timers.schedule(config.gracefulTimeout().toNanos(), () -> {
            if (phase == Phase.DRAINING) {
                LOG.warn("graceful timeout ({} s) passed with {} connection(s) in flight and {} queued; stopping "
                        + "workers", config.gracefulTimeout().toSeconds(), dispatcher.totalInFlight(),
                        dispatcher.queued());
                terminateWorkers();
            }
        });
    }

    /** SIGTERM to every worker, SIGKILL to those alive after the kill timeout; the loop ends when all are reaped. */
    private void terminateWorkers() {
        phase = Phase.STOPPING;
        acceptor.close();
        parked.closeAll();
        dispatcher.close();
        if (!pool.terminate()) {
            phase = Phase.STOPPED;
        }
    }

    /** The bound listen addresses for the log: {@code 127.0.0.1:8080, [::1]:8080}. */
    private String listenText() {
        return TcpListener.format(boundAddresses());
    }

    /** Last step of {@link #run}: no descriptor or process outlives the loop. */
    private void closeEverything() {
        acceptor.close();
        bootServer.close();
        dispatcher.close();
        parked.close();
        pool.closeAll();
        wakeup.close();
        publishMetrics();
    }

    // ------------------------------------------------------------------------------------------------ observing

    private void publishMetrics() {
        metrics.publishParked(parked.size());
        metrics.publish(dispatcher.queued(), pool.readyCount(), dispatcher.totalInFlight(), pool.workers().size(),
                pool.readySpareCount());
    }

    private SupervisorStatus snapshot() {
        long now = timers.clock().nanoTime();
        List<WorkerProcess> sorted = new ArrayList<>(pool.workers());
        sorted.sort(Comparator.comparingInt(WorkerProcess::index).thenComparingLong(WorkerProcess::id));
        List<WorkerStatus> ws = new ArrayList<>(sorted.size());
        for (WorkerProcess w : sorted) {
            ws.add(w.status(now));
        }
        return new SupervisorStatus(phase.name().toLowerCase(Locale.ROOT), boundAddresses(),
                dispatcher.queued(), metrics.accepted.getCount(), metrics.restarts.getCount(), pool.target(), startedAt,
                List.copyOf(ws), parked.size(), metrics.parkedResumed.getCount());
    }
}
