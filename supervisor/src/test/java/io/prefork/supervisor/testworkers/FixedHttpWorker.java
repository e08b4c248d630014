package io.prefork.supervisor.testworkers;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A test worker run in real worker JVMs: reads one HTTP request head and answers {@code 200 OK} with the body
 * {@code ok} and {@code Connection: close}. Public with a public no-argument constructor, as the runtime needs.
 */
public final class FixedHttpWorker implements Worker {
    static final byte[] RESPONSE = ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            + "Connection: close\r\n\r\nok\n").getBytes(StandardCharsets.US_ASCII);

    public FixedHttpWorker() {
    }

    @Override
    public void handle(Connection connection) throws IOException {
        Socket socket = connection.channel().socket();
        socket.setSoTimeout(10_000);
        InputStream in = socket.getInputStream();
        // Up to the blank line that ends the head; a client that closes first gets nothing.
        int matched = 0;
        byte[] end = {'\r', '\n', '\r', '\n'};
        while (matched < end.length) {
            int b = in.read();
            if (b < 0) {
                return;
            }
            matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        OutputStream out = socket.getOutputStream();
        out.write(RESPONSE);
        out.flush();
    }
}
