package io.prefork.it.workers;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A handler that allocates without bound and keeps everything: the first connection it serves exhausts its heap.
 * Exercises the supervisor's default {@code -XX:+ExitOnOutOfMemoryError} and its reading of the exit.
 */
public final class HeapHogWorker implements Worker {
    @Override
    public void handle(Connection connection) throws IOException {
        List<long[]> kept = new ArrayList<>();
        while (true) {
            kept.add(new long[1 << 17]); // 1 MiB at a time, never released
        }
    }
}
