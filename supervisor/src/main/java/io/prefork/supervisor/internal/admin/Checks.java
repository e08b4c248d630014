package io.prefork.supervisor.internal.admin;

import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.supervisor.SupervisorStatus;
import io.prefork.supervisor.WorkerStatus;

/**
 * What {@code /ready} decides from a snapshot. Ready means a balancer may send connections here and they will be
 * served: the supervisor listens ({@code starting} or {@code running}; it accepts while the first workers boot) and
 * at least one worker is ready. From the moment a stop begins ({@code draining}, then {@code stopping}) it is not,
 * although the listeners stay open a moment longer: the balancer must stop first, or its next connections are
 * refused.
 */
final class Checks {
    private Checks() {
    }

    /** Why the supervisor is not ready, or null when it is. */
    static String notReady(SupervisorStatus s) {
        switch (s.state()) {
            case "draining":
                return "stopping gracefully (finishing the connections in flight; take it out of rotation)";
            case "stopping":
            case "stopped":
                return s.state();
            default:
                break;
        }
        int ready = readyWorkers(s);
        if (ready == 0) {
            return "no worker is ready yet (0/" + s.targetWorkers() + ", " + s.workers().size()
                    + " starting or replacing)";
        }
        return null;
    }

    /** {@code 2/2 workers ready on 127.0.0.1:8080 (running)}. */
    static String readySummary(SupervisorStatus s) {
        return readyWorkers(s) + "/" + s.targetWorkers() + " workers ready on " + TcpListener.format(s.listen()) + " ("
                + s.state() + ")";
    }

    static int readyWorkers(SupervisorStatus s) {
        int n = 0;
        for (WorkerStatus w : s.workers()) {
            if (w.state().equals("ready")) {
                n++;
            }
        }
        return n;
    }
}
