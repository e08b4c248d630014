package io.prefork.it.workers;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A leaky legacy handler: for each request it opens /dev/null until the descriptor table is full (EMFILE), answers
 * with how many it held, then closes them. Run with a low RLIMIT_NOFILE, it keeps the worker's table full most of
 * the time, which is when a descriptor arriving from the supervisor can be dropped by the kernel (MSG_CTRUNC).
 */
public final class FdHogWorker implements Worker {
    @Override
    public void handle(Connection connection) throws IOException {
        InputStream in = connection.channel().socket().getInputStream();
        // Read the request head (up to the blank line) before hogging, so the read needs nothing more.
        int state = 0;
        while (state < 4) {
            int b = in.read();
            if (b < 0) {
                return;
            }
            state = (b == '\r' && (state == 0 || state == 2)) || (b == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
        }
        List<FileInputStream> hogged = new ArrayList<>();
        try {
            while (hogged.size() < 100_000) {
                hogged.add(new FileInputStream("/dev/null"));
            }
        } catch (IOException tableFull) {
            // EMFILE: exactly the state this worker exists to create.
        }
        try {
            String body = "held " + hogged.size() + "\n";
            String response = "HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\nConnection: close\r\n"
                    + "X-Prefork-Worker: " + ProcessHandle.current().pid() + "\r\n\r\n" + body;
            OutputStream out = connection.channel().socket().getOutputStream();
            out.write(response.getBytes(StandardCharsets.US_ASCII));
            out.flush();
        } finally {
            for (FileInputStream f : hogged) {
                f.close();
            }
        }
    }
}
