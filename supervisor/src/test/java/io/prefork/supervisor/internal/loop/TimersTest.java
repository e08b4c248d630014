package io.prefork.supervisor.internal.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class TimersTest {
    private final ManualClock clock = new ManualClock();
    private final Timers timers = new Timers(clock);
    private final List<String> ran = new ArrayList<>();

    @Test
    void runsWhatIsDueInDueOrderThenInTheOrderScheduled() {
        timers.schedule(ms(20), () -> ran.add("b"));
        timers.schedule(ms(10), () -> ran.add("a"));
        timers.schedule(ms(20), () -> ran.add("c"));
        assertEquals(11, timers.pollTimeoutMs(), "rounded up, so poll never wakes just before the timer");
        clock.advance(Duration.ofMillis(9));
        timers.runDue();
        assertEquals(List.of(), ran);
        clock.advance(Duration.ofMillis(11));
        timers.runDue();
        assertEquals(List.of("a", "b", "c"), ran);
        assertEquals(-1, timers.pollTimeoutMs(), "nothing scheduled: poll sleeps until woken");
    }

    @Test
    void aCancelledTimerNeverRunsAndOneScheduledAlreadyDueRunsInTheSameRound() {
        Timers.Timer t = timers.schedule(ms(5), () -> ran.add("cancelled"));
        timers.schedule(ms(5), () -> timers.schedule(0, () -> ran.add("chained")));
        timers.cancel(t);
        clock.advance(Duration.ofMillis(5));
        timers.runDue();
        assertEquals(List.of("chained"), ran);
    }

    private static long ms(long n) {
        return TimeUnit.MILLISECONDS.toNanos(n);
    }
}
