package io.prefork.examples;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;
import java.io.IOException;

/**
 * Runs the legacy {@link LegacyLineServer} under Prefork, unchanged: its {@code handle(Socket)} gets the
 * {@link java.net.Socket} view of the passed channel ({@code channel().socket()}), whose streams block and honour
 * {@code setSoTimeout} exactly as an accepted {@code Socket}'s do, since the channel arrives in blocking mode.
 *
 * <p>Worker settings:
 * <ul>
 *   <li>{@code idleTimeoutMs} (default 30000, at least 1): passed to the legacy server's constructor.</li>
 * </ul>
 */
public final class LegacySocketWorker implements Worker {

    private LegacyLineServer server;

    /** Creates the worker; the runtime calls this public no-argument constructor. */
    public LegacySocketWorker() {
    }

    @Override
    public void start(WorkerContext context) {
        server = new LegacyLineServer(Settings.intSetting(context, "idleTimeoutMs", 30_000, 1));
    }

    @Override
    public void handle(Connection connection) throws IOException {
        server.handle(connection.channel().socket());
    }
}
