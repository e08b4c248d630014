package io.prefork.it;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A minimal blocking HTTP/1.1 client for tests, over a plain {@link Socket}. Deliberately independent of the server
 * code under test, and strict: a response that is malformed or cut short throws an {@link IOException} saying what
 * was wrong, instead of returning something plausible.
 *
 * <p>Every connect and every read is bounded by the given timeout ({@link SocketTimeoutException} otherwise).
 * Supports {@code Content-Length} bodies, and close-delimited bodies for {@link #get}; not chunked responses.
 */
public final class HttpClient {

    /** Largest response head accepted; a server sending more is broken. */
    private static final int MAX_HEAD_BYTES = 64 * 1024;

    private HttpClient() {
    }

    /**
     * One response.
     *
     * @param status  the status code
     * @param headers header fields with lower-case names; repeated fields joined with {@code ", "}
     * @param body    the body decoded as UTF-8 (empty for HEAD, 1xx, 204 and 304)
     */
    public record Response(int status, Map<String, String> headers, String body) {

        public Response {
            headers = Map.copyOf(headers);
        }

        /**
         * @param name a header name, in any case
         * @return its value, or {@code null} if absent
         */
        public String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    /**
     * Sends one {@code GET} with {@code Connection: close} on a new connection and reads the response.
     *
     * @param host    the server's host
     * @param port    the server's port
     * @param path    the request target, e.g. {@code "/"}
     * @param timeout bound for the connect and for each read
     * @return the response
     * @throws IOException if the connection fails, times out, or the response is malformed or truncated
     */
    public static Response get(String host, int port, String path, Duration timeout) throws IOException {
        try (Socket socket = connect(host, port, timeout)) {
            OutputStream out = socket.getOutputStream();
            out.write(requestBytes("GET", path, host, port, Map.of("Connection", "close")));
            out.flush();
            return readResponse(new BufferedInputStream(socket.getInputStream()), false, true);
        }
    }

    /**
     * One persistent connection carrying several requests, each response delimited by its {@code Content-Length}
     * (a response without one is an error, since its end could not be found).
     */
    public static final class KeepAlive implements AutoCloseable {

        private final String host;
        private final int port;
        private final Socket socket;
        private final InputStream in;
        private final OutputStream out;

        /**
         * Connects.
         *
         * @param host    the server's host
         * @param port    the server's port
         * @param timeout bound for the connect and for each later read
         * @throws IOException if the connection fails
         */
        public KeepAlive(String host, int port, Duration timeout) throws IOException {
            this.host = host;
            this.port = port;
            this.socket = connect(host, port, timeout);
            this.in = new BufferedInputStream(socket.getInputStream());
            this.out = socket.getOutputStream();
        }

        /**
         * Sends {@code GET path} and reads its response.
         *
         * @param path the request target
         * @return the response
         * @throws IOException on failure, timeout, or a malformed or truncated response
         */
        public Response get(String path) throws IOException {
            return request("GET", path, Map.of());
        }

        /**
         * Sends a request without a body ({@code Host} is added) and reads its response.
         *
         * @param method  e.g. {@code GET} or {@code HEAD}
         * @param path    the request target
         * @param headers extra header fields, e.g. {@code Connection: close}
         * @return the response
         * @throws IOException on failure, timeout, or a malformed or truncated response
         */
        public Response request(String method, String path, Map<String, String> headers) throws IOException {
            out.write(requestBytes(method, path, host, port, headers));
            out.flush();
            return HttpClient.readResponse(in, method.equals("HEAD"), false);
        }

        /**
         * Sends bytes exactly as given (ISO-8859-1), for requests {@link #request} cannot express: other versions,
         * malformed or pipelined requests. Read the answers with {@link #readResponse()}.
         *
         * @param raw the bytes to send
         * @throws IOException if the write fails
         */
        public void sendRaw(String raw) throws IOException {
            out.write(raw.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        }

        /**
         * Reads the next response to a non-HEAD request.
         *
         * @return the response
         * @throws IOException on failure, timeout, or a malformed or truncated response
         */
        public Response readResponse() throws IOException {
            return HttpClient.readResponse(in, false, false);
        }

        /**
         * Waits (up to the read timeout) for the server to close the connection.
         *
         * @return {@code true} if the server closed it (a read returned -1), {@code false} if the timeout expired
         * @throws IOException if the server sent more bytes instead, or the read failed
         */
        public boolean awaitServerClose() throws IOException {
            try {
                int b = in.read();
                if (b >= 0) {
                    throw new IOException("expected the server to close the connection, but it sent more bytes");
                }
                return true;
            } catch (SocketTimeoutException e) {
                return false;
            }
        }

        /** @return the underlying socket, e.g. to half-close it */
        public Socket socket() {
            return socket;
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    // -------------------------------------------------------------------------------------------------- internals

    private static Socket connect(String host, int port, Duration timeout) throws IOException {
        int timeoutMs = (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toMillis()));
        Socket socket = new Socket();
        try {
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(timeoutMs);
            socket.connect(new InetSocketAddress(host, port), timeoutMs);
            return socket;
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    private static byte[] requestBytes(String method, String path, String host, int port, Map<String, String> headers) {
        StringBuilder request = new StringBuilder(128)
                .append(method).append(' ').append(path).append(" HTTP/1.1\r\n")
                .append("Host: ").append(host.indexOf(':') >= 0 ? "[" + host + "]" : host).append(':').append(port)
                .append("\r\n");
        headers.forEach((name, value) -> request.append(name).append(": ").append(value).append("\r\n"));
        return request.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1);
    }

    /**
     * Reads one final response (skipping interim 1xx ones).
     *
     * @param headRequest  the request was HEAD, so the response has no body whatever its headers say
     * @param mayReadToEof a response without Content-Length ends at EOF (only when the connection is closing)
     */
    static Response readResponse(InputStream in, boolean headRequest, boolean mayReadToEof) throws IOException {
        for (;;) {
            String head = readHead(in);
            String[] lines = head.split("\r\n", -1);
            int status = parseStatusLine(lines[0]);
            Map<String, String> headers = new LinkedHashMap<>();
            for (int i = 1; i < lines.length; i++) {
                String line = lines[i];
                int colon = line.indexOf(':');
                if (colon <= 0 || line.substring(0, colon).strip().length() != colon) {
                    throw new IOException("malformed response header line: \"" + line + "\"");
                }
                headers.merge(line.substring(0, colon).toLowerCase(Locale.ROOT), line.substring(colon + 1).strip(),
                        (a, b) -> a + ", " + b);
            }
            if (status >= 100 && status < 200 && status != 101) {
                continue; // interim response (e.g. 100 Continue); the real one follows
            }
            return new Response(status, headers, readBody(in, status, headers, headRequest, mayReadToEof));
        }
    }

    /** Reads up to and including the blank line; returns the head without its final CRLFCRLF, as ISO-8859-1. */
    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream(256);
        int matched = 0; // how much of "\r\n\r\n" the last bytes matched
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                if (head.size() == 0) {
                    throw new IOException("connection closed before any response byte (no response at all)");
                }
                throw new IOException("truncated response: connection closed after " + head.size()
                        + " bytes of response head, before the blank line ending the headers: \""
                        + head.toString(StandardCharsets.ISO_8859_1) + "\"");
            }
            if (head.size() >= MAX_HEAD_BYTES) {
                throw new IOException("response head longer than " + MAX_HEAD_BYTES + " bytes");
            }
            head.write(b);
            matched = b == (matched % 2 == 0 ? '\r' : '\n') ? matched + 1 : b == '\r' ? 1 : 0;
        }
        byte[] bytes = head.toByteArray();
        return new String(bytes, 0, bytes.length - 4, StandardCharsets.ISO_8859_1);
    }

    /** {@code HTTP/1.x SSS reason}, returning {@code SSS}. */
    private static int parseStatusLine(String line) throws IOException {
        boolean ok = line.length() >= 12 && line.startsWith("HTTP/1.") && Character.isDigit(line.charAt(7))
                && line.charAt(8) == ' ' && (line.length() == 12 || line.charAt(12) == ' ');
        for (int i = 9; ok && i < 12; i++) {
            ok = line.charAt(i) >= '0' && line.charAt(i) <= '9';
        }
        if (!ok) {
            throw new IOException("malformed status line: \"" + line + "\"");
        }
        return Integer.parseInt(line.substring(9, 12));
    }

    private static String readBody(InputStream in, int status, Map<String, String> headers, boolean headRequest,
            boolean mayReadToEof) throws IOException {
        if (headRequest || status == 204 || status == 304) {
            return "";
        }
        String length = headers.get("content-length");
        if (length != null) {
            if (!length.matches("[0-9]{1,9}")) {
                throw new IOException("invalid Content-Length in response: \"" + length + "\"");
            }
            int expected = Integer.parseInt(length);
            byte[] body = in.readNBytes(expected);
            if (body.length < expected) {
                throw new IOException("truncated response: Content-Length is " + expected + " but the connection closed"
                        + " after " + body.length + " body bytes");
            }
            return new String(body, StandardCharsets.UTF_8);
        }
        if (headers.containsKey("transfer-encoding")) {
            throw new IOException("Transfer-Encoding responses are not supported by this test client: "
                    + headers.get("transfer-encoding"));
        }
        if (!mayReadToEof) {
            throw new IOException("response " + status + " has no Content-Length, so its end cannot be found on a"
                    + " keep-alive connection");
        }
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
}
