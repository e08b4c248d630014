package io.prefork.it.workers;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A handler whose duration the client picks: {@code GET /sleep/MS} answers the status line and headers at once
 * (so the client knows which worker holds it, from {@code X-Prefork-Worker}, while the handler is still busy),
 * then blocks MS milliseconds, then sends the body {@code done <pid>} and closes. Used to make workers busy on
 * purpose, e.g. to show where a prefetched connection ends up.
 */
public final class SleepPathWorker implements Worker {
    @Override
    public void handle(Connection connection) throws IOException, InterruptedException {
        InputStream in = connection.channel().socket().getInputStream();
        OutputStream out = connection.channel().socket().getOutputStream();
        String path = Requests.readPath(in);
        long ms = path.startsWith("/sleep/") ? Long.parseLong(path.substring("/sleep/".length())) : 0;
        long pid = ProcessHandle.current().pid();
        String body = "done " + pid + "\n";
        out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\nConnection: close\r\nX-Prefork-Worker: "
                + pid + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
        // Sleeping is the point: it holds this worker's only slot for as long as the client asked.
        Thread.sleep(ms);
        out.write(body.getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }
}
