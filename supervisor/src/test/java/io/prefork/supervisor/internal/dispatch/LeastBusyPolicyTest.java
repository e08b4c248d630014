package io.prefork.supervisor.internal.dispatch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.supervisor.internal.dispatch.LeastBusyPolicy.Candidate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class LeastBusyPolicyTest {

    /** A worker as the policy sees it; a record's accessors are exactly the interface's methods. */
    private record Fake(boolean available, int inFlight) implements Candidate {
    }

    private static Fake idle() {
        return new Fake(true, 0);
    }

    private static Fake busy(int inFlight) {
        return new Fake(true, inFlight);
    }

    private static Fake notReady(int inFlight) {
        return new Fake(false, inFlight);
    }

    /** A worker that gave back prefetched connections: it may be sent nothing beyond its concurrency. */
    private record NoPrefetch(boolean available, int inFlight) implements Candidate {
        @Override
        public boolean mayPrefetch() {
            return false;
        }
    }

    @Test
    void prefetchOnlyWhenNoWorkerHasAFreeSlot() {
        LeastBusyPolicy policy = new LeastBusyPolicy();
        // Concurrency 1, prefetch 1: the idle worker wins over sending ahead to a busy one, whatever the rotation.
        for (int i = 0; i < 4; i++) {
            assertEquals(1, policy.pick(List.of(busy(1), idle(), busy(1)), 1, 1));
        }
        // Every worker busy: one gets a connection sent ahead, the least loaded.
        assertEquals(2, policy.pick(List.of(busy(2), busy(2), busy(1)), 1, 1));
        // Every worker at concurrency + prefetch: nobody.
        assertEquals(-1, policy.pick(List.of(busy(2), busy(2)), 1, 1));
        // Without prefetch the same busy pool gets nothing.
        assertEquals(-1, policy.pick(List.of(busy(1), busy(1)), 1, 0));
    }

    @Test
    void aWorkerThatGaveBackGetsNothingAhead() {
        LeastBusyPolicy policy = new LeastBusyPolicy();
        assertEquals(1, policy.pick(List.of(new NoPrefetch(true, 1), busy(1)), 1, 1));
        assertEquals(-1, policy.pick(List.of(new NoPrefetch(true, 1), busy(2)), 1, 1));
        // Its own free slots still count: prefetch is only about going beyond concurrency.
        assertEquals(0, policy.pick(List.of(new NoPrefetch(true, 0), busy(1)), 1, 1));
    }

    @Test
    void picksTheLeastLoaded() {
        LeastBusyPolicy policy = new LeastBusyPolicy();
        assertEquals(2, policy.pick(Arrays.asList(busy(3), busy(2), busy(1), busy(3)), 4, 0));
        assertEquals(3, new LeastBusyPolicy().pick(Arrays.asList(busy(5), busy(2), busy(4), idle()), 8, 0));
    }

    @Test
    void neverPicksAWorkerAtOrAboveConcurrency() {
        LeastBusyPolicy policy = new LeastBusyPolicy();
        // Slot 0 is over the cap (concurrency lowered, say), slot 1 exactly at it, slot 2 one below: only 2 qualifies.
        Candidate[] pool = {busy(3), busy(2), busy(1)};
        for (int i = 0; i < 5; i++) {
            assertEquals(2, policy.pick(Arrays.asList(pool), 2, 0));
        }
    }

    @Test
    void returnsMinusOneWhenEveryWorkerIsFull() {
        assertEquals(-1, new LeastBusyPolicy().pick(Arrays.asList(busy(1), busy(1), busy(1)), 1, 0));
        assertEquals(-1, new LeastBusyPolicy().pick(Arrays.asList(busy(4), busy(5)), 4, 0));
    }

    @Test
    void returnsMinusOneWhenEveryWorkerIsUnavailable() {
        assertEquals(-1, new LeastBusyPolicy().pick(Arrays.asList(notReady(0), notReady(0)), 1, 0));
    }

    @Test
    void returnsMinusOneWhenEverySlotIsEmpty() {
        assertEquals(-1, new LeastBusyPolicy().pick(Arrays.asList(null, null, null), 1, 0));
        assertEquals(-1, new LeastBusyPolicy().pick(List.of(), 1, 0));
    }

    @Test
    void skipsEmptySlots() {
        assertEquals(1, new LeastBusyPolicy().pick(Arrays.asList(null, busy(1), null), 2, 0));
    }

    @Test
    void skipsUnavailableWorkersEvenWhenTheyAreLeastLoaded() {
        LeastBusyPolicy policy = new LeastBusyPolicy();
        Candidate[] pool = {busy(2), notReady(0), busy(1), notReady(0)};
        for (int i = 0; i < 4; i++) {
            assertEquals(2, policy.pick(Arrays.asList(pool), 3, 0));
        }
    }

    @Test
    void tiesRotateOverIdleWorkers() {
        LeastBusyPolicy policy = new LeastBusyPolicy();
        Candidate[] pool = {idle(), idle(), idle()};
        List<Integer> picks = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            picks.add(policy.pick(Arrays.asList(pool), 1, 0));
        }
        assertEquals(List.of(0, 1, 2, 0, 1, 2, 0), picks);
    }

    @Test
    void tiesRotateAtEqualNonZeroLoad() {
        LeastBusyPolicy policy = new LeastBusyPolicy();
        Candidate[] pool = {busy(1), busy(3), busy(1), busy(1)};
        List<Integer> picks = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            picks.add(policy.pick(Arrays.asList(pool), 4, 0));
        }
        assertEquals(List.of(0, 2, 3, 0), picks);
    }

    @Test
    void aFailedPickDoesNotDisturbTheRotation() {
        LeastBusyPolicy policy = new LeastBusyPolicy();
        Candidate[] idle = {idle(), idle(), idle()};
        Candidate[] full = {busy(1), busy(1), busy(1)};
        assertEquals(0, policy.pick(Arrays.asList(idle), 1, 0));
        assertEquals(-1, policy.pick(Arrays.asList(full), 1, 0));
        assertEquals(1, policy.pick(Arrays.asList(idle), 1, 0));
    }

    /**
     * Over many random pools (empty slots, unavailable workers, loads below, at and above the cap): the pick is -1
     * exactly when no worker qualifies; otherwise it qualifies and has the minimum load of all that do, and among
     * those tied at the minimum it is the first after the previous pick (round-robin).
     */
    @Test
    void alwaysPicksAnAvailableMinimumLoadWorkerUnderTheCap() {
        Random random = new Random(0x5EED_1234L);
        for (int trial = 0; trial < 2_000; trial++) {
            int n = random.nextInt(9); // 0..8 slots, including an empty pool
            int concurrency = 1 + random.nextInt(4);
            LeastBusyPolicy policy = new LeastBusyPolicy();
            int previous = -1;
            for (int round = 0; round < 10; round++) {
                Candidate[] pool = new Candidate[n];
                for (int i = 0; i < n; i++) {
                    int kind = random.nextInt(10);
                    if (kind == 0) {
                        pool[i] = null;
                    } else {
                        pool[i] = new Fake(kind != 1, random.nextInt(concurrency + 2));
                    }
                }
                String where = "trial " + trial + " round " + round + ", concurrency " + concurrency + ", pool "
                        + Arrays.toString(pool);

                int picked = policy.pick(Arrays.asList(pool), concurrency, 0);

                int minLoad = Integer.MAX_VALUE;
                for (Candidate c : pool) {
                    if (qualifies(c, concurrency)) {
                        minLoad = Math.min(minLoad, c.inFlight());
                    }
                }
                if (minLoad == Integer.MAX_VALUE) {
                    assertEquals(-1, picked, "nobody qualifies, yet a worker was picked: " + where);
                    continue;
                }
                assertTrue(picked >= 0 && picked < n, "a worker qualifies, yet none was picked: " + where);
                assertTrue(qualifies(pool[picked], concurrency), "picked an unavailable or full worker: " + where);
                assertEquals(minLoad, pool[picked].inFlight(), "picked a worker busier than another: " + where);
                int expected = -1;
                for (int k = 1; k <= n && expected < 0; k++) {
                    int i = Math.floorMod(previous + k, n);
                    if (qualifies(pool[i], concurrency) && pool[i].inFlight() == minLoad) {
                        expected = i;
                    }
                }
                assertEquals(expected, picked, "ties did not rotate from the previous pick " + previous + ": " + where);
                previous = picked;
            }
        }
    }

    private static boolean qualifies(Candidate c, int concurrency) {
        return c != null && c.available() && c.inFlight() < concurrency;
    }
}
