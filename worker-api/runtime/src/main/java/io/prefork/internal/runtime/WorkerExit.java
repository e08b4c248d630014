package io.prefork.internal.runtime;

/**
 * Exit codes reserved by the worker runtime (the process's side of {@link ExitReason}), read by the supervisor when it reaps a worker. As in gunicorn's
 * arbiter, a worker that exits with {@link #BOOT_FAILED} (or any worker that dies before it is ready while the
 * supervisor is starting) stops the supervisor instead of entering a respawn loop that can never succeed.
 */
public final class WorkerExit {
    /** Normal: told to stop, or the channel to the supervisor closed. */
    public static final int OK = 0;
    /**
     * The JVM's own exit code under {@code -XX:+ExitOnOutOfMemoryError}, which the supervisor passes workers by
     * default: the heap ran out. Not a code the runtime uses; named here so that no reserved code collides with it.
     */
    public static final int OUT_OF_MEMORY = 3;
    /**
     * Loading the Worker class, constructing it or its start() failed. 78 (sysexits' EX_CONFIG): never a code the
     * JVM exits with by itself (it was 3, which is also -XX:+ExitOnOutOfMemoryError's, so a worker out of heap
     * stopped the whole supervisor as a boot failure).
     */
    public static final int BOOT_FAILED = 78;
    /** This JVM cannot wrap descriptors (missing JVM flag, unsupported platform or JDK). */
    public static final int UNSUPPORTED = 4;
    /** Could not get a channel from the supervisor (bad environment, endpoint gone, token refused). */
    public static final int BOOTSTRAP_FAILED = 5;
    /** The supervisor sent something that is not a valid frame. */
    public static final int PROTOCOL_ERROR = 6;

    private WorkerExit() {
    }

    /** A short description of a worker exit code, for the supervisor's log. */
    public static String describe(int code) {
        switch (code) {
            case OK: return "exited normally";
            case BOOT_FAILED: return "failed to boot (exit " + code + ")";
            case OUT_OF_MEMORY: return "ran out of heap: java.lang.OutOfMemoryError (exit " + code
                    + ", -XX:+ExitOnOutOfMemoryError; raise -Xmx with --worker-jvm-option)";
            case UNSUPPORTED: return "cannot wrap descriptors (exit " + code + ")";
            case BOOTSTRAP_FAILED: return "could not connect to the supervisor (exit " + code + ")";
            case PROTOCOL_ERROR: return "received an invalid frame (exit " + code + ")";
            default:
                if (code > 128) {
                    return "killed by signal " + (code - 128) + " (exit " + code + ")";
                }
                return "exited with code " + code;
        }
    }
}
