package io.prefork.examples;

import jakarta.servlet.ServletInputStream;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/**
 * An ordinary servlet, unaware of Prefork: answers a {@code POST} with its body, streamed (never held whole in
 * memory), so a body of any size works. A request with a {@code Content-Length} gets a response with the same one;
 * a chunked request gets a chunked response, as the length is not known before the end.
 */
public final class EchoServlet extends HttpServlet {

    private static final long serialVersionUID = 1L;

    @Override
    protected void doPost(HttpServletRequest request, HttpServletResponse response) throws IOException {
        String type = request.getContentType();
        response.setContentType(type != null ? type : "application/octet-stream");
        response.setHeader("X-Prefork-Worker", Long.toString(HttpExchange.PID));
        long length = request.getContentLengthLong();
        if (length >= 0) {
            response.setContentLengthLong(length);
        }
        ServletInputStream in = request.getInputStream();
        ServletOutputStream out = response.getOutputStream();
        byte[] buffer = new byte[16 * 1024];
        for (int n; (n = in.read(buffer)) != -1; ) {
            out.write(buffer, 0, n);
        }
    }
}
