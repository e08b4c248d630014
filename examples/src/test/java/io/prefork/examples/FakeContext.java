package io.prefork.examples;

import io.prefork.worker.WorkerContext;
import java.util.Map;

/** A {@link WorkerContext} for tests without a supervisor: slot 0, this JVM's pid, concurrency 1. */
record FakeContext(int index, long pid, int concurrency, Map<String, String> settings) implements WorkerContext {

    FakeContext {
        settings = Map.copyOf(settings);
    }

    static FakeContext of(Map<String, String> settings) {
        return new FakeContext(0, ProcessHandle.current().pid(), 1, settings);
    }
}
