package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Native;
import io.prefork.testing.Poll;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Spare workers ({@code --spare-workers}) under a kill -9 storm, watched from outside through {@code /status}: with
 * spares, the pool is below {@code --workers} ready only for as long as a promotion takes; without, for a JVM's boot.
 * The second test is the control that shows the sampler does see a dip when there is one.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class SparesIT {
    static final Duration READY = Duration.ofSeconds(45);
    static final int WORKERS = 2;
    static final int KILLS = 5;
    /**
     * The longest the pool may be seen below --workers ready with a spare at hand. A worker JVM's boot takes 500 to
     * 800 ms on the 2-CPU CI machine (bench/README.md); a promotion is a state change on the supervisor's loop once
     * the dead worker's channel closes. The bound sits well between the two.
     */
    static final Duration PROMOTION_BOUND = Duration.ofMillis(250);

    @Test
    void underAKillStormASpareTakesEachPlaceWithinMilliseconds() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(WORKERS, "io.prefork.examples.HelloHttpWorker",
                "--spare-workers", "1", "--admin", "127.0.0.1:0")) {
            s.awaitReady(READY);
            Admin.Status st = awaitSpares(s, 1);
            assertEquals(1, st.workers().stream().filter(w -> w.state().equals("spare")).count(), st.toString());
            List<Long> dips = storm(s, 1);
            // A promotion may be quicker than one sample: then no dip is seen at all.
            long longest = dips.isEmpty() ? 0 : Collections.max(dips);
            assertTrue(longest < PROMOTION_BOUND.toNanos(), "below " + WORKERS + " ready workers for "
                    + TimeUnit.NANOSECONDS.toMillis(longest) + " ms at worst (dips in ms: " + millis(dips) + ")");
            assertEquals(KILLS, s.admin().metric("prefork_worker_promotions_total"));
            assertEquals(1, s.admin().metric("prefork_workers_spare"));
            assertEquals(WORKERS, s.admin().metric("prefork_workers_ready"), "spares are not counted as ready");
        }
    }

    @Test
    void withoutSparesEachKillCostsABoot() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(WORKERS, "io.prefork.examples.HelloHttpWorker",
                "--admin", "127.0.0.1:0")) {
            s.awaitReady(READY);
            List<Long> dips = storm(s, 0);
            assertEquals(KILLS, dips.size(), "one dip per kill: " + millis(dips));
            assertTrue(Collections.min(dips) >= PROMOTION_BOUND.toNanos(), "the sampler should see a boot-long dip "
                    + "after every kill without spares (dips in ms: " + millis(dips) + ")");
            assertEquals(0, s.admin().metric("prefork_worker_promotions_total"));
        }
    }

    /**
     * SIGKILL to a serving worker {@link #KILLS} times, each once the pool is whole again ({@code spares} spares
     * ready), while another thread samples {@code /status} as fast as it answers. Returns, per kill, how long the
     * sampler saw fewer than {@link #WORKERS} ready workers (from the first such sample to the next whole one); a dip
     * shorter than one sample may not be seen.
     */
    private static List<Long> storm(SupervisorProcess s, int spares) throws Exception {
        List<Long> dips = Collections.synchronizedList(new ArrayList<>());
        AtomicReference<Throwable> failed = new AtomicReference<>();
        java.util.concurrent.atomic.AtomicBoolean inDip = new java.util.concurrent.atomic.AtomicBoolean();
        Thread sampler = new Thread(() -> {
            long dipStart = 0;
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    long t = System.nanoTime();
                    long ready = s.admin().status().workers().stream().filter(w -> w.state().equals("ready")).count();
                    if (ready < WORKERS && dipStart == 0) {
                        dipStart = t;
                        inDip.set(true);
                    } else if (ready >= WORKERS && dipStart != 0) {
                        dips.add(System.nanoTime() - dipStart);
                        dipStart = 0;
                        inDip.set(false);
                    }
                }
            } catch (Throwable e) {
                if (!Thread.currentThread().isInterrupted()) {
                    failed.set(e);
                }
            }
        }, "status-sampler");
        sampler.start();
        try {
            for (int k = 0; k < KILLS; k++) {
                Admin.Status st = awaitSpares(s, spares);
                long victim = st.workers().stream().filter(w -> w.state().equals("ready")).findFirst()
                        .orElseThrow().pid();
                Native.kill(victim, Native.SIGKILL);
                Poll.within(READY).until("pid " + victim + " gone (kill " + k + ")", s.admin()::status,
                        x -> !x.pids().contains(victim));
                assertEquals(null, failed.get(), "the sampler failed");
            }
            awaitSpares(s, spares);
            Poll.within(READY).until("the sampler saw the pool whole", () -> !inDip.get() || failed.get() != null);
        } finally {
            sampler.interrupt();
            sampler.join(TimeUnit.SECONDS.toMillis(20));
        }
        if (failed.get() != null) {
            throw new AssertionError("the /status sampler failed", failed.get());
        }
        // For the record (failsafe keeps it in the test's output): what a storm looks like from outside.
        System.out.println("SparesIT: " + spares + " spare(s): below " + WORKERS + " ready for " + millis(dips)
                + " ms after " + KILLS + " kills");
        synchronized (dips) {
            return new ArrayList<>(dips);
        }
    }

    /** Waits for the pool to be whole: {@link #WORKERS} ready and {@code spares} spare, nothing else. */
    private static Admin.Status awaitSpares(SupervisorProcess s, int spares) {
        return Poll.within(READY).until(WORKERS + " ready and " + spares + " spare", s.admin()::status, st ->
                st.workers().size() == WORKERS + spares
                        && st.workers().stream().filter(w -> w.state().equals("ready")).count() == WORKERS
                        && st.workers().stream().filter(w -> w.state().equals("spare")).count() == spares);
    }

    private static List<Long> millis(List<Long> nanos) {
        List<Long> out = new ArrayList<>();
        synchronized (nanos) {
            for (long n : nanos) {
                out.add(TimeUnit.NANOSECONDS.toMillis(n));
            }
        }
        return out;
    }
}
