package io.prefork.internal.runtime;

import io.prefork.worker.WorkerContext;
import java.util.Map;

/** The {@link WorkerContext} a worker's {@code start} receives: its slot, pid, concurrency and settings. */
final class WorkerContextImpl implements WorkerContext {
    private final int index;
    private final long pid;
    private final int concurrency;
    private final Map<String, String> settings;

    WorkerContextImpl(WorkerStartup startup, long pid) {
        this.index = startup.index();
        this.pid = pid;
        this.concurrency = startup.concurrency();
        this.settings = startup.settings();
    }

    @Override
    public int index() {
        return index;
    }

    @Override
    public long pid() {
        return pid;
    }

    @Override
    public int concurrency() {
        return concurrency;
    }

    @Override
    public Map<String, String> settings() {
        return settings;
    }
}
