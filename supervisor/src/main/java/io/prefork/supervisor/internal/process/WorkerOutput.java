package io.prefork.supervisor.internal.process;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.event.Level;

/**
 * A worker's output (stdout and stderr merged, thread dumps included) copied into the supervisor's log, one log line
 * per output line, prefixed with the worker's index and pid.
 *
 * <p>The runtime's own messages, and any other {@code System.Logger}/java.util.logging record of the worker, arrive
 * formatted by {@link #JUL_FORMAT}: level, logger, message, and no time, which the supervisor's log adds. So such a
 * line is logged once, at its own level, with one timestamp, instead of an INFO line with a second timestamp and a
 * WARNING inside it. The lines of a stack trace that follow a record keep that record's level. Anything else a worker
 * prints (System.out, its own logging library's lines) is logged at INFO as it is.
 */
public final class WorkerOutput {
    /** The worker JVM's {@code java.util.logging.SimpleFormatter.format}: level, logger, message, throwable. */
    public static final String JUL_FORMAT = "%4$s %3$s - %5$s%6$s%n";
    private static final Logger WORKER_LOG = LoggerFactory.getLogger("prefork.worker");
    private static final Pattern RECORD =
            Pattern.compile("(SEVERE|WARNING|INFO|CONFIG|FINE|FINER|FINEST) (\\S+) - (.*)");
    /** A line of a stack trace: "\tat ...", "Caused by: ...", "\t... 3 more", "Suppressed: ...". */
    private static final Pattern TRACE = Pattern.compile("\\s+.*|Caused by: .*|Suppressed: .*");

    private WorkerOutput() {
    }

    /** One daemon thread per worker; it ends when the worker's end of the pipe closes, i.e. when the worker exits. */
    public static void pump(Process process, int index) {
        String prefix = "[worker " + index + " pid " + process.pid() + "] ";
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                Level last = null;
                String line;
                while ((line = r.readLine()) != null) {
                    Matcher m = RECORD.matcher(line);
                    if (m.matches()) {
                        last = level(m.group(1));
                        String logger = m.group(2);
                        // The runtime's messages name themselves ("prefork worker: ..."); others keep their logger.
                        String text = logger.equals("io.prefork.worker") ? m.group(3) : logger + ": " + m.group(3);
                        WORKER_LOG.atLevel(last).log(prefix + text);
                    } else if (last != null && (TRACE.matcher(line).matches() || isThrowableLine(line))) {
                        WORKER_LOG.atLevel(last).log(prefix + line);
                    } else {
                        last = null;
                        WORKER_LOG.info(prefix + line);
                    }
                }
            } catch (IOException e) {
                // The pipe broke: the worker is gone.
            }
        }, "prefork-output-" + process.pid());
        t.setDaemon(true);
        t.start();
    }

    /** The first line of a throwable printed after a record's message: {@code java.io.IOException: ...}. */
    private static boolean isThrowableLine(String line) {
        int colon = line.indexOf(':');
        String head = colon > 0 ? line.substring(0, colon) : line;
        return head.matches("[\\w$.]+(Exception|Error|Throwable)");
    }

    static Level level(String jul) {
        switch (jul) {
            case "SEVERE": return Level.ERROR;
            case "WARNING": return Level.WARN;
            case "INFO": return Level.INFO;
            case "CONFIG":
            case "FINE": return Level.DEBUG;
            default: return Level.TRACE;
        }
    }
}
