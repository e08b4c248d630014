package io.prefork.supervisor.internal.pool;

import io.prefork.supervisor.internal.loop.Phase;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.util.ArrayDeque;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HUP: replaces every worker with a fresh JVM, one at a time and without a capacity dip. Each one's replacement is
 * started in its slot; only once the replacement is ready does the old worker drain, and only then is the next one
 * replaced. A replacement that dies before it is ready leaves the old worker serving and is tried again a second
 * later. Part of the {@link WorkerPool}; called on the loop thread only.
 */
final class Reload {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");
    /** After a replacement died before it was ready, how long before the same worker's replacement is tried again. */
    static final long RETRY_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final WorkerPool pool;
    /** Workers still to be replaced, in order. */
    private final ArrayDeque<WorkerProcess> queue = new ArrayDeque<>();
    /** The worker whose replacement is starting now, or null. */
    private WorkerProcess reloading;

    Reload(WorkerPool pool) {
        this.pool = pool;
    }

    void start() {
        Phase phase = pool.phase();
        if (phase != Phase.RUNNING) {
            LOG.warn("reload ignored while {}", phase.name().toLowerCase(Locale.ROOT));
            return;
        }
        queue.clear();
        for (WorkerProcess w : pool.workers()) {
            if (w.state() == WorkerProcess.State.READY && !w.retiring()) {
                queue.add(w);
            }
        }
        LOG.info("reloading: replacing {} worker(s) one at a time", queue.size());
        pool.replaceSpares();
        pool.notifyListener(pool.events()::onReloading);
        if (reloading == null) {
            next();
        }
    }

    private void next() {
        while (!queue.isEmpty()) {
            WorkerProcess w = queue.poll();
            if (w.state() == WorkerProcess.State.READY && !w.retiring()) {
                reloading = w;
                w.stopReason("reload");
                pool.retire(w);
                return;
            }
        }
        LOG.info("reload finished");
        pool.notifyListener(pool.events()::onReloaded);
    }

    /** {@code old}'s replacement is ready (and {@code old} draining): on to the next. */
    void replaced(WorkerProcess old) {
        if (old == reloading) {
            reloading = null;
            next();
        }
    }

    /** {@code old}'s replacement died before it was ready: {@code old} keeps serving; try again later. */
    void replacementDied(WorkerProcess old) {
        if (old == reloading) {
            pool.timers().schedule(RETRY_NANOS, () -> {
                if (old == reloading) {
                    pool.retire(old);
                }
            });
        }
    }

    /** The supervisor is stopping: replace no more. */
    void cancel() {
        queue.clear();
    }
}
