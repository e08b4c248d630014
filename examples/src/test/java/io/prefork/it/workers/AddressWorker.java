package io.prefork.it.workers;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * Answers with the connection's metadata as the worker received it: the body is
 * {@code local=HOST/PORT peer=HOST/PORT} (so a test can check which listener a connection came through, and from
 * which client). {@code GET /hold} first waits for one more byte (or end of stream) from the client, so a test can
 * keep this worker's only slot busy for exactly as long as it needs.
 */
public final class AddressWorker implements Worker {
    @Override
    public void handle(Connection connection) throws IOException {
        InputStream in = connection.channel().socket().getInputStream();
        OutputStream out = connection.channel().socket().getOutputStream();
        String path = Requests.readPath(in);
        if (path.equals("/hold")) {
            in.read(); // the client's go-ahead; blocking is the point
        }
        String body = "local=" + text(connection.localAddress()) + " peer=" + text(connection.remoteAddress()) + "\n";
        out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\nConnection: close\r\nX-Prefork-Worker: "
                + ProcessHandle.current().pid() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }

    /** {@code HOST/PORT}, the host as {@link java.net.InetAddress#getHostAddress()} writes it. */
    public static String text(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + "/" + a.getPort();
    }
}
