package io.prefork.supervisor.internal.pool;

import io.prefork.internal.nativeio.NativeException;
import io.prefork.supervisor.SupervisorConfig;
import io.prefork.supervisor.internal.dispatch.Dispatcher;
import io.prefork.supervisor.internal.loop.Phase;
import io.prefork.supervisor.internal.loop.Timers;
import io.prefork.supervisor.internal.process.Launcher;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.util.ArrayList;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Murder, as gunicorn's arbiter calls it: every second, a worker silent past --heartbeat-timeout or holding a
 * connection past --timeout is asked for a thread dump and killed, and its replacement started. Part of the
 * {@link WorkerPool}; called on the loop thread only.
 */
final class Watchdog {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");

    /** How often heartbeats and --timeout are checked. */
    static final long PERIOD_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** After SIGQUIT (thread dump), how long before a stuck worker is killed. */
    static final long DUMP_GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(500);

    private final WorkerPool pool;
    private final SupervisorConfig config;
    private final Timers timers;
    private final Dispatcher dispatcher;

    Watchdog(WorkerPool pool, SupervisorConfig config, Timers timers, Dispatcher dispatcher) {
        this.pool = pool;
        this.config = config;
        this.timers = timers;
        this.dispatcher = dispatcher;
    }

    void start() {
        timers.schedule(PERIOD_NANOS, this::check);
    }

    /**
     * Workers silent past --heartbeat-timeout (their heartbeat counter, in the region they share with us, did not
     * move, and no frame came), connections held past --timeout.
     */
    private void check() {
        if (pool.phase() == Phase.STOPPED) {
            return;
        }
        long now = timers.clock().nanoTime();
        long heartbeat = config.heartbeatTimeout().toNanos();
        long timeout = config.timeout().toNanos();
        for (WorkerProcess w : new ArrayList<>(pool.workers())) {
            if (w.state() != WorkerProcess.State.READY && w.state() != WorkerProcess.State.DRAINING) {
                continue;
            }
            if (!w.readHeartbeat(now)) {
                LOG.error("{} wrote a heartbeat counter lower than before in its shared region; killing it", w);
                pool.abandon(w, "protocol error");
                continue;
            }
            long silent = now - (w.lastFrameNanos() != 0 ? w.lastFrameNanos() : w.readyNanos());
            if (silent > heartbeat) {
                murder(w, "sent no heartbeat for " + TimeUnit.NANOSECONDS.toMillis(silent) + " ms (--heartbeat-timeout "
                        + config.heartbeatTimeout().toSeconds() + " s)");
                continue;
            }
            if (timeout > 0 && !w.held().isEmpty()) {
                long[] oldest = w.held().minByValue();
                long age = now - oldest[1];
                if (age > timeout) {
                    murder(w, "has held connection " + oldest[0] + " for " + TimeUnit.NANOSECONDS.toMillis(age)
                            + " ms (--timeout " + config.timeout().toSeconds() + " s)");
                }
            }
        }
        timers.schedule(PERIOD_NANOS, this::check);
    }

    /**
     * A stuck worker: ask its JVM for a thread dump (SIGQUIT: HotSpot prints every thread's stack to stdout, which
     * the output pump copies into our log), then kill it. Its replacement starts at once.
     */
    private void murder(WorkerProcess w, String why) {
        LOG.error("{} {}; dumping its threads into the log and killing it", w, why);
        w.killing(why);
        dispatcher.giveBack(w, false);
        Launcher.Child p = w.process();
        try {
            p.dumpThreads();
        } catch (NativeException e) {
            LOG.warn("cannot ask {} for a thread dump: {}", w, e.getMessage());
        }
        timers.schedule(DUMP_GRACE_NANOS, () -> {
            if (p.isAlive()) {
                p.kill();
            }
        });
        pool.manage();
    }
}
