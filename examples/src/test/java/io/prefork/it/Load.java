package io.prefork.it;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A bounded load for integration tests: {@code threads} clients each doing one GET per TCP connection in a loop,
 * until {@link #close()} (or a hard cap of requests). Counts successes and failures and remembers which worker
 * pids answered.
 */
public final class Load implements AutoCloseable {
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final AtomicInteger ok = new AtomicInteger();
    private final List<String> failures = Collections.synchronizedList(new ArrayList<>());
    private final Set<Long> pids = Collections.synchronizedSet(new HashSet<>());
    private final List<Thread> threads = new ArrayList<>();

    public Load(int port, int threadCount, int maxRequestsPerThread) {
        for (int t = 0; t < threadCount; t++) {
            Thread th = new Thread(() -> {
                for (int i = 0; i < maxRequestsPerThread && running.get(); i++) {
                    try {
                        HttpClient.Response r = HttpClient.get("127.0.0.1", port, "/", Duration.ofSeconds(20));
                        if (r.status() == 200) {
                            ok.incrementAndGet();
                            pids.add(Long.parseLong(r.header("x-prefork-worker")));
                        } else {
                            failures.add("status " + r.status());
                        }
                    } catch (Exception e) {
                        failures.add(e.toString());
                    }
                }
            }, "it-load-" + t);
            th.setDaemon(true);
            threads.add(th);
            th.start();
        }
    }

    public int ok() {
        return ok.get();
    }

    public List<String> failures() {
        synchronized (failures) {
            return new ArrayList<>(failures);
        }
    }

    public Set<Long> pids() {
        synchronized (pids) {
            return new HashSet<>(pids);
        }
    }

    /** Stops the clients and waits (at most 30 s) for them; each finishes its current request. Idempotent. */
    public void stop() {
        running.set(false);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        for (Thread t : threads) {
            try {
                t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Override
    public void close() {
        stop();
    }
}
