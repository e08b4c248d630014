package io.prefork.worker;

import java.util.Map;

/** What a worker knows about itself, handed to {@link Worker#start(WorkerContext)}. */
public interface WorkerContext {

    /**
     * This worker's slot, from 0 to the number of workers minus 1. A worker that replaces a dead one takes the
     * dead one's slot, so the index is stable across restarts while the pid is not. With {@code --spare-workers S}
     * the range is 0 to workers + S - 1: a spare starts in a free slot and keeps that index when it is promoted, so
     * indexes stay unique among live workers but a slot's index may move to another number after a promotion.
     */
    int index();

    /** This worker process's pid. */
    long pid();

    /** The most connections this worker is given at once ({@code --concurrency}); also its number of handler threads. */
    int concurrency();

    /** The supervisor's {@code --worker-setting KEY=VALUE} pairs, unmodifiable; empty if none were given. */
    Map<String, String> settings();

    /**
     * One setting, or a default.
     *
     * @param key          the setting's name
     * @param defaultValue returned when the setting is absent
     * @return the value given to the supervisor, or {@code defaultValue}
     */
    default String setting(String key, String defaultValue) {
        return settings().getOrDefault(key, defaultValue);
    }
}
