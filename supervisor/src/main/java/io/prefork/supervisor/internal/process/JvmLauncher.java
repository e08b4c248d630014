package io.prefork.supervisor.internal.process;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** The real {@link Launcher}: worker JVMs as {@link WorkerLauncher} builds and starts them, their output pumped. */
public final class JvmLauncher implements Launcher {
    private final WorkerLauncher launcher;

    public JvmLauncher(WorkerLauncher launcher) {
        this.launcher = launcher;
    }

    @Override
    public Child start(int slot, Path bootSocket, String token) throws IOException {
        Process p = launcher.start(slot, bootSocket, token);
        WorkerLauncher.pumpOutput(p, slot);
        return new JvmChild(p);
    }

    @Override
    public String program() {
        return launcher.command().get(0);
    }

    private static final class JvmChild implements Child {
        private final Process process;

        JvmChild(Process process) {
            this.process = process;
        }

        @Override
        public long pid() {
            return process.pid();
        }

        @Override
        public boolean isAlive() {
            return process.isAlive();
        }

        @Override
        public void terminate() {
            // SIGTERM through the handle, not Process.destroy(): that also closes our end of the worker's output
            // pipe, so whatever the worker wrote while stopping was lost, and a JVM that writes after it (the child
            // JVM that assembles an AOT cache as the training worker exits: ClassDataArchive) died of SIGPIPE. The
            // pump closes the pipe when the worker and its children are done with it.
            process.toHandle().destroy();
        }

        @Override
        public void kill() {
            process.destroyForcibly();
        }

        @Override
        public void dumpThreads() throws NativeException {
            Native.kill(process.pid(), Native.SIGQUIT);
        }

        @Override
        public CompletableFuture<Integer> onExit() {
            return process.onExit().thenApply(Process::exitValue);
        }

        @Override
        public void awaitExit(long timeout, TimeUnit unit) throws InterruptedException {
            process.waitFor(timeout, unit);
        }
    }
}
