package io.prefork.examples;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;
import java.util.concurrent.ExecutionException;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;

/**
 * A Jetty 12 server in each worker process, serving the servlet application of {@link ServletApplication}
 * ({@code /} answers as {@link HelloHttpWorker} does, {@code /echo} echoes a POST body), unchanged.
 *
 * <p>The server has no listening socket: its one connector, a {@link PreforkConnector}, is fed the connections the
 * supervisor passes. {@link #handle} gives Jetty the channel and waits until Jetty has closed it, so a connection
 * counts as in flight in the supervisor for exactly as long as Jetty serves it, keep-alive included; with
 * {@code --concurrency K}, K connections are served at once.
 *
 * <p>Worker settings:
 * <ul>
 *   <li>{@code keepAliveTimeoutMs} (default 5000, at least 1): Jetty's idle timeout, i.e. how long a kept-alive
 *       connection may wait for its next request before Jetty closes it (and the slot is free again).</li>
 * </ul>
 */
public final class JettyWorker implements Worker {

    private Server server;
    private PreforkConnector connector;

    /** Creates the worker; the runtime calls this public no-argument constructor. */
    public JettyWorker() {
    }

    @Override
    public void start(WorkerContext context) throws Exception {
        int keepAliveTimeoutMs = Settings.intSetting(context, "keepAliveTimeoutMs",
                JettySetup.DEFAULT_IDLE_TIMEOUT_MS, 1);
        server = JettySetup.newServer(context.concurrency());
        connector = new PreforkConnector(server, 1, new HttpConnectionFactory(JettySetup.httpConfiguration()));
        connector.setIdleTimeout(keepAliveTimeoutMs);
        server.addConnector(connector);
        server.setHandler(ServletApplication.create());
        server.start();
    }

    @Override
    public void handle(Connection connection) throws Exception {
        try {
            connector.serve(connection.channel()).get();
        } catch (ExecutionException e) {
            // Jetty could not take the channel (the server is stopping); the runtime logs it and closes the channel.
            throw new java.io.IOException("Jetty did not take connection " + connection.id(), e.getCause());
        }
    }

    @Override
    public void stop() throws Exception {
        if (server != null) {
            // Closes every connection Jetty still serves, which completes their futures and so ends their handle().
            server.stop();
        }
    }
}
