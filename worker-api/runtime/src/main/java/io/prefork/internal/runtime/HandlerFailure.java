package io.prefork.internal.runtime;

import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.Locale;

/**
 * How the runtime logs an exception that escaped {@code Worker.handle}. A client that resets its connection or
 * closes it under a write is the client's business, and common (a load tester stopping, a browser closing a tab):
 * one line at DEBUG, not a stack trace at WARNING, which a busy server would print a hundred times a second and
 * which would hide the failures that are the handler's own.
 */
final class HandlerFailure {
    private HandlerFailure() {
    }

    static void log(Logger log, long connectionId, Throwable t) {
        if (clientWentAway(t)) {
            if (log.isLoggable(Level.DEBUG)) {
                log.log(Level.DEBUG, "prefork worker: connection " + connectionId + ": the client went away ("
                        + t.getMessage() + ")");
            }
            return;
        }
        log.log(Level.WARNING, "prefork worker: handler failed on connection " + connectionId, t);
    }

    /**
     * Whether {@code t}, or a cause of it, is the peer's reset or close: ECONNRESET ("Connection reset", "Connection
     * reset by peer") or EPIPE ("Broken pipe") as the JDK's socket and channel code word them on Linux.
     */
    static boolean clientWentAway(Throwable t) {
        int depth = 0;
        for (Throwable c = t; c != null && depth < 8; c = c.getCause(), depth++) {
            if (c instanceof IOException && c.getMessage() != null) {
                String m = c.getMessage().toLowerCase(Locale.ROOT);
                if (m.startsWith("connection reset") || m.startsWith("broken pipe")) {
                    return true;
                }
            }
        }
        return false;
    }
}
