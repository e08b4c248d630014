package io.prefork.it.workers;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Serves {@code GET /} (answering its pid in {@code X-Prefork-Worker}) but fails at boot while the file named by the
 * worker setting {@code fail-if-exists} exists: so a test can make the next workers fail to boot (an upgrade's new
 * supervisor, with the same command line) while those already running go on serving; and waits in {@code start()}
 * while the file named by {@code hold-while-exists} exists, to keep such a new supervisor booting.
 */
public final class FailIfFileWorker implements Worker {
    @Override
    public void start(WorkerContext context) throws InterruptedException {
        // hold-while-exists: boot only once that file is gone (at most 2 minutes), so that an upgrade's new
        // supervisor stays not ready for as long as a test needs.
        String hold = context.setting("hold-while-exists", "");
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (!hold.isEmpty() && Files.exists(Path.of(hold)) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        String marker = context.setting("fail-if-exists", "");
        if (!marker.isEmpty() && Files.exists(Path.of(marker))) {
            throw new IllegalStateException("FailIfFileWorker: " + marker + " exists, so this worker fails to boot");
        }
    }

    @Override
    public void handle(Connection connection) throws IOException {
        Requests.readPath(connection.channel().socket().getInputStream());
        OutputStream out = connection.channel().socket().getOutputStream();
        long pid = ProcessHandle.current().pid();
        String body = "hello " + pid + "\n";
        out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\nConnection: close\r\nX-Prefork-Worker: "
                + pid + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }
}
