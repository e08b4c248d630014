package io.prefork.supervisor.internal.loop;

import java.util.Comparator;
import java.util.PriorityQueue;
import java.util.concurrent.TimeUnit;

/**
 * The loop's timers, due against a {@link Clock}. Called on the loop thread only: the loop runs what is due after
 * each poll and sleeps in poll until the next one. Timers due at the same time run in the order scheduled.
 */
public final class Timers {
    private final Clock clock;
    private final PriorityQueue<Timer> queue = new PriorityQueue<>(Comparator.comparingLong((Timer t) -> t.due)
            .thenComparingLong(t -> t.seq));
    private long seq;

    public Timers(Clock clock) {
        this.clock = clock;
    }

    public Clock clock() {
        return clock;
    }

    /** Runs {@code action} on the loop thread once {@code delayNanos} have passed. */
    public Timer schedule(long delayNanos, Runnable action) {
        Timer t = new Timer(clock.nanoTime() + delayNanos, seq++, action);
        queue.add(t);
        return t;
    }

    /** Forgets {@code t} if it has not run yet (it and what it refers to become garbage now, not when due). */
    public void cancel(Timer t) {
        queue.remove(t);
    }

    /** Runs every timer due by now, including those the ones run here schedule already due. */
    public void runDue() {
        long now = clock.nanoTime();
        while (!queue.isEmpty() && queue.peek().due - now <= 0) {
            queue.poll().action.run();
        }
    }

    /** How long poll may sleep before the next timer is due: -1 (forever) when none is scheduled. */
    public int pollTimeoutMs() {
        Timer t = queue.peek();
        if (t == null) {
            return -1;
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(t.due - clock.nanoTime());
        return (int) Math.max(0, Math.min(ms + 1, Integer.MAX_VALUE));
    }

    /** A scheduled action; only for {@link #cancel}. */
    public static final class Timer {
        final long due;
        final long seq;
        final Runnable action;

        Timer(long due, long seq, Runnable action) {
            this.due = due;
            this.seq = seq;
            this.action = action;
        }
    }
}
