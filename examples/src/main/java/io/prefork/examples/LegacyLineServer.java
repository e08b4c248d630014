package io.prefork.examples;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * A "legacy" line-protocol server, written the way servers were before NIO, and unaware of Prefork: one
 * {@code handle(Socket)} per connection, blocking streams, {@link Socket#setSoTimeout} for idle clients, and its own
 * {@code ServerSocket} accept loop in {@link #main}. {@link LegacySocketWorker} runs the same {@link #handle} under
 * Prefork, unchanged.
 *
 * <p>The protocol: the server greets with {@code 200 legacy ready pid <pid>}; then each line is a command:
 * {@code ECHO <text>} answers {@code 200 <text>}, {@code UPPER <text>} answers {@code 200 <TEXT>}, {@code PID}
 * answers {@code 200 <pid>}, {@code QUIT} answers {@code 221 bye} and closes; anything else gets
 * {@code 500 unknown command}. A client silent for longer than the idle timeout gets {@code 421 idle timeout} and is
 * disconnected.
 */
public final class LegacyLineServer {

    private static final long PID = ProcessHandle.current().pid();

    private final int idleTimeoutMs;

    /** @param idleTimeoutMs longest wait for the next line, in milliseconds (at least 1) */
    public LegacyLineServer(int idleTimeoutMs) {
        if (idleTimeoutMs < 1) {
            throw new IllegalArgumentException("idleTimeoutMs=" + idleTimeoutMs + ": expected at least 1");
        }
        this.idleTimeoutMs = idleTimeoutMs;
    }

    /** Serves one client until it quits, goes silent or disconnects; closes the socket. */
    public void handle(Socket socket) throws IOException {
        try (socket) {
            socket.setSoTimeout(idleTimeoutMs);
            socket.setTcpNoDelay(true);
            BufferedReader in = new BufferedReader(
                    new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            PrintWriter out = new PrintWriter(new OutputStreamWriter(socket.getOutputStream(), StandardCharsets.UTF_8));
            reply(out, "200 legacy ready pid " + PID);
            while (true) {
                String line;
                try {
                    line = in.readLine();
                } catch (SocketTimeoutException e) {
                    reply(out, "421 idle timeout");
                    return;
                }
                if (line == null) {
                    return;
                }
                int space = line.indexOf(' ');
                String command = (space < 0 ? line : line.substring(0, space)).toUpperCase(Locale.ROOT);
                String argument = space < 0 ? "" : line.substring(space + 1);
                switch (command) {
                    case "ECHO" -> reply(out, "200 " + argument);
                    case "UPPER" -> reply(out, "200 " + argument.toUpperCase(Locale.ROOT));
                    case "PID" -> reply(out, "200 " + PID);
                    case "QUIT" -> {
                        reply(out, "221 bye");
                        return;
                    }
                    default -> reply(out, "500 unknown command");
                }
            }
        }
    }

    // Lines end in CRLF, as in the text protocols of the time (SMTP, FTP); println would use the platform's.
    private static void reply(PrintWriter out, String line) {
        out.print(line);
        out.print("\r\n");
        out.flush();
    }

    /**
     * How it ran before Prefork: {@code java -cp examples/target/prefork-examples.jar
     * io.prefork.examples.LegacyLineServer 8080}, one thread per connection.
     */
    public static void main(String[] args) throws IOException {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 8080;
        LegacyLineServer server = new LegacyLineServer(30_000);
        try (ServerSocket listener = new ServerSocket(port)) {
            while (true) {
                Socket socket = listener.accept();
                new Thread(() -> {
                    try {
                        server.handle(socket);
                    } catch (IOException e) {
                        System.err.println("legacy: " + e);
                    }
                }).start();
            }
        }
    }
}
