package io.prefork.examples;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * The README's "writing a worker" example, compiled and tested here so it stays true: answers each line with the
 * line upper-cased, after a greeting that says which worker answered.
 *
 * <p>Settings: {@code greeting} (default: "worker INDEX (pid PID)").
 */
public final class UpperWorker implements Worker {
    private String greeting;

    @Override
    public void start(WorkerContext context) {
        // Runs once per worker process, before any connection. Throwing here is a boot failure.
        greeting = context.setting("greeting", "worker " + context.index() + " (pid " + context.pid() + ")");
    }

    @Override
    public void handle(Connection connection) throws Exception {
        // A genuine SocketChannel in blocking mode; the runtime closes it when this method returns.
        Socket socket = connection.channel().socket();
        socket.setSoTimeout(30_000);
        BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
        PrintWriter out = new PrintWriter(socket.getOutputStream(), true, StandardCharsets.UTF_8);
        out.println("hello from " + greeting + ", you are " + connection.remoteAddress());
        for (String line; (line = in.readLine()) != null; ) {
            out.println(line.toUpperCase(Locale.ROOT));
        }
    }

    @Override
    public void stop() {
        // Runs once when the worker stops: release what start() acquired.
    }
}
