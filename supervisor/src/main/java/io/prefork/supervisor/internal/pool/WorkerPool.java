package io.prefork.supervisor.internal.pool;

import io.prefork.supervisor.internal.nativeio.BootstrapServer;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.runtime.WorkerExit;
import io.prefork.supervisor.ExitCodes;
import io.prefork.supervisor.SupervisorConfig;
import io.prefork.supervisor.SupervisorListener;
import io.prefork.supervisor.WorkerStatus;
import io.prefork.supervisor.internal.dispatch.Dispatcher;
import io.prefork.supervisor.internal.loop.Clock;
import io.prefork.supervisor.internal.loop.Phase;
import io.prefork.supervisor.internal.loop.Timers;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.process.WorkerExits;
import io.prefork.supervisor.internal.process.Launcher;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker processes and their lifecycle, in the verbs of gunicorn's arbiter: spawn ({@link Spawner}),
 * {@link #reap}, murder (kill the stuck: {@link Watchdog}), {@link #manage} (keep the target count, with respawn
 * backoff), {@link #scale} (TTIN/TTOU), {@link #reload} (HUP: an ordered replacement, {@link Reload}) and
 * {@link #terminate}. Called on the loop thread only; a process's exit arrives on another thread and is posted to
 * the loop. The pool is the {@link Dispatcher}'s {@link Dispatcher.Lifecycle}: what workers report about themselves
 * (READY, a broken channel) comes here.
 *
 * <p>As in gunicorn, a worker that fails to boot (it reports BOOT_FAILED, exits with the reserved
 * {@link WorkerExit#BOOT_FAILED} code, or dies before it is ready while the supervisor is starting) stops the
 * supervisor instead of entering a respawn loop that can never succeed. Any other early death doubles its slot's
 * respawn delay ({@link Spawner#manage}).
 */
public final class WorkerPool implements Dispatcher.Lifecycle {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");

    /** After SIGTERM, how long a worker gets to exit before SIGKILL. */
    public static final long KILL_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(5);

    /** What the pool asks of the loop that owns the supervisor's phase. */
    public interface Owner {
        Phase phase();

        /** Every primary worker is ready for the first time: the supervisor is ready. */
        void allReady();

        /** Stop the supervisor with this exit code (a boot failure). */
        void fail(int exitCode, String reason);

        /** The last worker was reaped while stopping. */
        void allReaped();
    }

    /** Sends a worker its channel end and its shared region's descriptor during the bootstrap handshake. */
    @FunctionalInterface
    public interface ChannelSender {
        void send(int channelFd, int regionFd) throws NativeException;
    }

    private final Timers timers;
    private final Clock clock;
    private final Dispatcher dispatcher;
    private final SupervisorMetrics metrics;
    private final SupervisorListener events;
    private final Owner owner;
    private final Spawner spawner;
    private final Watchdog watchdog;
    private final Reload reload;

    /** Every worker process not yet reaped: serving, starting, draining, stopping. The dispatcher reads it too. */
    private final List<WorkerProcess> workers;
    private final List<WorkerProcess> workersView;
    private int target;
    /** --spare-workers: booted, ready workers kept outside the rotation. */
    private final int spareTarget;

    /** @param workers an empty list that the pool fills and empties, and {@code dispatcher} reads */
    public WorkerPool(SupervisorConfig config, Launcher launcher, Path bootSocket, Timers timers,
                      List<WorkerProcess> workers, Dispatcher dispatcher, SupervisorMetrics metrics,
                      SupervisorListener events, Owner owner, Executor loop) {
        this.timers = timers;
        this.clock = timers.clock();
        this.dispatcher = dispatcher;
        this.metrics = metrics;
        this.events = events;
        this.owner = owner;
        this.target = config.workers();
        this.spareTarget = config.spareWorkers();
        this.workers = workers;
        this.workersView = Collections.unmodifiableList(workers);
        this.spawner = new Spawner(this, config, launcher, bootSocket, timers, owner, loop, workers);
        this.watchdog = new Watchdog(this, config, timers, dispatcher);
        this.reload = new Reload(this);
    }

    /** Starts the initial workers, then the spares (after them: the primaries decide when the supervisor is ready). */
    public void start() {
        for (int i = 0; i < target; i++) {
            spawner.spawn(i, null);
        }
        for (int i = 0; i < spareTarget; i++) {
            spawner.spawn(target + i, null, true);
        }
        watchdog.start();
    }

    /** Every worker not yet reaped (read only). */
    public List<WorkerProcess> workers() {
        return workersView;
    }

    public int target() {
        return target;
    }

    // ------------------------------------------------------------------------------------------------ spawn, manage

    int primaryCount() {
        int n = 0;
        for (WorkerProcess w : workers) {
            if (w.isPrimary()) {
                n++;
            }
        }
        return n;
    }

    int spareCount() {
        int n = 0;
        for (WorkerProcess w : workers) {
            if (w.isSpare()) {
                n++;
            }
        }
        return n;
    }

    /** Spares booted and waiting (the prefork.workers.spare gauge). */
    public int readySpareCount() {
        int n = 0;
        for (WorkerProcess w : workers) {
            if (w.isSpare() && w.state() == WorkerProcess.State.READY) {
                n++;
            }
        }
        return n;
    }

    int spareTarget() {
        return spareTarget;
    }

    /**
     * Keeps {@code target} primaries (serving or starting): first by promoting ready spares, which takes no boot,
     * then by starting workers, with respawn backoff; then starts spares until there are {@code --spare-workers}.
     */
    void manage() {
        promoteSpares();
        spawner.manage(target);
        spawner.manageSpares(spareTarget);
    }

    /** While the pool is short of primaries and a spare is ready, promotes it (the oldest first). */
    private void promoteSpares() {
        if (owner.phase() != Phase.RUNNING) {
            return; // while starting, a death before ready is a boot failure; while stopping, nothing is replaced
        }
        while (primaryCount() < target) {
            WorkerProcess s = readySpare();
            if (s == null) {
                return;
            }
            promote(s, "to keep " + target + " worker(s)");
        }
    }

    private WorkerProcess readySpare() {
        WorkerProcess best = null;
        for (WorkerProcess w : workers) {
            if (w.isSpare() && w.state() == WorkerProcess.State.READY
                    && (best == null || w.readyNanos() < best.readyNanos())) {
                best = w;
            }
        }
        return best;
    }

    private void promote(WorkerProcess spare, String why) {
        spare.promote();
        LOG.info("{} promoted from spare {}", spare, why);
        metrics.promotions.inc();
    }

    // ------------------------------------------------------------------------------------------------ boot

    /** A worker connected back to the bootstrap endpoint. */
    public void arrived(BootstrapServer.Arrival arrival) {
        try {
            admit(arrival.token, arrival.pid, arrival.uid, arrival::sendChannel);
        } finally {
            arrival.close();
        }
    }

    /** Sends a worker that connected back its channel end; see {@link Spawner#admit}. For tests: {@link #arrived}. */
    public void admit(String token, long pid, int uid, ChannelSender sender) {
        spawner.admit(token, pid, uid, sender);
    }

    @Override
    public void ready(WorkerProcess w) {
        if (w.state() != WorkerProcess.State.BOOTING) {
            return;
        }
        w.ready(clock.nanoTime());
        spawner.cancelBootTimer(w);
        spawner.launchQueued();
        LOG.info("{} ready in {} ms", w, TimeUnit.NANOSECONDS.toMillis(w.readyNanos() - w.spawnedNanos()));
        WorkerStatus st = w.status(w.readyNanos());
        notifyListener(() -> events.onWorkerReady(st));
        if (w.isSpare()) {
            promoteSpares(); // the pool may have lost a worker while no spare was ready
            return;
        }
        WorkerProcess old = w.replaces();
        if (old != null) {
            // The replacement serves now; only then does the old worker stop taking connections.
            w.replaces(null);
            drain(old, old.stopReason() != null ? old.stopReason() : "replaced");
            reload.replaced(old);
        }
        if (owner.phase() == Phase.STARTING && !workers.isEmpty()
                && workers.stream().filter(WorkerProcess::isPrimary)
                        .allMatch(x -> x.state() == WorkerProcess.State.READY)
                && primaryCount() >= target) {
            owner.allReady();
        }
    }

    // ------------------------------------------------------------------------------------------------ retire, drain

    @Override
    public void recycle(WorkerProcess w) {
        LOG.info("{} reached --max-requests ({} connections); starting its replacement", w, w.assigned());
        w.stopReason("max-requests");
        retire(w);
    }

    /**
     * Replaces a worker without a capacity dip: starts a new JVM in its slot; the old one keeps serving until the
     * new one is ready, then drains (takes no new connections, finishes what it has) and stops.
     */
    void retire(WorkerProcess w) {
        if (w.retiring() || w.state() != WorkerProcess.State.READY || owner.phase().compareTo(Phase.DRAINING) >= 0) {
            return;
        }
        w.retiring(true);
        WorkerProcess spare = owner.phase() == Phase.RUNNING ? readySpare() : null;
        if (spare == null) {
            spawner.spawn(w.index(), w);
            return;
        }
        // A ready spare takes over at once, as a replacement would once ready; a new spare boots behind it.
        String why = w.stopReason() != null ? w.stopReason() : "replaced";
        promote(spare, "to replace " + w + " (" + why + ")");
        drain(w, why);
        spawner.manageSpares(spareTarget);
        reload.replaced(w);
    }

    /**
     * HUP: spares run the old code too. They serve nothing, so they are stopped at once, and new spares (the new
     * code) boot in their place; a reload step promotes one of those when it is ready in time.
     */
    void replaceSpares() {
        for (WorkerProcess w : new ArrayList<>(workers)) {
            if (w.isSpare()) {
                drain(w, "reload (spare)");
            }
        }
        spawner.manageSpares(spareTarget);
    }

    /** Takes no new connections; stops the worker once it has finished the ones it has. */
    void drain(WorkerProcess w, String why) {
        if (w.state().compareTo(WorkerProcess.State.DRAINING) >= 0) {
            return;
        }
        w.draining(why);
        // Connections still in its outbox have not been sent: give them to the others.
        dispatcher.giveBack(w, false);
        if (w.inFlight() == 0) {
            stopWorker(w, why);
        }
    }

    @Override
    public void drained(WorkerProcess w) {
        stopWorker(w, w.stopReason());
    }

    /** SIGTERM now, SIGKILL if it has not exited after the kill timeout. */
    private void stopWorker(WorkerProcess w, String why) {
        if (w.state().compareTo(WorkerProcess.State.STOPPING) >= 0) {
            return;
        }
        w.stopping();
        LOG.info("stopping {} ({})", w, why);
        Launcher.Child p = w.process();
        p.terminate();
        timers.schedule(KILL_TIMEOUT_NANOS, () -> {
            if (p.isAlive()) {
                LOG.warn("{} did not exit {} s after SIGTERM; sending SIGKILL", w,
                        TimeUnit.NANOSECONDS.toSeconds(KILL_TIMEOUT_NANOS));
                p.kill();
            }
        });
    }

    // ------------------------------------------------------------------------------------------------ abandon, reap

    /**
     * The supervisor gives up on a worker: its channel closed or failed, it broke the protocol, or it timed out.
     * Gives back every connection it had not taken, kills the process if it still runs, and waits for the reaper.
     */
    @Override
    public void abandon(WorkerProcess w, String reason) {
        if (w.state() == WorkerProcess.State.DEAD) {
            return;
        }
        boolean expected = w.isStopRequested();
        w.dead();
        // Before the reaper: a killed worker's channel reaches end-of-stream as it dies, and a spare takes its
        // place now rather than when the exit is reported.
        promoteSpares();
        spawner.closeChannel(w);
        w.closeWorkerEnd();
        // First: what it claimed (its region says, even now) joins what it was serving, and dies with it.
        int back = dispatcher.giveBack(w, true);
        int diedWith = w.held().size();
        w.held().clear();
        if (!expected || back > 0 || diedWith > 0) {
            LOG.warn("{} abandoned: {}; {} connection(s) it had not taken go to other workers, {} it was serving "
                    + "are gone", w, reason, back, diedWith);
        }
        if (w.process() != null && w.process().isAlive()) {
            w.process().kill();
        }
        WorkerProcess replacement = replacementOf(w);
        if (replacement != null) {
            replacement.replaces(null); // nothing left to take over from
        }
        // Capacity is restored when the process is reaped, which also decides whether this was a boot failure that
        // must stop the supervisor rather than be replaced.
    }

    private WorkerProcess replacementOf(WorkerProcess old) {
        for (WorkerProcess w : workers) {
            if (w.replaces() == old) {
                return w;
            }
        }
        return null;
    }

    /** A worker process exited with {@code code} (posted by its exit callback). */
    void reap(WorkerProcess w, int code) {
        spawner.cancelBootTimer(w);
        boolean wasReady = w.readyNanos() != 0;
        boolean expected = w.isStopRequested();
        abandon(w, WorkerExit.describe(code));
        workers.remove(w);
        WorkerStatus st = w.status(clock.nanoTime());
        notifyListener(() -> events.onWorkerExit(st, code));
        Phase phase = owner.phase();
        if (phase == Phase.STOPPING) {
            LOG.info("{} {}", w, WorkerExits.describe(code, expected));
            if (workers.isEmpty()) {
                owner.allReaped();
            }
            return;
        }
        if (w.bootFailure() != null || code == WorkerExit.BOOT_FAILED || (phase == Phase.STARTING && !wasReady)) {
            // First line only: the worker printed its full stack trace into the log already.
            String detail = w.bootFailure() != null ? w.bootFailure().lines().findFirst().orElse("")
                    : WorkerExit.describe(code) + " before it was ready (its output above says why)";
            owner.fail(ExitCodes.BOOT_FAILED, "worker " + w.index() + " failed to boot: " + detail);
            return;
        }
        if (w.replaces() != null) {
            // A replacement died before it was ready: the old worker keeps serving; try again later.
            WorkerProcess old = w.replaces();
            old.retiring(false);
            LOG.warn("{}, the replacement for {}, {}; {} keeps serving", w, old, WorkerExit.describe(code), old);
            reload.replacementDied(old);
        }
        if (expected) {
            LOG.info("{} {}", w, WorkerExits.describe(code, true));
        } else {
            spawner.died(w);
            LOG.warn("{} {}; starting a replacement", w, WorkerExit.describe(code));
            metrics.restarts.inc();
        }
        spawner.launchQueued();
        manage();
    }

    // ------------------------------------------------------------------------------------------------ reload, scale

    /** HUP: replaces every ready worker with a fresh JVM, one at a time. */
    public void reload() {
        reload.start();
    }

    Timers timers() {
        return timers;
    }

    /** For tests: at most {@code n} JVMs boot at once (see {@link Spawner#MAX_CONCURRENT_BOOTS}). */
    void maxConcurrentBoots(int n) {
        spawner.maxBooting(n);
    }

    /** TTIN (+1) or TTOU (-1). */
    public void scale(int delta) {
        Phase phase = owner.phase();
        if (phase != Phase.RUNNING) {
            LOG.warn("{} ignored while {}", delta > 0 ? "one more worker" : "one fewer worker",
                    phase.name().toLowerCase(Locale.ROOT));
            return;
        }
        if (delta > 0) {
            if (target >= SupervisorConfig.MAX_WORKERS) {
                LOG.warn("one more worker ignored: already {} workers, the maximum", target);
                return;
            }
            target++;
            LOG.info("{} worker(s) now", target);
            manage();
            return;
        }
        if (target <= 1) {
            LOG.warn("one fewer worker ignored: at least one worker must run");
            return;
        }
        target--;
        WorkerProcess oldest = null;
        for (WorkerProcess w : workers) {
            if (w.isPrimary() && (oldest == null || w.spawnedNanos() < oldest.spawnedNanos())) {
                oldest = w;
            }
        }
        LOG.info("{} worker(s) now; draining the oldest, {}", target, oldest);
        if (oldest != null) {
            drain(oldest, "one fewer worker");
        }
    }

    Phase phase() {
        return owner.phase();
    }

    // ------------------------------------------------------------------------------------------------ terminate

    /**
     * SIGTERM to every worker, SIGKILL to those still alive after the kill timeout; returns false if there was no
     * worker left to wait for.
     */
    public boolean terminate() {
        reload.cancel();
        for (WorkerProcess w : new ArrayList<>(workers)) {
            if (w.state().compareTo(WorkerProcess.State.STOPPING) < 0) {
                w.stopping();
            }
            w.stopRequested();
            if (w.process() != null) {
                w.process().terminate();
            }
        }
        if (workers.isEmpty()) {
            return false;
        }
        timers.schedule(KILL_TIMEOUT_NANOS, this::killAll);
        return true;
    }

    /** A graceful stop began: no more replacements for a reload. */
    public void stopReloading() {
        reload.cancel();
    }

    /** SIGKILL to every worker still alive. */
    public void killAll() {
        for (WorkerProcess w : workers) {
            if (w.process() != null && w.process().isAlive()) {
                LOG.warn("{} did not exit after SIGTERM; sending SIGKILL", w);
                w.process().kill();
            }
        }
    }

    /** The loop's last step: closes every channel and kills and waits for every process still there. */
    public void closeAll() {
        for (WorkerProcess w : workers) {
            dispatcher.dropAll(w);
            w.channel().close();
            w.closeWorkerEnd();
            if (w.process() != null) {
                w.process().kill();
                try {
                    w.process().awaitExit(KILL_TIMEOUT_NANOS, TimeUnit.NANOSECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /** Workers ready and in the rotation (spares not counted). */
    public int readyCount() {
        int ready = 0;
        for (WorkerProcess w : workers) {
            if (w.state() == WorkerProcess.State.READY && !w.isSpare()) {
                ready++;
            }
        }
        return ready;
    }

    /** The embedding program's listener (Reload tells it about reloads). */
    SupervisorListener events() {
        return events;
    }

    void notifyListener(Runnable call) {
        try {
            call.run();
        } catch (RuntimeException e) {
            LOG.warn("a SupervisorListener threw; ignoring it", e);
        }
    }
}
