package io.prefork.supervisor.internal.pool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.MetricRegistry;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.runtime.WorkerExit;
import io.prefork.supervisor.ExitCodes;
import io.prefork.supervisor.SupervisorConfig;
import io.prefork.supervisor.SupervisorListener;
import io.prefork.supervisor.internal.dispatch.Dispatcher;
import io.prefork.supervisor.internal.dispatch.PendingConnection;
import io.prefork.supervisor.internal.OpenSockets;
import io.prefork.supervisor.internal.loop.ManualClock;
import io.prefork.supervisor.internal.loop.Phase;
import io.prefork.supervisor.internal.loop.Timers;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.process.FakeLauncher;
import io.prefork.supervisor.internal.process.FakeLauncher.FakeChild;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.io.File;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The pool's lifecycle rules, in-process: a manual clock, a fake launcher (no JVM is started), real channel socket
 * pairs. Each test drives time and process exits by hand, so the rules are checked exactly and fast.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class WorkerPoolTest {
    private Set<String> socketsBefore;
    private Harness h;

    @BeforeEach
    void noteOpenSockets() {
        socketsBefore = OpenSockets.now();
    }

    @AfterEach
    void noDescriptorLeaks() {
        if (h != null) {
            h.closeAll();
        }
        assertEquals(Set.of(), OpenSockets.openedSince(socketsBefore), "sockets left open (channel ends leaked?)");
    }

    @Test
    void bootFailedReportStopsTheSupervisorInsteadOfRespawning() {
        h = new Harness(2);
        h.pool.start();
        assertEquals(List.of(0, 1), h.launcher.slots());
        WorkerProcess w0 = h.worker(0);
        h.admit(w0);
        w0.bootFailed("cannot load com.example.Missing\n\tat somewhere");
        h.child(0).exit(WorkerExit.BOOT_FAILED);

        assertEquals(List.of(ExitCodes.BOOT_FAILED + " worker 0 failed to boot: cannot load com.example.Missing"),
                h.failures);
        h.advance(Duration.ofSeconds(60));
        assertEquals(2, h.launcher.started.size(), "no respawn after a boot failure");
    }

    @Test
    void dyingBeforeReadyWhileStartingIsABootFailure() {
        h = new Harness(1);
        h.pool.start();
        h.child(0).exit(1);
        assertEquals(List.of(ExitCodes.BOOT_FAILED + " worker 0 failed to boot: " + WorkerExit.describe(1)
                + " before it was ready (its output above says why)"), h.failures);
        h.advance(Duration.ofSeconds(60));
        assertEquals(1, h.launcher.started.size());
    }

    @Test
    void theReservedExitCodeHaltsEvenAfterReadyWhileAnyOtherCodeIsReplaced() {
        h = new Harness(2);
        h.startReady();
        h.child(1).exit(1);
        assertEquals(List.of(), h.failures, "an ordinary crash is no boot failure");
        h.advance(Duration.ofMillis(Spawner.BACKOFF_MIN_MS));
        assertEquals(List.of(0, 1, 1), h.launcher.slots(), "replaced after the shortest backoff");
        assertEquals(1, h.metrics.restarts.getCount());

        h.child(0).exit(WorkerExit.BOOT_FAILED);
        assertEquals(1, h.failures.size(), h.failures.toString());
        assertTrue(h.failures.get(0).startsWith(ExitCodes.BOOT_FAILED + " worker 0 failed to boot: "),
                h.failures.toString());
    }

    @Test
    void aWorkerOutOfHeapIsReplacedNotABootFailure() {
        h = new Harness(1);
        h.startReady();
        h.advance(Duration.ofNanos(Spawner.STABLE_AFTER_NANOS));
        h.child(0).exit(WorkerExit.OUT_OF_MEMORY);
        h.advance(Duration.ZERO);
        assertEquals(List.of(), h.failures);
        assertEquals(2, h.launcher.started.size(), "replaced at once");
        assertTrue(WorkerExit.describe(WorkerExit.OUT_OF_MEMORY).startsWith("ran out of heap"));
    }

    @Test
    void earlyDeathsDoubleTheSlotsRespawnDelayUpToTheCap() {
        h = new Harness(1);
        h.startReady();
        long[] expectedMs = {100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000};
        for (long delayMs : expectedMs) {
            int before = h.launcher.started.size();
            h.launcher.last().exit(1); // right after start, having taken nothing: early
            h.advance(Duration.ofMillis(delayMs - 1));
            assertEquals(before, h.launcher.started.size(), "respawned before " + delayMs + " ms");
            h.advance(Duration.ofMillis(1));
            assertEquals(before + 1, h.launcher.started.size(), "not respawned after " + delayMs + " ms");
        }
        assertEquals(List.of(), h.failures);
    }

    @Test
    void aWorkerThatLivedPastTheStableTimeResetsTheBackoff() {
        h = new Harness(1);
        h.startReady();
        h.launcher.last().exit(1);
        h.advance(Duration.ofMillis(100));
        h.launcher.last().exit(1);
        h.advance(Duration.ofMillis(200));
        assertEquals(3, h.launcher.started.size());
        h.bootAndReady(h.workerOf(h.launcher.last()));
        h.advance(Duration.ofNanos(Spawner.STABLE_AFTER_NANOS));

        h.launcher.last().exit(1);
        h.advance(Duration.ZERO);
        assertEquals(4, h.launcher.started.size(), "a worker that ran 10 s is replaced at once");
    }

    @Test
    void reloadReplacesOneWorkerAtATimeAndTheNewIsReadyBeforeTheOldDrains() {
        h = new Harness(2);
        h.startReady();
        WorkerProcess old0 = h.worker(0);
        WorkerProcess old1 = h.worker(1);

        h.pool.reload();
        assertEquals(List.of(0, 1, 0), h.launcher.slots(), "one replacement at a time, first slot first");
        WorkerProcess new0 = h.workerOf(h.launcher.last());
        assertSame(old0, new0.replaces());
        h.admit(new0);
        h.advance(Duration.ofSeconds(5));
        assertEquals(WorkerProcess.State.READY, old0.state(), "the old worker serves until its replacement is ready");
        assertEquals(0, h.child(0).terminated);
        assertEquals(3, h.launcher.started.size(), "the next replacement waits for this one");

        h.pool.ready(new0);
        assertEquals(WorkerProcess.State.STOPPING, old0.state(), "drained (nothing in flight) and told to stop");
        assertEquals(1, h.child(0).terminated);
        assertEquals(List.of(0, 1, 0, 1), h.launcher.slots());
        assertEquals(WorkerProcess.State.READY, old1.state());

        h.bootAndReady(h.workerOf(h.launcher.last()));
        assertEquals(WorkerProcess.State.STOPPING, old1.state());
        h.child(0).exit(0);
        h.child(1).exit(0);
        h.advance(Duration.ofSeconds(1));
        assertEquals(4, h.launcher.started.size(), "stopped on purpose: no respawn");
        assertEquals(0, h.metrics.restarts.getCount());
        assertEquals(2, h.pool.readyCount());
    }

    @Test
    void aReplacementThatDiesBeforeReadyLeavesTheOldServingAndIsRetriedASecondLater() {
        h = new Harness(2);
        h.startReady();
        WorkerProcess old0 = h.worker(0);
        h.pool.reload();
        h.launcher.last().exit(1);
        assertEquals(WorkerProcess.State.READY, old0.state());
        assertFalse(old0.retiring());
        h.advance(Duration.ofMillis(999));
        assertEquals(3, h.launcher.started.size());
        h.advance(Duration.ofMillis(1));
        assertEquals(List.of(0, 1, 0, 0), h.launcher.slots(), "the same worker's replacement, again");
        assertTrue(old0.retiring());
    }

    @Test
    void reloadIsIgnoredWhileStarting() {
        h = new Harness(1);
        h.pool.start();
        h.pool.reload();
        assertEquals(1, h.launcher.started.size());
    }

    // ------------------------------------------------------------------------------------------------ boot storms

    private long bootingNow() {
        return h.workers.stream().filter(w -> w.state().compareTo(WorkerProcess.State.READY) < 0).count();
    }

    @Test
    void atStartOnlySoManyJvmsBootAtOnceInSlotOrder() {
        h = new Harness(6, 1);
        h.pool.maxConcurrentBoots(2);
        h.pool.start();
        assertEquals(List.of(0, 1), h.launcher.slots());
        h.bootAndReady(h.worker(1));
        assertEquals(List.of(0, 1, 2), h.launcher.slots(), "the next one starts when a boot ends");
        for (int n = 0; n < 7; n++) {
            assertTrue(bootingNow() <= 2, bootingNow() + " booting");
            WorkerProcess next = h.workers.stream().filter(w -> w.state() == WorkerProcess.State.SPAWNED)
                    .findFirst().orElse(null);
            if (next != null) {
                h.bootAndReady(next);
            }
        }
        assertEquals(List.of(0, 1, 2, 3, 4, 5, 6), h.launcher.slots(), "in order, the spare last");
        assertEquals(Phase.RUNNING, h.phase);
        assertEquals(6, h.pool.readyCount());
        assertEquals(1, h.pool.readySpareCount());
    }

    @Test
    void aMassCrashRestartsAFewAtATimeWithTheUsualBackoff() {
        h = new Harness(4);
        h.pool.maxConcurrentBoots(2);
        h.pool.start();
        h.bootAndReady(h.worker(0));
        h.bootAndReady(h.worker(1));
        h.bootAndReady(h.worker(2));
        h.bootAndReady(h.worker(3));
        assertEquals(Phase.RUNNING, h.phase);
        for (int i = 0; i < 4; i++) {
            h.child(i).exit(137); // early: the backoff applies to each slot, as without the bound
        }
        h.advance(Duration.ofMillis(Spawner.BACKOFF_MIN_MS - 1));
        assertEquals(4, h.launcher.started.size(), "the backoff is kept");
        h.advance(Duration.ofMillis(1));
        assertEquals(List.of(0, 1, 2, 3, 0, 1), h.launcher.slots(), "two boot, two wait");
        h.bootAndReady(h.workerOf(h.launcher.last()));
        assertEquals(List.of(0, 1, 2, 3, 0, 1, 2), h.launcher.slots());
        h.launcher.started.get(4).exit(1); // a booting one dies: its place boots later, the queue moves on
        assertEquals(List.of(0, 1, 2, 3, 0, 1, 2, 3), h.launcher.slots());
        assertEquals(2, bootingNow());
    }

    // ------------------------------------------------------------------------------------------------ spares

    /** Two workers and one spare, all ready, and time past the backoff window (deaths count as ordinary). */
    private WorkerProcess[] twoWorkersAndASpare() {
        h = new Harness(2, 1);
        h.pool.start();
        assertEquals(List.of(0, 1, 2), h.launcher.slots(), "the spare starts after the workers, in the next slot");
        h.bootAndReady(h.worker(0));
        h.bootAndReady(h.worker(1));
        assertEquals(Phase.RUNNING, h.phase, "ready without waiting for the spare");
        WorkerProcess spare = h.worker(2);
        h.bootAndReady(spare);
        h.advance(Duration.ofNanos(Spawner.STABLE_AFTER_NANOS));
        return new WorkerProcess[] {h.worker(0), h.worker(1), spare};
    }

    private void assertServing(WorkerProcess... ws) {
        for (WorkerProcess w : ws) {
            assertTrue(w.available() && w.isPrimary() && !w.isSpare(), w + " should serve: " + w.status(0).state());
        }
    }

    @Test
    void aReadySpareIsSentNothingAndShowsAsSpare() {
        WorkerProcess[] w = twoWorkersAndASpare();
        assertFalse(w[2].available(), "a spare is outside the rotation");
        assertTrue(w[2].isSpare());
        assertEquals("spare", w[2].status(h.clock.nanoTime()).state());
        assertEquals(2, h.pool.readyCount());
        assertEquals(1, h.pool.readySpareCount());
        for (int i = 0; i < 3; i++) {
            h.dispatcher.enqueue(new PendingConnection());
        }
        h.dispatcher.dispatch();
        assertEquals(0, w[2].inFlight(), "the dispatcher gave a spare a connection");
        assertEquals(3, w[0].inFlight() + w[1].inFlight(), "one each, and the third sent ahead (--prefetch 2)");
        assertTrue(Math.min(w[0].inFlight(), w[1].inFlight()) == 1, "least busy first: one each before any ahead");
        assertEquals(0, h.dispatcher.queued(), "the third goes ahead to a serving worker, never to the spare");
    }

    @Test
    void aWorkerKilledIsReplacedByTheSpareBeforeItIsReapedAndANewSpareBootsBehind() {
        WorkerProcess[] w = twoWorkersAndASpare();
        // kill -9: the channel reaches end-of-stream first (the dispatcher abandons the worker), the exit comes later.
        h.pool.abandon(w[0], "it closed its channel");
        assertServing(w[2]);
        assertEquals(2, h.pool.readyCount(), "no dip: the spare serves before the dead worker is reaped");
        assertEquals(1, h.metrics.promotions.getCount());
        h.child(0).exit(137);
        h.advance(Duration.ZERO);
        assertEquals(List.of(0, 1, 2, 0), h.launcher.slots(), "a new spare, in the freed slot");
        WorkerProcess next = h.workerOf(h.launcher.last());
        assertTrue(next.isSpare());
        h.bootAndReady(next);
        assertEquals(1, h.pool.readySpareCount());
        assertEquals(2, h.pool.readyCount());
    }

    @Test
    void maxRequestsRecyclesIntoTheSpareAtOnce() {
        WorkerProcess[] w = twoWorkersAndASpare();
        h.pool.recycle(w[1]);
        assertServing(w[2]);
        assertEquals(WorkerProcess.State.STOPPING, w[1].state(), "drained at once: nothing in flight");
        assertEquals(2, h.pool.readyCount());
        h.advance(Duration.ZERO);
        assertEquals(List.of(0, 1, 2, 1), h.launcher.slots(), "a new spare boots behind");
        assertTrue(h.workerOf(h.launcher.last()).isSpare());
        h.child(1).exit(0);
        h.advance(Duration.ofSeconds(1));
        assertEquals(4, h.launcher.started.size(), "the recycled worker's exit starts nothing more");
    }

    @Test
    void ttinPromotesTheSpare() {
        WorkerProcess[] w = twoWorkersAndASpare();
        h.pool.scale(1);
        assertServing(w[2]);
        assertEquals(3, h.pool.readyCount());
        h.advance(Duration.ZERO);
        assertEquals(List.of(0, 1, 2, 3), h.launcher.slots(), "a new spare in the next free slot");
        assertTrue(h.workerOf(h.launcher.last()).isSpare());
    }

    @Test
    void aReloadReplacesTheSparesFirstAndPromotesNewOnes() {
        WorkerProcess[] w = twoWorkersAndASpare();
        h.pool.reload();
        assertEquals(WorkerProcess.State.STOPPING, w[2].state(), "the old code's spare is stopped at once");
        assertEquals(1, h.child(2).terminated);
        h.advance(Duration.ZERO);
        // Worker 0's replacement started at once (no spare ready yet), and a new spare.
        assertEquals(Set.of(0, 2), Set.copyOf(h.launcher.slots().subList(3, 5)), "the new spare takes the freed slot: "
                + h.launcher.slots());
        WorkerProcess new0 = null;
        WorkerProcess newSpare = null;
        for (FakeChild c : h.launcher.started.subList(3, 5)) {
            WorkerProcess x = h.workerOf(c);
            if (x.isSpare()) {
                newSpare = x;
            } else {
                new0 = x;
            }
        }
        assertSame(w[0], Objects.requireNonNull(new0).replaces());
        h.bootAndReady(Objects.requireNonNull(newSpare));
        assertTrue(newSpare.isSpare(), "a spare ready while a replacement boots stays a spare");
        h.bootAndReady(new0);
        assertEquals(WorkerProcess.State.STOPPING, w[0].state());
        // Worker 1's turn: the new spare takes over at once.
        assertServing(newSpare);
        assertEquals(WorkerProcess.State.STOPPING, w[1].state());
        assertEquals(2, h.pool.readyCount());
        h.advance(Duration.ZERO);
        WorkerProcess another = h.workerOf(h.launcher.last());
        assertTrue(another.isSpare(), "and one more spare boots behind it");
        assertEquals(6, h.launcher.started.size());
    }

    @Test
    void aSpareReadyAfterTheWorkerItShouldReplaceDiedIsPromotedWhenReady() {
        WorkerProcess[] w = twoWorkersAndASpare();
        h.pool.abandon(w[0], "it closed its channel");
        h.child(0).exit(137);
        h.advance(Duration.ZERO);
        WorkerProcess spare2 = h.workerOf(h.launcher.last());
        h.pool.abandon(w[1], "it closed its channel"); // a second death with no spare ready
        h.child(1).exit(137);
        h.advance(Duration.ZERO);
        assertEquals(2, h.pool.primaryCount(), "a worker started for the lost place: " + h.launcher.slots());
        h.bootAndReady(spare2);
        assertTrue(spare2.isSpare(), "the pool has its two primaries (one starting)");
    }

    /** A pool with its dispatcher, driven on the test thread; it plays the loop (the pool's Owner). */
    static final class Harness implements WorkerPool.Owner {
        final ManualClock clock = new ManualClock();
        final Timers timers = new Timers(clock);
        final FakeLauncher launcher = new FakeLauncher();
        final SupervisorMetrics metrics = new SupervisorMetrics(new MetricRegistry());
        final List<WorkerProcess> workers = new ArrayList<>();
        final Dispatcher dispatcher;
        final WorkerPool pool;
        final List<String> failures = new ArrayList<>();
        Phase phase = Phase.STARTING;

        Harness(int count) {
            this(count, 0);
        }

        Harness(int count, int spares) {
            SupervisorConfig config = SupervisorConfig.builder().listen("127.0.0.1:0").workers(count)
                    .spareWorkers(spares)
                    .workerClass("com.example.Worker")
                    .workerClasspath(List.of(Path.of(System.getProperty("java.io.tmpdir")))).build();
            dispatcher = new Dispatcher(workers, config.concurrency(), config.prefetch(), config.queueSize(),
                    this::target, timers, metrics);
            // Exits are reported on the test thread itself (FakeChild.exit), so "posting" is running.
            pool = new WorkerPool(config, launcher, Path.of(File.separator, "nonexistent", "boot.sock"), timers,
                    workers, dispatcher, metrics, SupervisorListener.NONE, this, Runnable::run);
            dispatcher.lifecycle(pool);
            // Unbounded unless a test says otherwise: the default depends on this machine's CPUs.
            pool.maxConcurrentBoots(64);
        }

        private int target() {
            return pool.target();
        }

        @Override
        public Phase phase() {
            return phase;
        }

        @Override
        public void allReady() {
            phase = Phase.RUNNING;
        }

        @Override
        public void fail(int exitCode, String reason) {
            failures.add(exitCode + " " + reason);
            phase = Phase.STOPPING;
            pool.terminate();
        }

        @Override
        public void allReaped() {
            phase = Phase.STOPPED;
        }

        /** Starts the pool and brings every worker to READY, as the bootstrap thread and the dispatcher would. */
        void startReady() {
            pool.start();
            for (WorkerProcess w : new ArrayList<>(workers)) {
                bootAndReady(w);
            }
            assertEquals(Phase.RUNNING, phase);
        }

        void admit(WorkerProcess w) {
            // The fake's pid is this JVM's; the worker's channel end stays ours (closed by the pool after "sending").
            pool.admit(w.token(), w.pid(), Native.uid(), (fd, regionFd) -> { });
            assertEquals(WorkerProcess.State.BOOTING, w.state());
        }

        void bootAndReady(WorkerProcess w) {
            admit(w);
            pool.ready(w);
            assertEquals(WorkerProcess.State.READY, w.state());
        }

        void advance(Duration d) {
            clock.advance(d);
            timers.runDue();
        }

        FakeChild child(int n) {
            return launcher.started.get(n);
        }

        WorkerProcess worker(int n) {
            return workerOf(child(n));
        }

        WorkerProcess workerOf(FakeChild c) {
            for (WorkerProcess w : workers) {
                if (w.process() == c) {
                    return w;
                }
            }
            throw new AssertionError("no live worker for the child in slot " + c.slot);
        }

        /** Every process still there exits, and the pool lets go of every channel. */
        void closeAll() {
            for (FakeChild c : launcher.started) {
                if (c.isAlive()) {
                    c.exit(0);
                }
            }
            pool.closeAll();
            Objects.requireNonNull(dispatcher);
        }
    }

}
