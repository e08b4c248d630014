package io.prefork.supervisor.internal.admin;

import io.prefork.supervisor.SupervisorStatus;
import io.prefork.supervisor.WorkerStatus;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;

/**
 * {@code GET /}: the supervisor and one table row per worker, in the spirit of Apache's mod_status and PHP-FPM's
 * status page. Plain HTML that refreshes itself every 5 s; no script. Every value is escaped, the worker states
 * and the listen address included: none of it comes from a user today, but the page must not become an injection
 * point the day one does.
 */
public final class StatusPage {
    public static final String CONTENT_TYPE = "text/html; charset=utf-8";

    private StatusPage() {
    }

    public static String render(SupervisorStatus s, long supervisorPid, Instant now) {
        StringBuilder h = new StringBuilder(2048 + 256 * s.workers().size());
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
                .append("<meta http-equiv=\"refresh\" content=\"5\">\n")
                .append("<title>prefork ").append(esc(TcpListener.format(s.listen()))).append("</title>\n")
                .append("<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
                        + "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right}"
                        + "th{background:#eee}td.t{text-align:left}</style>\n")
                .append("</head>\n<body>\n")
                .append("<h1>prefork supervisor on ").append(esc(TcpListener.format(s.listen()))).append("</h1>\n");

        h.append("<table class=\"summary\">\n");
        row(h, "state", s.state());
        row(h, "supervisor pid", Long.toString(supervisorPid));
        row(h, s.listen().size() == 1 ? "listen" : "listen (" + s.listen().size() + ")", TcpListener.format(s.listen()));
        row(h, "started at", s.startedAt().toString());
        row(h, "uptime", age(Duration.between(s.startedAt(), now)));
        row(h, "workers (target)", Integer.toString(s.targetWorkers()));
        row(h, "workers (processes)", Integer.toString(s.workers().size()));
        row(h, "queue depth", Integer.toString(s.queueDepth()));
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
