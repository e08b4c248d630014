package io.prefork.supervisor.internal.admin;

import io.prefork.supervisor.SupervisorStatus;
import io.prefork.supervisor.WorkerStatus;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;

/**
 * {@code GET /}: what a person wants to see at a glance, then the details. In the spirit of Apache's mod_status and
 * PHP-FPM's status page:
 * <ol>
 *   <li>a scoreboard, one character per worker slot ({@code _} idle, {@code W} busy...), as mod_status draws its
 *       {@code _SRWKDCLGI.} line: a row of them shows the pool's shape faster than a table;
 *   <li>small plots of the last minutes ({@link History}): connections per second, queue depth, busy workers,
 *       handoff latency; inline SVG drawn here, so the page needs no script and fetches nothing;
 *   <li>the summary table and one row per worker.
 * </ol>
 * Plain HTML that refreshes itself every 5 s. Every value is escaped, the worker states and the listen address
 * included: none of it comes from a user today, but the page must not become an injection point the day one does.
 */
public final class StatusPage {
    public static final String CONTENT_TYPE = "text/html; charset=utf-8";

    private StatusPage() {
    }

    /** The page without plots (no history yet). */
    public static String render(SupervisorStatus s, long supervisorPid, Instant now) {
        return render(s, supervisorPid, now, History.Snapshot.empty(AdminServer.SAMPLE_PERIOD_MS, AdminServer.SAMPLES));
    }

    static String render(SupervisorStatus s, long supervisorPid, Instant now, History.Snapshot history) {
        StringBuilder h = new StringBuilder(2048 + 256 * s.workers().size());
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
                .append("<meta http-equiv=\"refresh\" content=\"5\">\n")
                .append("<title>prefork ").append(esc(TcpListener.format(s.listen()))).append("</title>\n")
                .append("<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
                        + "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right}"
                        + "th{background:#eee}td.t{text-align:left}"
                        + ".board{font:bold 1.6em monospace;letter-spacing:.12em;margin:.3em 0}"
                        + ".board span{padding:0 .05em}.idle{color:#2a7d2a}.busy{color:#c05800}.boot{color:#1f5fb0}.spare{color:#6a3fa0}"
                        + ".drain{color:#8a5a00}.stop{color:#b00020}.dead{color:#666}.open{color:#aaa}"
                        + ".legend{color:#444;font-size:.9em}.legend code{font-weight:bold}"
                        + ".plots{display:grid;grid-template-columns:repeat(2,max-content);gap:.8em 2em;margin:.5em 0 1em}"
                        + "figure{margin:0}figcaption{font-size:.9em;color:#333}"
                        + "svg text{font:11px sans-serif;fill:#555}</style>\n")
                .append("</head>\n<body>\n")
                .append("<h1>prefork supervisor on ").append(esc(TcpListener.format(s.listen()))).append("</h1>\n");

        scoreboard(h, s);
        plots(h, history);

        h.append("<table class=\"summary\">\n");
        row(h, "state", s.state());
        row(h, "supervisor pid", Long.toString(supervisorPid));
        row(h, s.listen().size() == 1 ? "listen" : "listen (" + s.listen().size() + ")", TcpListener.format(s.listen()));
        row(h, "started at", s.startedAt().toString());
        row(h, "uptime", age(Duration.between(s.startedAt(), now)));
        row(h, "workers (target)", Integer.toString(s.targetWorkers()));
        row(h, "workers (processes)", Integer.toString(s.workers().size()));
        row(h, "queue depth", Integer.toString(s.queueDepth()));
        row(h, "parked (keep-alive, idle)", s.parked() + " now, " + s.parkedResumed() + " resumed since start");
        row(h, "accepted", Long.toString(s.accepted()));
        row(h, "restarts", Long.toString(s.restarts()));
        h.append("</table>\n");

        h.append("<h2>Workers</h2>\n<table class=\"workers\">\n<thead><tr><th>id</th><th>index</th><th>pid</th>"
                + "<th>state</th><th>in flight</th><th>served</th><th>age</th><th>last heartbeat</th></tr></thead>\n"
                + "<tbody>\n");
        for (WorkerStatus w : s.workers()) {
            h.append("<tr class=\"worker\">")
                    .append("<td>").append(w.id()).append("</td>")
                    .append("<td>").append(w.index()).append("</td>")
                    .append("<td>").append(w.pid()).append("</td>")
                    .append("<td class=\"t\">").append(esc(w.state())).append("</td>")
                    .append("<td>").append(w.inFlight()).append("</td>")
                    .append("<td>").append(w.served()).append("</td>")
                    .append("<td>").append(esc(age(w.age()))).append("</td>")
                    .append("<td>").append(w.sinceHeartbeat() == null ? "never"
                            : esc(age(w.sinceHeartbeat())) + " ago").append("</td>")
                    .append("</tr>\n");
        }
        h.append("</tbody>\n</table>\n")
                .append("<p>Machine-readable: <a href=\"/status\">/status</a> (JSON), "
                        + "<a href=\"/metrics\">/metrics</a> (Prometheus). Refreshes every 5 s.</p>\n")
                .append("</body>\n</html>\n");
        return h.toString();
    }

    /** Scoreboard characters, with their CSS class and meaning, in legend order. */
    private static final String[][] LEGEND = {
        {"_", "idle", "ready, idle"},
        {"W", "busy", "ready, serving (at least one connection)"},
        {"B", "boot", "booting (JVM started, not ready yet)"},
        {"+", "spare", "spare (ready, outside the rotation until promoted)"},
        {"D", "drain", "draining (finishing its connections before it stops)"},
        {"S", "stop", "stopping (told to exit)"},
        {"X", "dead", "exited, not yet reaped"},
        {".", "open", "empty slot (a worker is about to be started)"},
    };

    /**
     * One character per worker, by slot ({@code WorkerContext.index()}); a slot with a worker and its replacement
     * (a reload) shows both, a slot below the target with none shows {@code .}.
     */
    static String scoreboardText(SupervisorStatus s) {
        StringBuilder b = new StringBuilder();
        int slots = s.targetWorkers();
        for (WorkerStatus w : s.workers()) {
            slots = Math.max(slots, w.index() + 1);
        }
        for (int i = 0; i < slots; i++) {
            boolean any = false;
            for (WorkerStatus w : s.workers()) { // sorted by index, then id: the snapshot's order
                if (w.index() == i) {
                    b.append(code(w));
                    any = true;
                }
            }
            if (!any && i < s.targetWorkers()) {
                b.append('.');
            }
        }
        return b.toString();
    }

    static char code(WorkerStatus w) {
        switch (w.state()) {
            case "ready":
                return w.inFlight() > 0 ? 'W' : '_';
            case "starting":
                return 'B';
            case "spare":
                return '+';
            case "draining":
                return 'D';
            case "stopping":
                return 'S';
            default:
                return 'X';
        }
    }

    private static void scoreboard(StringBuilder h, SupervisorStatus s) {
        String board = scoreboardText(s);
        h.append("<h2>Scoreboard</h2>\n<div class=\"board\" title=\"one character per worker\">");
        for (int i = 0; i < board.length(); i++) {
            char c = board.charAt(i);
            String cls = "dead";
            for (String[] l : LEGEND) {
                if (l[0].charAt(0) == c) {
                    cls = l[1];
                }
            }
            h.append("<span class=\"").append(cls).append("\">").append(c).append("</span>");
        }
        int busy = 0;
        int idle = 0;
        for (char c : board.toCharArray()) {
            busy += c == 'W' ? 1 : 0;
            idle += c == '_' ? 1 : 0;
        }
        h.append("</div>\n<p>").append(busy).append(" busy, ").append(idle).append(" idle, ")
                .append(s.queueDepth()).append(" queued. ").append("<span class=\"legend\">");
        for (int i = 0; i < LEGEND.length; i++) {
            h.append(i == 0 ? "" : " &middot; ").append("<code class=\"").append(LEGEND[i][1]).append("\">")
                    .append(esc(LEGEND[i][0])).append("</code> ").append(esc(LEGEND[i][2]));
        }
        h.append("</span></p>\n");
    }

    private static void plots(StringBuilder h, History.Snapshot history) {
        long minutes = history.periodMs * history.capacity / 60_000;
        h.append("<h2>Last ").append(minutes).append(" minutes</h2>\n<div class=\"plots\">\n");
        for (int i = 0; i < History.NAMES.length; i++) {
            Plot.render(h, History.NAMES[i], history.series(i), history.capacity, minutes,
                    i == History.HANDOFF_MS ? 2 : i == History.CONNECTIONS_PER_SECOND ? 1 : 0);
        }
        h.append("</div>\n");
    }

    private static void row(StringBuilder h, String name, String value) {
        h.append("<tr><th class=\"t\">").append(esc(name)).append("</th><td class=\"t\">").append(esc(value))
                .append("</td></tr>\n");
    }

    /** {@code 4.2 s}, {@code 3 min 12 s}, {@code 5 h 07 min}, {@code 2 d 03 h}. */
    static String age(Duration d) {
        long ms = Math.max(0, d.toMillis());
        if (ms < 60_000) {
            return String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
        }
        long s = ms / 1000;
        if (s < 3600) {
            return (s / 60) + " min " + (s % 60) + " s";
        }
        if (s < 86_400) {
            return (s / 3600) + " h " + String.format(Locale.ROOT, "%02d", (s % 3600) / 60) + " min";
        }
        return (s / 86_400) + " d " + String.format(Locale.ROOT, "%02d", (s % 86_400) / 3600) + " h";
    }

    /** HTML-escapes text for element content and double- or single-quoted attribute values. */
    static String esc(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&':
                    b.append("&amp;");
                    break;
                case '<':
                    b.append("&lt;");
                    break;
                case '>':
                    b.append("&gt;");
                    break;
                case '"':
                    b.append("&quot;");
                    break;
                case '\'':
                    b.append("&#39;");
                    break;
                default:
                    b.append(c);
            }
        }
        return b.toString();
    }
}
