package io.prefork.it.workers;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Answers with what its JVM's classpath holds: a line {@code classpath=...} (the {@code java.class.path} property),
 * then one line {@code CLASS=yes|no} for each class the supervisor jar carries for itself, saying whether this worker
 * could load it. A worker should see only its own classpath and the worker runtime.
 */
public final class ClasspathWorker implements Worker {
    /** One class of each library the supervisor jar bundles for its own use. */
    public static final String[] SUPERVISOR_ONLY = {
        "com.fasterxml.jackson.databind.ObjectMapper", "com.codahale.metrics.MetricRegistry", "picocli.CommandLine",
        "org.slf4j.LoggerFactory", "io.prefork.supervisor.Main"};

    @Override
    public void handle(Connection connection) throws IOException {
        Requests.readPath(connection.channel().socket().getInputStream());
        StringBuilder body = new StringBuilder("classpath=" + System.getProperty("java.class.path") + "\n");
        for (String name : SUPERVISOR_ONLY) {
            body.append(name).append('=').append(loadable(name) ? "yes" : "no").append('\n');
        }
        OutputStream out = connection.channel().socket().getOutputStream();
        out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\nConnection: close\r\n\r\n" + body)
                .getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }

    private static boolean loadable(String name) {
        try {
            Class.forName(name, false, ClassLoader.getSystemClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }
}
