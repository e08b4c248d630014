package io.prefork.supervisor.internal.loop;

/**
 * The loop's monotonic time source, in nanoseconds like {@link System#nanoTime()} (compare with subtraction, never
 * with {@code <}). Every rule that depends on time (timers, respawn backoff, --timeout, heartbeats) reads it here, so
 * a test can drive time by hand instead of sleeping.
 */
@FunctionalInterface
public interface Clock {
    long nanoTime();

    /** The real clock. */
    Clock SYSTEM = System::nanoTime;
}
