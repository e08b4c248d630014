package io.prefork.examples;

import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The Jetty set-up {@link JettyWorker} and {@link PlainJettyServer} share, so the benchmark compares connectors and
 * nothing else. Kept apart from {@code JettyWorker}: {@code PlainJettyServer} runs without the Prefork worker API on
 * its classpath.
 */
final class JettySetup {

    /** Jetty's idle timeout, the same default as {@link HelloHttpWorker}'s keep-alive timeout. */
    static final int DEFAULT_IDLE_TIMEOUT_MS = 5000;

    private JettySetup() {
    }

    /**
     * A small server: blocking servlet I/O holds a thread per request being served, so {@code concurrency} threads
     * for requests, one for the selector, and a few for Jetty's own tasks.
     *
     * @param concurrency connections served at once (a worker's {@code --concurrency}, or the plain server's
     *                    {@code --threads})
     */
    static Server newServer(int concurrency) {
        QueuedThreadPool threads = new QueuedThreadPool(Math.max(8, concurrency + 4), 2);
        threads.setName("jetty");
        // No threads kept spinning in reserve for a load this small; they would only cost memory and wake-ups.
        threads.setReservedThreads(0);
        Server server = new Server(threads);
        // No graceful phase of Jetty's own: a worker is stopped after the supervisor's --graceful-timeout has already
        // let connections finish. With one, stop() waits for idle kept-alive connections and then throws
        // TimeoutException; without, it closes what is left at once, which ends those connections' handle().
        server.setStopTimeout(0);
        return server;
    }

    /** HTTP/1.1 as Jetty configures it by default, without the {@code Server: Jetty(version)} header. */
    static HttpConfiguration httpConfiguration() {
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        return http;
    }
}
