package io.prefork.supervisor.internal.loop;

import java.time.Duration;

/** A clock that moves only when a test says so; starts far from 0 so that code comparing by subtraction is tested. */
public final class ManualClock implements Clock {
    private long now = 1_000_000_000_000L;

    @Override
    public long nanoTime() {
        return now;
    }

    public void advance(Duration d) {
        now += d.toNanos();
    }
}
