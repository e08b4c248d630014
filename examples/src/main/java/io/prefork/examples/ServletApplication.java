package io.prefork.examples;

import org.eclipse.jetty.ee10.servlet.ServletContextHandler;

/**
 * The servlet application of the Jetty examples: the same handler tree whether Jetty listens itself
 * ({@link PlainJettyServer}) or is fed connections by Prefork ({@link JettyWorker}). Only the connector differs; the
 * servlets do not know which one serves them.
 */
public final class ServletApplication {

    private ServletApplication() {
    }

    /** {@code /echo} to {@link EchoServlet}, every other path to {@link HelloServlet}. */
    public static ServletContextHandler create() {
        ServletContextHandler context = new ServletContextHandler("/");
        context.addServlet(EchoServlet.class, "/echo");
        // "/" is the servlet spec's default mapping: every path no other mapping takes.
        context.addServlet(HelloServlet.class, "/");
        return context;
    }
}
