package io.prefork.supervisor.internal.pool;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.wire.SharedRegion;
import io.prefork.supervisor.ExitCodes;
import io.prefork.supervisor.SupervisorConfig;
import io.prefork.supervisor.internal.loop.Phase;
import io.prefork.supervisor.internal.loop.Timers;
import io.prefork.supervisor.internal.nativeio.Memfd;
import io.prefork.supervisor.internal.process.Launcher;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.io.IOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Spawn and its bookkeeping, for the {@link WorkerPool}: a channel and a token per worker, the launch, the
 * --boot-timeout, the bootstrap handshake that hands the worker its channel, and the respawn backoff that keeps a
 * crash loop from spinning. Called on the loop thread only.
 */
final class Spawner {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");

    /** A worker that dies sooner than this after starting counts as a crash for respawn backoff. */
    static final long STABLE_AFTER_NANOS = TimeUnit.SECONDS.toNanos(10);
    static final long BACKOFF_MIN_MS = 100;
    static final long BACKOFF_MAX_MS = 10_000;
    /** After a failed spawn (no channel, no JVM), how long before the slot is tried again. */
    static final long RETRY_SPAWN_MS = TimeUnit.SECONDS.toMillis(1);
    /**
     * SO_SNDBUF for the supervisor's end of each worker channel, in bytes; 0 keeps the kernel default (room for
     * about 278 single handoffs). A tuning and test knob (system property {@code prefork.channelSendBuffer}):
     * a small buffer makes a stalled worker hit EAGAIN after a few handoffs.
     */
    static final int CHANNEL_SEND_BUFFER = Integer.getInteger("prefork.channelSendBuffer", 0);
    /**
     * At most this many worker JVMs boot at once (started, not yet ready); more wait their turn in request order.
     * A boot is CPU-bound (class loading, the interpreter, the JIT compiling the start-up path): beyond one per CPU,
     * boots only time-slice, so every one of them finishes later (with {@code --workers 64} on 2 CPUs, the first
     * worker would be ready only when nearly all are) and they starve the supervisor and the workers already
     * serving. At least 2, so one slow boot does not hold up the rest on a 1-CPU machine. System property
     * {@code prefork.maxConcurrentBoots} overrides it (a tuning and test knob, not an option).
     */
    static final int MAX_CONCURRENT_BOOTS = Integer.getInteger("prefork.maxConcurrentBoots",
            Math.max(2, Runtime.getRuntime().availableProcessors()));
    /** Channel buffer sets kept for reuse; more than a burst of restarts needs is left to the GC. */
    static final int SPARE_BUFFERS = 8;

    private final WorkerPool pool;
    private final SupervisorConfig config;
    private final Launcher launcher;
    private final Path bootSocket;
    private final Timers timers;
    private final WorkerPool.Owner owner;
    /** Runs a task on the loop thread (process exits are reported on other threads). */
    private final Executor loop;
    private final List<WorkerProcess> workers;
    private final SecureRandom random = new SecureRandom();
    /** The uid every worker's bootstrap connection must come from: --user's, or ours. */
    private final int workerUid;
    /** The --boot-timeout timer of each worker not yet ready. */
    private final Map<WorkerProcess, Timers.Timer> bootTimers = new HashMap<>();
    /** Slots with a primary's spawn scheduled (respawn backoff), so capacity is not requested twice. */
    private final List<Integer> pendingSpawns = new ArrayList<>();
    /** The same for spares (--spare-workers). */
    private final List<Integer> pendingSpares = new ArrayList<>();
    /** Consecutive early deaths per slot, for the respawn backoff. */
    private final Map<Integer, Integer> crashes = new HashMap<>();
    /** Buffers of dead workers' channels, for the next ones (see ControlChannel.Buffers); at most SPARE_BUFFERS. */
    private final ArrayDeque<ControlChannel.Buffers> spareBuffers = new ArrayDeque<>();
    private long nextWorkerId = 1;
    /** Spawns waiting for a boot to finish (at most {@link #maxBooting} at once), in request order. */
    private final ArrayDeque<Queued> queued = new ArrayDeque<>();
    private int maxBooting = MAX_CONCURRENT_BOOTS;

    /** A spawn waiting its turn; a slot it fills (not a replacement) is also in the pending lists meanwhile. */
    private record Queued(int index, WorkerProcess replaces, boolean spare) {
    }

    Spawner(WorkerPool pool, SupervisorConfig config, Launcher launcher, Path bootSocket, Timers timers,
            WorkerPool.Owner owner, Executor loop, List<WorkerProcess> workers) {
        this.pool = pool;
        this.config = config;
        this.launcher = launcher;
        this.bootSocket = bootSocket;
        this.timers = timers;
        this.owner = owner;
        this.loop = loop;
        this.workers = workers;
        this.workerUid = config.workerUid() >= 0 ? config.workerUid() : Native.uid();
    }

    /** Starts a worker for slot {@code index}; if {@code replaces} is given, the new one will take over from it. */
    void spawn(int index, WorkerProcess replaces) {
        spawn(index, replaces, false);
    }

    /** As {@link #spawn(int, WorkerProcess)}; a {@code spare} waits outside the rotation once ready. */
    void spawn(int index, WorkerProcess replaces, boolean spare) {
        if (owner.phase().compareTo(Phase.DRAINING) >= 0) {
            return;
        }
        if (booting() >= maxBooting) {
            if (replaces == null) {
                (spare ? pendingSpares : pendingSpawns).add(index);
            }
            queued.add(new Queued(index, replaces, spare));
            LOG.debug("worker {} waits to boot: {} JVM(s) booting already", index, maxBooting);
            return;
        }
        launch(index, replaces, spare);
    }

    void maxBooting(int n) {
        maxBooting = n;
    }

    /** Workers started and not yet ready (their JVMs are booting). */
    private int booting() {
        int n = 0;
        for (WorkerProcess w : workers) {
            if (w.state() == WorkerProcess.State.SPAWNED || w.state() == WorkerProcess.State.BOOTING) {
                n++;
            }
        }
        return n;
    }

    /**
     * A boot ended (a worker became ready, or one that was booting died): starts what waits, while there is room,
     * each only if still wanted (a spare promoted meanwhile may have filled a place; a worker to be replaced may
     * have died).
     */
    void launchQueued() {
        while (!queued.isEmpty() && booting() < maxBooting && owner.phase().compareTo(Phase.DRAINING) < 0) {
            Queued q = queued.poll();
            if (q.replaces() != null) {
                if (q.replaces().state() == WorkerProcess.State.READY && q.replaces().retiring()) {
                    launch(q.index(), q.replaces(), false);
                }
                continue;
            }
            (q.spare() ? pendingSpares : pendingSpawns).remove(Integer.valueOf(q.index()));
            boolean wanted = q.spare() ? pool.spareCount() + pendingSpares.size() < pool.spareTarget()
                    : pool.primaryCount() + pendingSpawns.size() < pool.target();
            if (wanted && !slotTaken(q.index())) {
                launch(q.index(), null, q.spare());
            }
        }
    }

    private void launch(int index, WorkerProcess replaces, boolean spare) {
        int[] pair;
        try {
            pair = Native.seqpacketPair();
        } catch (NativeException e) {
            LOG.error("cannot create a channel for worker {}: {}; retrying in 1 s", index, e.getMessage());
            scheduleSpawn(index, RETRY_SPAWN_MS, spare);
            return;
        }
        if (CHANNEL_SEND_BUFFER > 0) {
            try {
                Native.setIntOption(pair[0], Native.SOL_SOCKET, Native.SO_SNDBUF, CHANNEL_SEND_BUFFER, "SO_SNDBUF");
            } catch (NativeException e) {
                LOG.warn("cannot set the channel send buffer: {}", e.getMessage());
            }
        }
        int regionFd;
        SharedRegion region;
        try {
            regionFd = Memfd.create("prefork-worker-" + index);
        } catch (NativeException e) {
            Native.closeQuietly(pair[0]);
            Native.closeQuietly(pair[1]);
            LOG.error("cannot create the shared region for worker {}: {}; retrying in 1 s", index, e.getMessage());
            scheduleSpawn(index, RETRY_SPAWN_MS, spare);
            return;
        }
        try {
            region = SharedRegion.create(regionFd, SharedRegion.slotsFor(config.concurrency() + config.prefetch()));
        } catch (IOException e) {
            Native.closeQuietly(regionFd);
            Native.closeQuietly(pair[0]);
            Native.closeQuietly(pair[1]);
            LOG.error("cannot map the shared region for worker {}: {}; retrying in 1 s", index, e.getMessage());
            scheduleSpawn(index, RETRY_SPAWN_MS, spare);
            return;
        }
        String token = HexFormat.of().formatHex(randomBytes());
        long limit = config.maxRequests() == 0 ? Long.MAX_VALUE
                : config.maxRequests() + (config.maxRequestsJitter() == 0 ? 0
                        : random.nextInt(config.maxRequestsJitter() + 1));
        ControlChannel.Buffers buffers = spareBuffers.poll();
        ControlChannel channel = new ControlChannel(pair[0], buffers != null ? buffers : new ControlChannel.Buffers());
        WorkerProcess w = new WorkerProcess(nextWorkerId++, index, token, channel, pair[1], limit,
                timers.clock().nanoTime());
        w.region(region, regionFd);
        try {
            w.started(launcher.start(index, bootSocket, token));
        } catch (IOException e) {
            closeChannel(w);
            w.closeWorkerEnd();
            String why = "cannot start a worker JVM (" + launcher.program() + "): " + e.getMessage();
            if (owner.phase() == Phase.STARTING) {
                owner.fail(ExitCodes.BOOT_FAILED, why);
            } else {
                LOG.error("{}; retrying in 1 s", why);
                if (replaces == null) {
                    scheduleSpawn(index, RETRY_SPAWN_MS, spare);
                } else {
                    replaces.retiring(false);
                }
            }
            return;
        }
        w.replaces(replaces);
        w.spare(spare);
        workers.add(w);
        w.process().onExit().thenAccept(code -> loop.execute(() -> pool.reap(w, code)));
        // Cancelled on READY and on exit: the timer's reference would otherwise keep a dead worker's WorkerProcess
        // (and its Process) reachable for the whole --boot-timeout.
        bootTimers.put(w, timers.schedule(config.bootTimeout().toNanos(), () -> {
            bootTimers.remove(w);
            if (w.state().compareTo(WorkerProcess.State.READY) < 0) {
                LOG.error("{} did not become ready within {} s (--boot-timeout); killing it", w,
                        config.bootTimeout().toSeconds());
                w.bootFailed("did not become ready within " + config.bootTimeout().toSeconds()
                        + " s (--boot-timeout)");
                pool.abandon(w, "boot timeout");
            }
        }));
        LOG.debug("spawned {} (id {})", w, w.id());
    }

    private byte[] randomBytes() {
        byte[] b = new byte[16];
        random.nextBytes(b);
        return b;
    }

    private void scheduleSpawn(int index, long delayMs, boolean spare) {
        List<Integer> pending = spare ? pendingSpares : pendingSpawns;
        pending.add(index);
        timers.schedule(TimeUnit.MILLISECONDS.toNanos(delayMs), () -> {
            pending.remove(Integer.valueOf(index));
            // Checked again when the timer fires: a spare promoted meanwhile may have filled the place.
            boolean wanted = spare ? pool.spareCount() + pendingSpares.size() < pool.spareTarget()
                    : pool.primaryCount() + pendingSpawns.size() < pool.target();
            if (wanted && !slotTaken(index)) {
                spawn(index, null, spare);
            }
        });
    }

    /**
     * Whether a worker (primary or spare) holds slot {@code index}, or one is scheduled for it. Primaries and spares
     * share one index space, so that every live worker's {@code WorkerContext.index()} is unique: a promoted spare
     * keeps the index it was started with, and the next spare takes a free one.
     */
    private boolean slotTaken(int index) {
        for (WorkerProcess w : workers) {
            if ((w.isPrimary() || w.isSpare()) && w.index() == index) {
                return true;
            }
        }
        return pendingSpawns.contains(index) || pendingSpares.contains(index);
    }

    /**
     * Starts workers until there are {@code target} primaries (serving or starting), lowest free slots first; a slot
     * whose workers keep dying early waits {@link #BACKOFF_MIN_MS}, doubling up to {@link #BACKOFF_MAX_MS}.
     */
    void manage(int target) {
        fill(pool.primaryCount() + pendingSpawns.size(), target, false);
    }

    /** The same for spares: starts spares until there are {@code spares}, starting or ready, with the same backoff. */
    void manageSpares(int spares) {
        fill(pool.spareCount() + pendingSpares.size(), spares, true);
    }

    private void fill(int have, int want, boolean spare) {
        if (owner.phase().compareTo(Phase.DRAINING) >= 0) {
            return;
        }
        for (int index = 0; have < want; index++) {
            if (!slotTaken(index)) {
                int c = crashes.getOrDefault(index, 0);
                long delayMs = c == 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS << Math.min(20, c - 1));
                if (delayMs > 0) {
                    LOG.warn("worker {} died {} time(s) soon after start; starting its {} in {} ms",
                            index, c, spare ? "spare" : "replacement", delayMs);
                }
                scheduleSpawn(index, delayMs, spare);
                have++;
            }
        }
    }

    /**
     * A worker died without being asked to. One that died soon after start without serving anything is a crash loop
     * in the making (bad config, a dependency down): each such death doubles its slot's respawn delay. One that ran
     * for a while or served connections resets it, so workers killed in ordinary operation are replaced at once.
     */
    void died(WorkerProcess w) {
        long lived = timers.clock().nanoTime() - w.spawnedNanos();
        boolean early = lived < STABLE_AFTER_NANOS && w.taken() == 0;
        crashes.put(w.index(), early ? crashes.getOrDefault(w.index(), 0) + 1 : 0);
    }

    /**
     * Hands the worker that presents {@code token} its channel end, if the kernel's word on the caller ({@code pid},
     * {@code uid}) matches the process started with that token.
     */
    void admit(String token, long pid, int uid, WorkerPool.ChannelSender sender) {
        WorkerProcess match = null;
        for (WorkerProcess w : workers) {
            if (w.state() == WorkerProcess.State.SPAWNED && w.token().equals(token)) {
                match = w;
            }
        }
        if (match == null) {
            LOG.warn("refused a bootstrap connection from pid {}: unknown or already used token", pid);
            return;
        }
        if (uid != workerUid || pid != match.pid()) {
            LOG.warn("refused a bootstrap connection presenting {}'s token: it came from pid {} uid {}", match,
                    pid, uid);
            return;
        }
        try {
            sender.send(match.workerEndFd(), match.regionFd());
        } catch (NativeException e) {
            match.closeWorkerEnd();
            pool.abandon(match, "handing it its channel failed: " + e.getMessage());
            return;
        }
        // The worker has its own copies now (it maps the region and closes its descriptor). Ours must go, or the worker would never see end-of-stream when we
        // close our end, and would outlive us.
        match.closeWorkerEnd();
        match.booting();
    }

    void cancelBootTimer(WorkerProcess w) {
        Timers.Timer t = bootTimers.remove(w);
        if (t != null) {
            timers.cancel(t);
        }
    }

    /**
     * Closes a worker's channel and keeps its buffers for the next worker. Only for a worker the loop will not use
     * again (DEAD, or never started): a released channel throws on any use.
     */
    void closeChannel(WorkerProcess w) {
        if (w.channel().isClosed()) {
            return;
        }
        w.channel().close();
        ControlChannel.Buffers b = w.channel().releaseBuffers();
        if (spareBuffers.size() < SPARE_BUFFERS) {
            spareBuffers.add(b);
        }
    }
}
