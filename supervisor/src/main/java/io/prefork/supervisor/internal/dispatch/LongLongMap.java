package io.prefork.supervisor.internal.dispatch;

import java.util.Arrays;

/**
 * A hash map from long to long with open addressing and linear probing: no boxing and no allocation per entry, for
 * the per-connection bookkeeping on the supervisor's hot path (connection id -> time taken). Removal shifts the
 * following entries back instead of leaving tombstones, so lookups never degrade. Key {@link #EMPTY} (0) is
 * reserved: connection ids start at 1. Not thread-safe.
 */
public final class LongLongMap {
    static final long EMPTY = 0;

    private long[] keys;
    private long[] values;
    private int size;
    private int mask;

    public LongLongMap(int expected) {
        int cap = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
        keys = new long[cap];
        values = new long[cap];
        mask = cap - 1;
    }

    public int size() {
        return size;
    }

    public boolean isEmpty() {
        return size == 0;
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L; // Fibonacci hashing spreads sequential ids
        return (int) (h ^ (h >>> 32)) & mask;
    }

    /** Adds or replaces. */
    public void put(long key, long value) {
        if (key == EMPTY) {
            throw new IllegalArgumentException("key 0 is reserved");
        }
        if (2 * (size + 1) > keys.length) {
            grow();
        }
        int i = slot(key);
        while (keys[i] != EMPTY) {
            if (keys[i] == key) {
                values[i] = value;
                return;
            }
            i = (i + 1) & mask;
        }
        keys[i] = key;
        values[i] = value;
        size++;
    }

    /** The value for {@code key}, or {@code missing}. */
    public long get(long key, long missing) {
        int i = indexOf(key);
        return i < 0 ? missing : values[i];
    }

    private int indexOf(long key) {
        if (key == EMPTY) {
            return -1;
        }
        int i = slot(key);
        while (keys[i] != EMPTY) {
            if (keys[i] == key) {
                return i;
            }
            i = (i + 1) & mask;
        }
        return -1;
    }

    /** Removes {@code key}; returns whether it was present. */
    public boolean remove(long key) {
        int i = indexOf(key);
        if (i < 0) {
            return false;
        }
        // Backward-shift deletion: move later entries of the same probe run into the hole.
        int hole = i;
        int j = (i + 1) & mask;
        while (keys[j] != EMPTY) {
            int home = slot(keys[j]);
            // Move j into the hole if its home slot is not in the cyclic range (hole, j].
            if (((j - home) & mask) >= ((j - hole) & mask)) {
                keys[hole] = keys[j];
                values[hole] = values[j];
                hole = j;
            }
            j = (j + 1) & mask;
        }
        keys[hole] = EMPTY;
        values[hole] = 0;
        size--;
        return true;
    }

    public void clear() {
        Arrays.fill(keys, EMPTY);
        size = 0;
    }

    /** The entry with the smallest value, as {key, value}, or null when empty (for "oldest held connection"). */
    public long[] minByValue() {
        long bestKey = EMPTY;
        long bestValue = Long.MAX_VALUE;
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != EMPTY && (bestKey == EMPTY || values[i] - bestValue < 0)) {
                bestKey = keys[i];
                bestValue = values[i];
            }
        }
        return bestKey == EMPTY ? null : new long[] {bestKey, bestValue};
    }

    private void grow() {
        long[] oldKeys = keys;
        long[] oldValues = values;
        keys = new long[oldKeys.length * 2];
        values = new long[oldKeys.length * 2];
        mask = keys.length - 1;
        size = 0;
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != EMPTY) {
                put(oldKeys[i], oldValues[i]);
            }
        }
    }
}
