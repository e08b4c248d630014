package io.prefork.supervisor.internal.process;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.event.Level;

/** The worker JVM's record format and the levels the pump reads from it. */
@Timeout(10)
class WorkerOutputTest {
    @Test
    void julLevelsMapToSlf4jLevels() {
        assertEquals(Level.ERROR, WorkerOutput.level("SEVERE"));
        assertEquals(Level.WARN, WorkerOutput.level("WARNING"));
        assertEquals(Level.INFO, WorkerOutput.level("INFO"));
        assertEquals(Level.DEBUG, WorkerOutput.level("FINE"));
        assertEquals(Level.TRACE, WorkerOutput.level("FINEST"));
    }

    /** What the pump parses is what the worker JVM is told to write: level, logger, message, and no time. */
    @Test
    void theFormatHasNoTime() {
        String line = String.format(WorkerOutput.JUL_FORMAT, null, "src", "io.prefork.worker", "WARNING", "hello", "");
        assertEquals("WARNING io.prefork.worker - hello" + System.lineSeparator(), line);
    }
}
