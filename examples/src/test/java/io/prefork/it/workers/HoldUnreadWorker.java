package io.prefork.it.workers;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;

/**
 * Claims a connection and never reads it: {@code handle} prints {@code hold-unread: connection ID from PORT in PID}
 * (the client's port, so a test can tell its connections apart) and then blocks until the worker stops. The handler
 * runs only after the runtime has claimed the connection in the region it shares with the supervisor, so the line
 * marks a worker that has claimed a connection and not read a byte of it: the moment to kill it.
 */
public final class HoldUnreadWorker implements Worker {
    @Override
    public void handle(Connection connection) throws InterruptedException {
        System.out.println("hold-unread: connection " + connection.id() + " from " + connection.remoteAddress().getPort()
                + " in " + ProcessHandle.current().pid());
        System.out.flush();
        // Blocking is the point: nothing is read, so the connection is claimed and untouched when the test kills us.
        Thread.sleep(Long.MAX_VALUE);
    }
}
