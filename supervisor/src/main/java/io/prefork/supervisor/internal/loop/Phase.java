package io.prefork.supervisor.internal.loop;

/** The supervisor's phase. Order matters: phases compare by ordinal, and the loop only ever moves forward. */
public enum Phase {
    /** Workers are starting; the supervisor is not ready yet (a worker dying now is a boot failure). */
    STARTING,
    /** Every initial worker was ready once; serving, and HUP/TTIN/TTOU act. */
    RUNNING,
    /** Graceful stop: the listeners close, connections in flight finish up to the graceful timeout. */
    DRAINING,
    /** Workers told to exit (SIGTERM, then SIGKILL); the loop ends once every one is reaped. */
    STOPPING,
    /** The loop has ended. */
    STOPPED
}
