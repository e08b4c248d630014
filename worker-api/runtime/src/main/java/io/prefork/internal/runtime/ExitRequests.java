package io.prefork.internal.runtime;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * Where the runtime's threads (receiving, heartbeat) ask for the process to exit. They only post a reason; the main
 * thread waits here and is the one that calls {@code System.exit}, so no other thread ends the JVM under it, and
 * the first reason posted is the one the supervisor reads in the exit code.
 */
final class ExitRequests {
    private final CompletableFuture<ExitReason> first = new CompletableFuture<>();

    /** Asks for an exit; later requests are ignored (the first reason decides). Never blocks. */
    void post(ExitReason reason) {
        first.complete(reason);
    }

    /** Blocks until some thread has posted a reason; main thread only. */
    ExitReason await() throws InterruptedException {
        try {
            return first.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e); // never completed exceptionally
        }
    }
}
