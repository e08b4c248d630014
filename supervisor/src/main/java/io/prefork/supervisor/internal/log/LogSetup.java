package io.prefork.supervisor.internal.log;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.StreamHandler;

/**
 * The command line's log: SLF4J calls, bound to the JDK's java.util.logging (slf4j-jdk14), written to stderr one
 * line per event, as text or as JSON ({@code --log-format}), at {@code --log-level}. Configured in code, once, by
 * {@link io.prefork.supervisor.Main} before anything logs; an application that embeds the supervisor keeps its own
 * logging configuration (this class is not called there).
 *
 * <p>Why java.util.logging: the level and the format are chosen at run time from the command line, which JUL allows
 * in a few lines with no configuration file, and it is in the JDK: the binding is 10 kB and starts in no
 * measurable time, where logback would add about 1 MB of jars and its own start-up. JSON is written with Jackson,
 * which the supervisor already ships for its admin endpoint.
 */
public final class LogSetup {
    /** Text lines: the same layout slf4j-simple had, so existing log readers keep working. */
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS", Locale.ROOT)
            .withZone(ZoneId.systemDefault());

    private LogSetup() {
    }

    /**
     * Sends every log record at {@code level} ({@code error} ... {@code trace}) or above to stderr, formatted as
     * {@code format} ({@code text} or {@code json}). Replaces whatever handlers JUL had (its default prints two lines
     * per record).
     */
    public static void configure(String level, String format) {
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        Level l = julLevel(level);
        Handler h = new StreamHandler(System.err, "json".equals(format) ? new JsonLines() : new TextLines()) {
            @Override
            public synchronized void publish(LogRecord record) {
                super.publish(record);
                flush(); // one event, one line, now: a log behind a crash is no log
            }
        };
        h.setLevel(l);
        root.addHandler(h);
        root.setLevel(l);
    }

    /** JUL's level for an SLF4J level name (slf4j-jdk14 maps debug to FINE and trace to FINEST). */
    static Level julLevel(String level) {
        switch (level) {
            case "error": return Level.SEVERE;
            case "warn": return Level.WARNING;
            case "debug": return Level.FINE;
            case "trace": return Level.FINEST;
            default: return Level.INFO;
        }
    }

    /** The SLF4J name of a JUL level: what the log shows. */
    static String levelName(Level l) {
        int v = l.intValue();
        if (v >= Level.SEVERE.intValue()) {
            return "ERROR";
        }
        if (v >= Level.WARNING.intValue()) {
            return "WARN";
        }
        if (v >= Level.INFO.intValue()) {
            return "INFO";
        }
        return v >= Level.FINE.intValue() ? "DEBUG" : "TRACE";
    }

    private static String stackTrace(Throwable t) {
        StringWriter w = new StringWriter();
        t.printStackTrace(new PrintWriter(w));
        return w.toString().stripTrailing();
    }

    /** {@code 2026-12-03 08:00:00.123 [INFO] prefork - message}, then the stack trace, if any. */
    static final class TextLines extends Formatter {
        @Override
        public String format(LogRecord r) {
            StringBuilder b = new StringBuilder(128);
            b.append(TIME.format(r.getInstant())).append(" [").append(levelName(r.getLevel())).append("] ")
                    .append(r.getLoggerName()).append(" - ").append(formatMessage(r)).append(System.lineSeparator());
            if (r.getThrown() != null) {
                b.append(stackTrace(r.getThrown())).append(System.lineSeparator());
            }
            return b.toString();
        }
    }

    /**
     * One object per line: {@code {"time":"2026-12-03T08:00:00.123Z","level":"INFO","logger":"prefork",
     * "message":"...","error":"stack trace"}} ({@code error} only with an exception). Time in UTC, ISO 8601, as
     * log pipelines parse it without configuration.
     */
    static final class JsonLines extends Formatter {
        /** Here, not in LogSetup: text logs (the default) then load none of Jackson's classes (issue 12, memory). */
        private static final JsonFactory JSON = new JsonFactory();

        @Override
        public String format(LogRecord r) {
            StringWriter w = new StringWriter(160);
            try (JsonGenerator g = JSON.createGenerator(w)) {
                g.writeStartObject();
                g.writeStringField("time", Instant.ofEpochMilli(r.getMillis()).toString());
                g.writeStringField("level", levelName(r.getLevel()));
                g.writeStringField("logger", r.getLoggerName());
                g.writeStringField("message", formatMessage(r));
                if (r.getThrown() != null) {
                    g.writeStringField("error", stackTrace(r.getThrown()));
                }
                g.writeEndObject();
            } catch (IOException e) {
                return "{\"level\":\"ERROR\",\"message\":\"cannot format a log record as JSON\"}"
                        + System.lineSeparator(); // a StringWriter does not fail; keep the line anyway
            }
            return w.append(System.lineSeparator()).toString();
        }
    }
}
