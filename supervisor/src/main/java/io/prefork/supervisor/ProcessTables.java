package io.prefork.supervisor;

import java.util.List;

/**
 * The signals the command line handles and its exit codes, each once: {@code --help} ({@link Main#usage()}) and the
 * README's Signals and Exit codes tables are rendered from these rows (a test fails when the README's copy is stale),
 * as the options are from {@link Settings#ALL}.
 *
 * <p>Each row has a summary, which both show, and details only the README has room for.
 */
public final class ProcessTables {
    private ProcessTables() {
    }

    /** One row: a signal name or an exit code, what it means in brief, and more for the README (may be empty). */
    public record Row(String key, String summary, String details) {
    }

    /** What each signal does, gunicorn's conventions. */
    public static final List<Row> SIGNALS = List.of(
            new Row("TERM", "Graceful stop: connections in flight finish (up to `--graceful-timeout`), then workers "
                    + "stop; a second `TERM` stops them at once.",
                    "In detail: refuse new TCP handshakes (a socket filter drops new SYNs; such clients retry after a "
                            + "second and find the port closed), let those under way finish (at most 1 s), accept "
                            + "everything in each listener's kernel backlog, and only then close the listeners, so no "
                            + "connection whose handshake completed is reset; let connections in flight finish, then "
                            + "send workers `TERM`, and `KILL` 5 s later; reap them; exit 0."),
            new Row("INT", "Quick stop: workers get `TERM` now, `KILL` 5 s later; queued connections are closed.", ""),
            new Row("HUP", "Rolling reload: every worker is replaced by a fresh JVM, one at a time, with no capacity "
                    + "dip.", "New code on the worker classpath takes effect; each replacement is ready before the "
                    + "worker it replaces stops taking connections, which then finishes what it has and exits. No "
                    + "failed request."),
            new Row("TTIN", "One more worker.", ""),
            new Row("TTOU", "One fewer worker: the oldest finishes what it has and exits.", ""),
            new Row("USR2", "Upgrade the supervisor itself: a new supervisor from the same command line takes the "
                    + "listening sockets; once its workers are ready, this one drains and exits.",
                    "The new one is started from the same java, JVM options, jar and arguments, and is handed the "
                            + "listening sockets over a private socket; until its workers are ready it accepts "
                            + "nothing and this one serves on. If it fails to boot, this one keeps serving and logs "
                            + "why (a later `USR2` may retry). `--pid` follows the new one; under systemd this one "
                            + "announces the new `MAINPID`. See \"Upgrading the supervisor\"."),
            new Row("QUIT", "Not handled: the JVM reserves it for thread dumps; it prints the supervisor's threads and "
                    + "does not stop it.", ""));

    /** The exit codes, {@link ExitCodes}. */
    public static final List<Row> EXIT_CODES = List.of(
            new Row(Integer.toString(ExitCodes.OK), "stopped normally", ""),
            new Row(Integer.toString(ExitCodes.INTERNAL), "internal error (the log has the stack trace)", ""),
            new Row(Integer.toString(ExitCodes.USAGE), "bad command line or settings (nothing was started)",
                    "e.g. `--workers 0`, an unknown option, an unknown worker class, a missing or damaged classpath "
                            + "entry, a malformed `--listen`, a bad line in `--config`"),
            new Row(Integer.toString(ExitCodes.BOOT_FAILED), "a worker failed to boot",
                    "its class could not be loaded, its constructor or `start()` threw, or it died before becoming "
                            + "ready while the supervisor was starting. As in gunicorn, the supervisor stops instead "
                            + "of respawning forever; the first line says why (a missing class, the Java a class "
                            + "needs), the log has the cause chain"),
            new Row(Integer.toString(ExitCodes.LISTEN_FAILED), "cannot listen",
                    "address in use, not an address of this machine, or permission denied"),
            new Row(Integer.toString(ExitCodes.INHERITED_SOCKET_INVALID), "a socket passed by systemd cannot be "
                    + "served", "it is not a listening TCP socket, or the `LISTEN_*` variables are malformed (see "
                    + "\"Running under systemd\")"),
            new Row(Integer.toString(ExitCodes.PRIVILEGES_FAILED), "cannot drop privileges",
                    "with `--drop-privileges`, the switch to `--user` failed (a container without CAP_SETUID or "
                            + "CAP_SETGID, say); nothing was served, and no worker was started"));

    /** The README's Signals table. */
    public static String signalsMarkdown() {
        return markdown("signal", "effect", SIGNALS, true, " ");
    }

    /** The README's Exit codes table. */
    public static String exitCodesMarkdown() {
        return markdown("code", "meaning", EXIT_CODES, false, ": ");
    }

    /** A two-column Markdown table of {@code rows}, each line ending in a newline. */
    private static String markdown(String keyHeader, String meaningHeader, List<Row> rows, boolean codeKeys,
                                   String detailSeparator) {
        StringBuilder md = new StringBuilder("| " + keyHeader + " | " + meaningHeader + " |\n|---|---|\n");
        for (Row r : rows) {
            String key = codeKeys ? "`" + r.key() + "`" : r.key();
            String meaning = r.details().isEmpty() ? r.summary() : r.summary() + detailSeparator + r.details();
            md.append("| ").append(key).append(" | ").append(meaning.replace("|", "\\|")).append(" |\n");
        }
        return md.toString();
    }
}
