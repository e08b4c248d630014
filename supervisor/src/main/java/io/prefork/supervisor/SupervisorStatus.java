package io.prefork.supervisor;

import java.net.InetSocketAddress;
import java.time.Instant;
import java.util.List;

/**
 * A consistent snapshot of the supervisor, taken on its loop thread (so every number is from the same instant).
 *
 * @param state        {@code starting}, {@code running}, {@code draining} (stopping gracefully), {@code stopping},
 *                     {@code stopped}
 * @param listen       the bound listen addresses, in --listen order
 * @param queueDepth   accepted connections waiting for a worker
 * @param accepted     connections accepted since start
 * @param restarts     workers started to replace one that died
 * @param targetWorkers how many workers it keeps running (changed by TTIN/TTOU)
 * @param startedAt    when the supervisor started
 * @param workers      every worker process it has not yet reaped, replacements being started included
 * @param parked       keep-alive connections parked in the supervisor now, idle between requests
 * @param parkedResumed parked connections handed to a worker again since start
 */
public record SupervisorStatus(String state, List<InetSocketAddress> listen, int queueDepth, long accepted, long restarts,
                               int targetWorkers, Instant startedAt, List<WorkerStatus> workers, int parked,
                               long parkedResumed) {

    /** A snapshot with nothing parked. */
    public SupervisorStatus(String state, List<InetSocketAddress> listen, int queueDepth, long accepted, long restarts,
                            int targetWorkers, Instant startedAt, List<WorkerStatus> workers) {
        this(state, listen, queueDepth, accepted, restarts, targetWorkers, startedAt, workers, 0, 0);
    }
}
