package io.prefork.internal.runtime;

/**
 * Why a worker JVM exits. Any thread may find one; only the main thread acts on it (see {@link ExitRequests}), so
 * exactly one place in the runtime calls {@code System.exit}.
 */
enum ExitReason {
    /** The supervisor closed the channel (end-of-stream): no one can send work or hear reports any more. */
    CHANNEL_CLOSED(WorkerExit.OK),
    /** A heartbeat found the supervisor's end gone (EPIPE, ECONNRESET) while the receiving thread was serving. */
    SUPERVISOR_GONE(WorkerExit.OK),
    /** Loading the worker class, constructing it or its {@code start} failed. */
    BOOT_FAILED(WorkerExit.BOOT_FAILED),
    /** This JVM cannot wrap descriptors (missing flag, platform or JDK). */
    UNSUPPORTED(WorkerExit.UNSUPPORTED),
    /** No channel from the supervisor: bad startup environment, endpoint gone or token refused. */
    BOOTSTRAP_FAILED(WorkerExit.BOOTSTRAP_FAILED),
    /** The supervisor sent a frame that is not valid, or receiving from it failed. */
    PROTOCOL_ERROR(WorkerExit.PROTOCOL_ERROR),
    /**
     * The receiving thread ended with an unexpected exception (a bug): exit code 1, as an exception escaping
     * {@code main} would give.
     */
    CRASHED(1);

    /** The process exit code, one of {@link WorkerExit}'s. */
    final int code;

    ExitReason(int code) {
        this.code = code;
    }
}
