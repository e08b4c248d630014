package io.prefork.supervisor.internal.dispatch;

/**
 * The default dispatch policy: the worker with the fewest connections in flight (sent, taken or being served),
 * never one already at its concurrency. Ties go round-robin, starting after the last worker picked, so an idle
 * pool spreads sequential connections over every worker instead of always choosing the first.
 *
 * <p>This is the supervisor's advantage over kernel balancing (gunicorn, unicorn, PHP-FPM share one listening
 * socket and let whichever process wakes first take the connection): the supervisor knows every worker's real load.
 */
public final class LeastBusyPolicy {
    /** What the policy needs to know about a worker. */
    public interface Candidate {
        /** True if the worker is ready and accepting new connections. */
        boolean available();

        /** Connections sent to it and not yet reported done. */
        int inFlight();

        /** True if connections may be sent ahead to it (prefetch) now; false for a while after it gave some back. */
        default boolean mayPrefetch() {
            return true;
        }
    }

    private int last = -1;

    /** The most connections {@code w} may be sent: its concurrency, plus the prefetch while it may take some ahead. */
    public static int limit(Candidate w, int concurrency, int prefetch) {
        return prefetch > 0 && w.mayPrefetch() ? concurrency + prefetch : concurrency;
    }

    /**
     * Picks a worker. With prefetch, a worker at its concurrency may be sent up to {@code prefetch} more, to wait in
     * it untaken; but only when no worker has a free slot, because the least busy worker wins and a worker with a
     * free slot is less busy than one without.
     *
     * @param workers     the pool; null entries are skipped
     * @param concurrency the most connections one worker serves at once
     * @param prefetch    how many more may be sent ahead to a worker that {@link Candidate#mayPrefetch()}
     * @return the chosen index in {@code workers}, or -1 if every worker is unavailable or full
     */
    public int pick(java.util.List<? extends Candidate> workers, int concurrency, int prefetch) {
        int n = workers.size();
        if (n == 0) {
            return -1;
        }
        int best = -1;
        int bestLoad = Integer.MAX_VALUE;
        for (int k = 1; k <= n; k++) {
            int i = (last + k) % n;
            if (i < 0) {
                i += n;
            }
            Candidate w = workers.get(i);
            if (w == null || !w.available()) {
                continue;
            }
            int load = w.inFlight();
            if (load < limit(w, concurrency, prefetch) && load < bestLoad) {
                best = i;
                bestLoad = load;
                if (load == 0) {
                    break; // nobody is less busy than idle
                }
            }
        }
        if (best >= 0) {
            last = best;
        }
        return best;
    }
}
