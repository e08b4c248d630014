package io.prefork.examples;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * An ordinary servlet, unaware of Prefork: answers {@code GET} (and {@code HEAD}, which {@link HttpServlet} derives
 * from it) with the same body and headers as {@link HelloHttpWorker}, naming the process that served it.
 */
public final class HelloServlet extends HttpServlet {

    private static final long serialVersionUID = 1L;

    // Constant for the life of the process, so built once rather than per request.
    private static final byte[] BODY =
            ("Hello from prefork worker " + HttpExchange.PID + "\n").getBytes(StandardCharsets.UTF_8);

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
        response.setContentType("text/plain; charset=utf-8");
        response.setHeader("X-Prefork-Worker", Long.toString(HttpExchange.PID));
        response.setContentLength(BODY.length);
        response.getOutputStream().write(BODY);
    }
}
