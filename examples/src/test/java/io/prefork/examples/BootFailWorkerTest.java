package io.prefork.examples;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = SECONDS)
class BootFailWorkerTest {

    @Test
    void startAlwaysThrows() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new BootFailWorker().start(FakeContext.of(Map.of())));
        assertEquals("BootFailWorker always fails in start(): this worker exists to test the supervisor's"
                + " boot-failure handling", e.getMessage());
    }

    @Test
    void handleThrowsToo() {
        assertThrows(IllegalStateException.class, () -> new BootFailWorker().handle(null));
    }
}
