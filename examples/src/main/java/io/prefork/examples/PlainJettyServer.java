package io.prefork.examples;

import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/**
 * The servlet application of {@link JettyWorker} in one ordinary Jetty server that listens itself: the baseline of
 * the Jetty end-to-end benchmark (bench/scripts/e2e-jetty.sh), and the "before" of the README's "Running an existing
 * application". Same {@link ServletApplication}, same {@link JettySetup}; only the connector is Jetty's own. Needs
 * only this jar (Jetty is in it), not the Prefork worker API.
 *
 * <p>Usage: {@code java -cp examples/target/prefork-examples.jar io.prefork.examples.PlainJettyServer
 * --listen 127.0.0.1:8080 [--threads N]}. Port 0 picks a free port. Prints
 * {@code plain-jetty: ready on HOST:PORT} on stdout once it listens; stops on SIGTERM or Ctrl-C.
 */
public final class PlainJettyServer {

    private PlainJettyServer() {
    }

    public static void main(String[] args) throws Exception {
        String listen = null;
        int threads = 2;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--listen" -> listen = require(args[i], value);
                case "--threads" -> threads = positive(args[i], require(args[i], value));
                default -> usage("unknown argument '" + args[i] + "'");
            }
            i++;
        }
        if (listen == null) {
            usage("--listen HOST:PORT is required");
        }
        int colon = listen.lastIndexOf(':');
        if (colon <= 0) {
            usage("--listen " + listen + ": expected HOST:PORT, e.g. 127.0.0.1:8080");
        }
        int port = Integer.parseInt(listen.substring(colon + 1));

        // --threads is the number of requests served at once, as --workers x --concurrency is for JettyWorker.
        Server server = JettySetup.newServer(threads);
        ServerConnector connector = new ServerConnector(server, 1, 1,
                new HttpConnectionFactory(JettySetup.httpConfiguration()));
        connector.setHost(listen.substring(0, colon).replace("[", "").replace("]", ""));
        connector.setPort(port);
        connector.setIdleTimeout(JettySetup.DEFAULT_IDLE_TIMEOUT_MS);
        server.addConnector(connector);
        server.setHandler(ServletApplication.create());
        server.setStopAtShutdown(true);
        server.start();
        System.out.println("plain-jetty: ready on " + connector.getHost() + ":" + connector.getLocalPort());
        server.join();
    }

    private static String require(String option, String value) {
        if (value == null) {
            usage(option + " needs a value");
        }
        return value;
    }

    private static int positive(String option, String value) {
        try {
            int n = Integer.parseInt(value);
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // Reported below.
        }
        usage(option + " " + value + ": expected a positive integer");
        return 0;
    }

    private static void usage(String problem) {
        System.err.println("plain-jetty: " + problem);
        System.err.println("usage: PlainJettyServer --listen HOST:PORT [--threads N]");
        System.exit(2);
    }
}
