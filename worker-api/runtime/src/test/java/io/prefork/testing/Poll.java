package io.prefork.testing;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

/**
 * Waiting in tests: observe something until it is what the test expects, or fail at a deadline showing the last
 * observation. Never a sleep of a guessed length: the interval only spaces the observations, and the wait ends as
 * soon as the expected state is seen.
 *
 * <pre>{@code
 * Set<Long> now = Poll.within(READY).until("two fresh workers", s::workerPids,
 *         pids -> pids.size() == 2 && pids.stream().noneMatch(before::contains));
 * }</pre>
 *
 * <p>On timeout it throws an {@link AssertionError} such as {@code timed out after 45000 ms waiting for: two fresh
 * workers; last observed (after 2250 observations, every 20 ms): [1234, 5678]}. The observation is made once more
 * after the deadline has passed, so a slow observation cannot eat the whole budget unseen. An exception thrown by
 * the observation ends the wait at once: an {@link Error} or {@link RuntimeException} as it is, a checked exception
 * wrapped in an {@link AssertionError} naming what was awaited.
 *
 * <p>Shared by every test module through worker-api's test-jar; it depends on the JDK only (not on JUnit), so it can
 * move to any other test module as it is.
 */
public final class Poll {
    /** The default interval: short next to a JVM start (the usual thing awaited), long enough not to spin. */
    public static final Duration DEFAULT_INTERVAL = Duration.ofMillis(20);

    private final Duration timeout;
    private final Duration interval;

    private Poll(Duration timeout, Duration interval) {
        this.timeout = timeout;
        this.interval = interval;
    }

    /** A poll that gives up {@code timeout} after each wait begins, observing every {@link #DEFAULT_INTERVAL}. */
    public static Poll within(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("Poll.within(" + timeout + "): the timeout must be positive");
        }
        return new Poll(timeout, DEFAULT_INTERVAL);
    }

    /** The same deadline, observing every {@code interval} instead. */
    public Poll every(Duration interval) {
        Objects.requireNonNull(interval, "interval");
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("Poll.every(" + interval + "): the interval must be positive");
        }
        return new Poll(timeout, interval);
    }

    /** Something observed; may throw, which ends the wait (see the class comment). */
    @FunctionalInterface
    public interface Observation<T> {
        T observe() throws Exception;
    }

    /**
     * Observes until {@code expected} accepts the observation, and returns that observation.
     *
     * @param what     what is awaited, for the failure message ("two fresh workers")
     * @param observe  reads the current state (a status, a counter, a set of pids)
     * @param expected whether that state is the one awaited
     */
    public <T> T until(String what, Observation<? extends T> observe, Predicate<? super T> expected) {
        long deadline = System.nanoTime() + timeout.toNanos();
        long observations = 0;
        while (true) {
            T seen = observe(what, observe);
            observations++;
            if (expected.test(seen)) {
                return seen;
            }
            long left = deadline - System.nanoTime();
            if (left < 0) {
                throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for: " + what
                        + "; last observed (after " + observations + " observations, every " + interval.toMillis()
                        + " ms): " + seen);
            }
            pause(what, Math.min(left, interval.toNanos()));
        }
    }

    /** Observes until the observation is not null, and returns it. */
    public <T> T untilPresent(String what, Observation<? extends T> observe) {
        return until(what, observe, Objects::nonNull);
    }

    /**
     * Until {@code condition} holds. Its failure message can only say "false": when a value explains the failure (a
     * count, a set of pids), prefer {@link #until(String, Observation, Predicate)}, which shows it.
     */
    public void until(String what, BooleanSupplier condition) {
        until(what, condition::getAsBoolean, Boolean::booleanValue);
    }

    private static <T> T observe(String what, Observation<? extends T> observe) {
        try {
            return observe.observe();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while waiting for: " + what, e);
        } catch (Exception e) {
            throw new AssertionError("observing failed while waiting for: " + what + ": " + e, e);
        }
    }

    private static void pause(String what, long nanos) {
        try {
            TimeUnit.NANOSECONDS.sleep(nanos); // the interval between observations, not a wait for the state itself
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while waiting for: " + what, e);
        }
    }
}
