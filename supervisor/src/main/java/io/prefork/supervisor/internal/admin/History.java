package io.prefork.supervisor.internal.admin;

import java.util.Arrays;

/**
 * The last few minutes of the supervisor, one sample per period, for the status page's plots: a fixed-size ring, so
 * memory stays the same however long the supervisor runs (the oldest sample is overwritten).
 *
 * <p>Each sample holds four series. A value the sampler could not get is {@link Double#NaN} (the loop did not
 * answer in time, or no connection was handed off in that second, so there is no latency to show); the plots
 * leave a gap there rather than draw a made-up zero.
 *
 * <p>Thread-safe: the sampler thread appends, request threads take {@link #copy()}s; both under this object's lock,
 * held for an array copy at most.
 */
final class History {
    /** The series, in the order of {@link #series}. */
    static final String[] NAMES = {"connections/s", "queue depth", "busy workers", "handoff latency (ms)"};
    static final int CONNECTIONS_PER_SECOND = 0;
    static final int QUEUE_DEPTH = 1;
    static final int BUSY_WORKERS = 2;
    static final int HANDOFF_MS = 3;

    private final long periodMs;
    private final long[] times;
    private final double[][] series = new double[NAMES.length][];
    /** Index of the next write. */
    private int next;
    private int size;

    History(int capacity, long periodMs) {
        if (capacity < 2 || periodMs < 1) {
            throw new IllegalArgumentException("capacity " + capacity + " (at least 2), period " + periodMs
                    + " ms (at least 1)");
        }
        this.periodMs = periodMs;
        this.times = new long[capacity];
        for (int i = 0; i < series.length; i++) {
            series[i] = new double[capacity];
        }
    }

    /** Appends one sample taken at {@code epochMillis}; {@code values} in the order of {@link #NAMES}. */
    synchronized void add(long epochMillis, double... values) {
        if (values.length != NAMES.length) {
            throw new IllegalArgumentException(NAMES.length + " values expected, got " + values.length);
        }
        times[next] = epochMillis;
        for (int i = 0; i < values.length; i++) {
            series[i][next] = values[i];
        }
        next = (next + 1) % times.length;
        size = Math.min(size + 1, times.length);
    }

    /** Oldest first; a consistent copy. */
    synchronized Snapshot copy() {
        int start = (next - size + times.length) % times.length;
        long[] t = new long[size];
        double[][] v = new double[NAMES.length][size];
        for (int k = 0; k < size; k++) {
            int i = (start + k) % times.length;
            t[k] = times[i];
            for (int s = 0; s < NAMES.length; s++) {
                v[s][k] = series[s][i];
            }
        }
        return new Snapshot(periodMs, times.length, t, v);
    }

    /** A copy of the ring, oldest sample first. */
    static final class Snapshot {
        final long periodMs;
        final int capacity;
        final long[] times;
        final double[][] values;

        Snapshot(long periodMs, int capacity, long[] times, double[][] values) {
            this.periodMs = periodMs;
            this.capacity = capacity;
            this.times = times;
            this.values = values;
        }

        static Snapshot empty(long periodMs, int capacity) {
            return new Snapshot(periodMs, capacity, new long[0], new double[NAMES.length][0]);
        }

        int size() {
            return times.length;
        }

        double[] series(int i) {
            return values[i];
        }

        @Override
        public String toString() {
            StringBuilder b = new StringBuilder(size() + " samples");
            for (int i = 0; i < NAMES.length; i++) {
                b.append("; ").append(NAMES[i]).append(' ').append(Arrays.toString(values[i]));
            }
            return b.toString();
        }
    }
}
