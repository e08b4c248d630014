package io.prefork.supervisor.internal.process;

import io.prefork.internal.nativeio.NativeException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * How the pool starts a worker process and acts on it: the seam between the pool's rules (spawn, reap, murder,
 * backoff) and real JVMs, so those rules can be tested in-process with a fake. The real one is {@link JvmLauncher}.
 */
public interface Launcher {
    /**
     * Starts worker {@code slot}, which will connect to {@code bootSocket} and present {@code token}; its output is
     * already on its way into the supervisor's log when this returns.
     */
    Child start(int slot, Path bootSocket, String token) throws IOException;

    /** The program started, for the error message when starting fails. */
    String program();

    /** A started worker process. Its methods are safe from the loop thread; {@link #onExit} completes elsewhere. */
    interface Child {
        long pid();

        boolean isAlive();

        /** SIGTERM. */
        void terminate();

        /** SIGKILL. */
        void kill();

        /** SIGQUIT: a JVM prints every thread's stack to its standard output (which the log receives). */
        void dumpThreads() throws NativeException;

        /** Completes with the exit code once the process has exited and been reaped, on some other thread. */
        CompletableFuture<Integer> onExit();

        /** Waits up to {@code timeout} for the process to exit. */
        void awaitExit(long timeout, TimeUnit unit) throws InterruptedException;
    }
}
