package io.prefork.supervisor;

/** The supervisor's exit codes: distinct per kind of failure, so scripts can tell them apart. */
public final class ExitCodes {
    /** Stopped normally (SIGTERM/SIGINT, connections drained). */
    public static final int OK = 0;
    /** An unexpected internal error; the log has the stack trace. */
    public static final int INTERNAL = 1;
    /** Bad command line or settings: nothing was started. */
    public static final int USAGE = 2;
    /** A worker failed to boot (class not loadable, start() threw, died before ready): gunicorn's halt rule. */
    public static final int BOOT_FAILED = 3;
    /** Could not listen on --listen (address in use, not local, no permission). */
    public static final int LISTEN_FAILED = 4;
    /**
     * A socket passed by the service manager (socket activation, LISTEN_FDS) is not a listening TCP socket (a UDP or
     * AF_UNIX socket, a connection from {@code Accept=yes}, not a socket at all): the .socket unit needs fixing.
     */
    public static final int INHERITED_SOCKET_INVALID = 5;
    /**
     * {@code --drop-privileges}: switching the supervisor to {@code --user} failed (setgroups, setgid or setuid refused,
     * e.g. no CAP_SETUID in a container). A supervisor half switched must not serve, so it stops before any worker.
     */
    public static final int PRIVILEGES_FAILED = 6;

    private ExitCodes() {
    }
}
