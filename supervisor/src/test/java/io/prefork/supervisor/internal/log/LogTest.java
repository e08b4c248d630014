package io.prefork.supervisor.internal.log;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.helpers.MessageFormatter;
import org.slf4j.helpers.SubstituteLogger;

/** The log's formats and the rate-limited warning. */
@Timeout(10)
class LogTest {

    @Test
    void aJsonLineIsOneObjectWithTheFieldsAndAnEscapedMessage() throws Exception {
        LogRecord r = new LogRecord(Level.WARNING, "a \"quoted\"\nmessage");
        r.setLoggerName("prefork");
        r.setThrown(new IllegalStateException("boom"));
        String line = new LogSetup.JsonLines().format(r);
        assertEquals(1, line.lines().count(), "one line: " + line);
        JsonNode n = new ObjectMapper().readTree(line);
        assertEquals("WARN", n.get("level").asText());
        assertEquals("prefork", n.get("logger").asText());
        assertEquals("a \"quoted\"\nmessage", n.get("message").asText());
        assertTrue(n.get("error").asText().startsWith("java.lang.IllegalStateException: boom"), line);
        assertTrue(n.get("time").asText().endsWith("Z"), "UTC: " + line);
    }

    @Test
    void aTextLineHasOneTimestampTheLevelAndTheLogger() {
        LogRecord r = new LogRecord(Level.FINE, "hello");
        r.setLoggerName("prefork.worker");
        String line = new LogSetup.TextLines().format(r);
        assertTrue(line.matches("\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} \\[DEBUG\\] prefork.worker - "
                + "hello\\R"), line);
    }

    @Test
    void levelsMapBothWays() {
        for (String l : List.of("error", "warn", "info", "debug", "trace")) {
            assertEquals(l.toUpperCase(java.util.Locale.ROOT), LogSetup.levelName(LogSetup.julLevel(l)), l);
        }
    }

    /** Out of descriptors the accept path warns every 100 ms: one line per interval, then how many were left out. */
    @Test
    void aRepeatedWarningIsLoggedOncePerInterval() {
        List<String> lines = new ArrayList<>();
        SubstituteLogger capture = new SubstituteLogger("test", null, false) {
            @Override
            public void warn(String format, Object... args) {
                lines.add(MessageFormatter.arrayFormat(format, args).getMessage());
            }
        };
        AtomicLong now = new AtomicLong();
        RateLimitedLog log = new RateLimitedLog(capture, 10, TimeUnit.SECONDS, now::get);
        for (int i = 0; i < 300; i++) { // 30 s of warnings every 100 ms
            log.warn("cannot accept: {}", "EMFILE");
            now.addAndGet(TimeUnit.MILLISECONDS.toNanos(100));
        }
        assertEquals(3, lines.size(), lines.toString());
        assertEquals("cannot accept: EMFILE", lines.get(0));
        assertEquals("cannot accept: EMFILE (and 99 more like it in the last 10 s)", lines.get(1));
    }
}
