package io.prefork.supervisor.internal.process;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A launcher that starts nothing: each "process" is a {@link FakeChild} that exits when the test says so. Its pid
 * is this JVM's, so the pool's bootstrap check (the kernel's pid must match the started process) passes, and no
 * signal is ever sent to it.
 */
public final class FakeLauncher implements Launcher {
    /** Every child started, in order. */
    public final List<FakeChild> started = new ArrayList<>();
    /** Set to make the next start fail. */
    public IOException failNext;

    @Override
    public Child start(int slot, Path bootSocket, String token) throws IOException {
        if (failNext != null) {
            IOException e = failNext;
            failNext = null;
            throw e;
        }
        FakeChild c = new FakeChild(slot, token);
        started.add(c);
        return c;
    }

    @Override
    public String program() {
        return "fake-java";
    }

    /** The slots of every child started, in order. */
    public List<Integer> slots() {
        List<Integer> out = new ArrayList<>();
        for (FakeChild c : started) {
            out.add(c.slot);
        }
        return out;
    }

    public FakeChild last() {
        return started.get(started.size() - 1);
    }

    /** A pretend worker process. */
    public static final class FakeChild implements Child {
        public final int slot;
        public final String token;
        public int terminated;
        public int killed;
        public int dumps;
        private boolean alive = true;
        private final CompletableFuture<Integer> exit = new CompletableFuture<>();

        FakeChild(int slot, String token) {
            this.slot = slot;
            this.token = token;
        }

        /** The process exits with {@code code}; the pool hears of it through {@link #onExit()}. */
        public void exit(int code) {
            alive = false;
            exit.complete(code);
        }

        @Override
        public long pid() {
            return ProcessHandle.current().pid();
        }

        @Override
        public boolean isAlive() {
            return alive;
        }

        @Override
        public void terminate() {
            terminated++;
        }

        @Override
        public void kill() {
            killed++;
        }

        @Override
        public void dumpThreads() {
            dumps++;
        }

        @Override
        public CompletableFuture<Integer> onExit() {
            return exit;
        }

        @Override
        public void awaitExit(long timeout, TimeUnit unit) {
            // Nothing to wait for: the test decides when a fake exits.
        }
    }
}
