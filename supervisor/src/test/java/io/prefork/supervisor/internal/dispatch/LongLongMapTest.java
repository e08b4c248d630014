package io.prefork.supervisor.internal.dispatch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class LongLongMapTest {

    @Test
    void putGetRemove() {
        LongLongMap m = new LongLongMap(4);
        m.put(7, 70);
        m.put(8, 80);
        assertEquals(70, m.get(7, -1));
        assertEquals(-1, m.get(9, -1));
        assertTrue(m.remove(7));
        assertFalse(m.remove(7));
        assertEquals(-1, m.get(7, -1));
        assertEquals(1, m.size());
        assertThrows(IllegalArgumentException.class, () -> m.put(0, 1));
    }

    @Test
    void minByValueFindsTheOldest() {
        LongLongMap m = new LongLongMap(4);
        assertNull(m.minByValue());
        m.put(1, 500);
        m.put(2, 100);
        m.put(3, 900);
        assertArrayEquals(new long[] {2, 100}, m.minByValue());
    }

    /** Against java.util.HashMap under a long random mix, so every probe and backward shift is exercised. */
    @Test
    void agreesWithHashMapUnderRandomOperations() {
        Random rnd = new Random(42);
        LongLongMap m = new LongLongMap(2);
        Map<Long, Long> ref = new HashMap<>();
        for (int i = 0; i < 200_000; i++) {
            long k = 1 + rnd.nextInt(300);
            switch (rnd.nextInt(3)) {
                case 0:
                    m.put(k, i);
                    ref.put(k, (long) i);
                    break;
                case 1:
                    assertEquals(ref.remove(k) != null, m.remove(k), "remove " + k);
                    break;
                default:
                    assertEquals(ref.getOrDefault(k, -1L), m.get(k, -1), "get " + k);
            }
            assertEquals(ref.size(), m.size());
        }
        assertEquals(ref.size(), m.size());
        for (Map.Entry<Long, Long> e : ref.entrySet()) {
            assertEquals(e.getValue(), m.get(e.getKey(), -1), "at the end, " + e.getKey());
        }
    }
}
