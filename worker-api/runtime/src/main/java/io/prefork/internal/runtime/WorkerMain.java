package io.prefork.internal.runtime;

import io.prefork.internal.nativeio.Bootstrap;
import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Syscalls;
import io.prefork.internal.wire.SharedRegion;
import java.io.IOException;

/**
 * The entry point of a worker JVM. The supervisor starts
 * {@code java --add-opens java.base/sun.nio.ch=ALL-UNNAMED ... io.prefork.internal.runtime.WorkerMain} with a
 * {@link WorkerStartup} in its environment; it is not meant to be started by hand.
 *
 * <p>The main thread is the only one that ends the process: it boots the worker, then waits for the first
 * {@link ExitReason} that the runtime's threads post ({@link ExitRequests}), and exits with its code.
 */
public final class WorkerMain {
    private WorkerMain() {
    }

    public static void main(String[] args) {
        ExitRequests exits = new ExitRequests();
        ExitReason reason = start(exits);
        while (reason == null) {
            try {
                reason = exits.await();
            } catch (InterruptedException e) {
                // Nothing in the runtime interrupts the main thread; keep waiting for a reason.
            }
        }
        System.exit(reason.code);
    }

    /** Boots the worker; null once its threads run (they post the exit reason), else why it cannot run. */
    private static ExitReason start(ExitRequests exits) {
        ChannelWrapper wrapper;
        try {
            Syscalls.checkPlatform();
            wrapper = ChannelWrapper.create();
        } catch (ChannelWrapper.UnavailableException | UnsupportedOperationException e) {
            System.err.println("prefork worker: " + e.getMessage());
            return ExitReason.UNSUPPORTED;
        }
        WorkerStartup startup;
        try {
            startup = WorkerStartup.fromEnvironment(System.getenv());
        } catch (WorkerStartup.InvalidException e) {
            System.err.println("prefork worker: " + e.getMessage());
            return ExitReason.BOOTSTRAP_FAILED;
        }
        Bootstrap.Handed handed;
        try {
            handed = Bootstrap.connect(startup.bootSocket(), startup.bootToken(), 10_000);
        } catch (IOException e) {
            System.err.println("prefork worker: cannot get a channel from the supervisor at " + startup.bootSocket()
                    + ": " + e.getMessage());
            return ExitReason.BOOTSTRAP_FAILED;
        }
        SharedRegion region;
        try {
            region = SharedRegion.attach(handed.regionFd);
        } catch (IOException e) {
            System.err.println("prefork worker: cannot map the region shared with the supervisor: " + e.getMessage());
            handed.channel.close();
            return ExitReason.BOOTSTRAP_FAILED;
        } finally {
            // The mapping keeps the memory; the descriptor would only be one more for handlers to inherit.
            Syscalls.closeQuietly(handed.regionFd);
        }
        return new WorkerRuntime(handed.channel, region, wrapper, startup, exits).start();
    }
}
