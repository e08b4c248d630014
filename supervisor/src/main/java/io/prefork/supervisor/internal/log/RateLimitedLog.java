package io.prefork.supervisor.internal.log;

import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * A warning that may repeat many times a second (out of descriptors: the accept path retries every 100 ms) logged at
 * most once per interval, the next line saying how many were left out. Not thread-safe: one per call site, used by
 * the one thread that owns that call site (the supervisor loop).
 */
public final class RateLimitedLog {
    private final Logger log;
    private final long intervalNanos;
    private final LongSupplier clock;
    private long lastNanos;
    private boolean logged;
    private long suppressed;

    public RateLimitedLog(Logger log, long interval, TimeUnit unit) {
        this(log, interval, unit, System::nanoTime);
    }

    RateLimitedLog(Logger log, long interval, TimeUnit unit, LongSupplier clock) {
        this.log = log;
        this.intervalNanos = unit.toNanos(interval);
        this.clock = clock;
    }

    /**
     * Logs {@code format} at WARN (SLF4J's {@code {}} placeholders) unless this logged less than an interval ago;
     * then only counts it.
     */
    public void warn(String format, Object... args) {
        long now = clock.getAsLong();
        if (logged && now - lastNanos < intervalNanos) {
            suppressed++;
            return;
        }
        String text = format;
        if (suppressed > 0) {
            text = format + " (and " + suppressed + " more like it in the last "
                    + TimeUnit.NANOSECONDS.toSeconds(now - lastNanos) + " s)";
        }
        log.warn(text, args);
        logged = true;
        lastNanos = now;
        suppressed = 0;
    }
}
