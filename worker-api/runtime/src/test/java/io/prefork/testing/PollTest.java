package io.prefork.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class PollTest {

    @Test
    void returnsTheFirstObservationThatIsExpected() {
        AtomicInteger n = new AtomicInteger();
        int seen = Poll.within(Duration.ofSeconds(5)).every(Duration.ofMillis(1))
                .until("a count of 3", n::incrementAndGet, v -> v >= 3);
        assertEquals(3, seen);
        assertEquals(3, n.get(), "no observation after the expected one");
    }

    @Test
    void aTimeoutNamesWhatWasAwaitedAndShowsTheLastObservation() {
        AtomicInteger n = new AtomicInteger();
        long start = System.nanoTime();
        AssertionError e = assertThrows(AssertionError.class, () -> Poll.within(Duration.ofMillis(200))
                .every(Duration.ofMillis(10)).until("a negative count", n::incrementAndGet, v -> v < 0));
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(tookMs >= 200, "gave up after " + tookMs + " ms, before the deadline");
        assertTrue(e.getMessage().startsWith("timed out after 200 ms waiting for: a negative count; last observed"),
                e.getMessage());
        assertTrue(e.getMessage().endsWith("): " + n.get()), "the last observation ends the message: " + e.getMessage());
        assertTrue(n.get() >= 2 && n.get() <= 25, "observed every 10 ms or so, not spinning: " + n.get());
    }

    @Test
    void untilPresentReturnsTheFirstValueThatIsNotNull() {
        AtomicInteger n = new AtomicInteger();
        String v = Poll.within(Duration.ofSeconds(5)).every(Duration.ofMillis(1))
                .untilPresent("a value", () -> n.incrementAndGet() < 4 ? null : "v" + n.get());
        assertEquals("v4", v);
    }

    @Test
    void aBooleanConditionThatNeverHoldsTimesOut() {
        AssertionError e = assertThrows(AssertionError.class,
                () -> Poll.within(Duration.ofMillis(50)).until("never", () -> false));
        assertTrue(e.getMessage().contains("waiting for: never; last observed"), e.getMessage());
    }

    @Test
    void anUncheckedFailureOfTheObservationEndsTheWaitAsItIs() {
        IllegalStateException boom = new IllegalStateException("boom");
        long start = System.nanoTime();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Poll.within(Duration.ofSeconds(5)).until("anything", () -> {
                    throw boom;
                }, v -> true));
        assertSame(boom, e);
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(4), "did not wait for the deadline");
    }

    @Test
    void aCheckedFailureIsWrappedNamingWhatWasAwaited() {
        AssertionError e = assertThrows(AssertionError.class,
                () -> Poll.within(Duration.ofSeconds(5)).until("the status", () -> {
                    throw new IOException("connection refused");
                }, v -> true));
        assertTrue(e.getMessage().contains("the status") && e.getMessage().contains("connection refused"),
                e.getMessage());
        assertTrue(e.getCause() instanceof IOException);
    }

    @Test
    void aTimeoutOrIntervalThatIsNotPositiveIsRefusedNamingIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Poll.within(Duration.ZERO));
        assertTrue(e.getMessage().contains("PT0S"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Poll.within(Duration.ofSeconds(1)).every(Duration.ofMillis(-5)));
        assertTrue(e.getMessage().contains("interval"), e.getMessage());
    }
}
