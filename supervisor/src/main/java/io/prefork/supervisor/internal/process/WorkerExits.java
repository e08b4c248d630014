package io.prefork.supervisor.internal.process;

import io.prefork.internal.runtime.WorkerExit;

/**
 * A worker's exit as the supervisor's log says it. A worker the supervisor told to stop dies of that SIGTERM (a JVM
 * ends with 128 + 15 after its shutdown hooks ran): that is the stop working, and must not read like a crash.
 */
public final class WorkerExits {
    private static final int SIGTERM_EXIT = 128 + 15;
    private static final int SIGKILL_EXIT = 128 + 9;

    private WorkerExits() {
    }

    /** @param asked whether the supervisor had asked this worker to stop */
    public static String describe(int code, boolean asked) {
        if (asked && code == SIGTERM_EXIT) {
            return "stopped";
        }
        if (asked && code == SIGKILL_EXIT) {
            return "killed (SIGKILL), as it did not stop in time";
        }
        return WorkerExit.describe(code);
    }
}
