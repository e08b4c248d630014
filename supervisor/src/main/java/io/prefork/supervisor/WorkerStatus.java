package io.prefork.supervisor;

import java.time.Duration;

/**
 * One worker process, as the supervisor saw it at the moment of a {@link SupervisorStatus} snapshot.
 *
 * @param id              unique for the supervisor's life (increases with every worker started)
 * @param index           the worker's slot, 0..workers-1, stable across replacements ({@code WorkerContext.index()})
 * @param pid             the worker JVM's pid
 * @param state           {@code starting} (JVM started, not ready), {@code ready} (taking connections),
 *                        {@code draining} (finishing its connections before it stops: recycled, reloaded or
 *                        removed), {@code stopping} (told to exit), {@code dead} (exited, not yet reaped)
 * @param inFlight        connections sent to it and not yet reported done
 * @param served          connections it finished
 * @param age             time since the process was started
 * @param sinceHeartbeat  time since its last frame (every worker sends one each second); null before the first
 */
public record WorkerStatus(long id, int index, long pid, String state, int inFlight, long served, Duration age,
                           Duration sinceHeartbeat) {
}
