package io.prefork.examples;

import java.io.BufferedOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * The server side of HTTP/1.1 on one connection, just enough for the example workers: reads request heads, skips
 * request bodies, writes small {@code text/plain} responses, and decides keep-alive. Shared by
 * {@link HelloHttpWorker} and {@link SlowBlockingWorker} so the two differ only in what they do per request.
 *
 * <p>Usage: {@code while (http.readRequest()) { http.respond(body); }}. {@link #readRequest()} returns {@code false}
 * when the connection is over for any reason (EOF, idle timeout, a protocol error it has already answered, or a
 * previous response that closed the connection); the caller then just returns and the runtime closes the channel.
 *
 * <p>Limits, on purpose: no chunked request bodies (answered with 411), no {@code Expect: 100-continue}, lines must
 * end in CRLF. One instance per connection, used only by the thread running {@code handle}: not thread-safe, and
 * a thread runs one at a time (its head buffer is the thread's, see {@link #HEAD_BUFFER}).
 */
final class HttpExchange {

    /** Largest request head (request line, headers and the blank line) accepted; a larger one gets 431. */
    static final int MAX_HEAD_BYTES = 16 * 1024;

    /**
     * This process's pid, for the {@code X-Prefork-Worker} header and the example bodies. Taken from the process
     * rather than the {@code WorkerContext} so the header names the JVM that really answered.
     */
    static final long PID = ProcessHandle.current().pid();

    /**
     * How long to keep reading (and discarding) after an error response before returning. Closing a socket with
     * unread input makes the kernel send RST, which can destroy the error response before the client reads it.
     */
    private static final int LINGER_MS = 1000;

    private static final byte[] STATUS_OK = ascii("HTTP/1.1 200 OK\r\n");
    // Everything up to the Content-Length value is the same for every response of this process: build it once.
    private static final byte[] FIXED_HEADERS = ascii("Content-Type: text/plain; charset=utf-8\r\n"
            + "X-Prefork-Worker: " + PID + "\r\n"
            + "Content-Length: ");
    private static final byte[] END_PLAIN = ascii("\r\n\r\n");
    private static final byte[] END_KEEP_ALIVE = ascii("\r\nConnection: keep-alive\r\n\r\n");
    private static final byte[] END_CLOSE = ascii("\r\nConnection: close\r\n\r\n");

    private final SocketChannel channel;
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    /**
     * The current request head plus whatever the client sent after it (a body, or pipelined requests). Reused for
     * every request of the connection, and parsed in place, so a request costs no allocation; and taken from
     * {@link #HEAD_BUFFER}, so a connection costs none of this size either.
     */
    private final byte[] buf = HEAD_BUFFER.get();

    /**
     * Each thread's head buffer, handed to each exchange it runs in turn (one instance per connection, used only by
     * the thread running {@code handle}, so never two at once on a thread). A new 16 KiB array per connection, which
     * the JVM must zero, was at 15,000 connections per second a quarter of a gigabyte a second to allocate and
     * collect, more than the rest of the worker's garbage.
     */
    private static final ThreadLocal<byte[]> HEAD_BUFFER = ThreadLocal.withInitial(() -> new byte[MAX_HEAD_BYTES]);

    /**
     * The response buffer: a response is a few hundred bytes, written with one write when flushed; a larger body
     * goes straight to the socket (BufferedOutputStream writes through what does not fit). Small, because it is
     * allocated per connection (the default, 8 KiB, is zeroed for nothing).
     */
    private static final int OUT_BUFFER_BYTES = 1024;
    /** First byte of {@link #buf} not consumed yet. */
    private int pos;
    /** End of the bytes read into {@link #buf}. */
    private int limit;

    /** False once a response has said {@code Connection: close}. */
    private boolean open = true;

    // The current request, as far as responding to it is concerned.
    private int targetFrom;
    private int targetTo;
    private boolean http10;
    private boolean headRequest;
    private boolean keepAlive;
    private long contentLength;

    /**
     * @param channel       the connection, in blocking mode
     * @param idleTimeoutMs longest wait for any read, in particular for the next request on a kept-alive connection
     * @throws IOException if the socket cannot be configured
     */
    HttpExchange(SocketChannel channel, int idleTimeoutMs) throws IOException {
        this(channel, idleTimeoutMs, null);
    }

    /**
     * @param unread bytes received before this exchange began (a resumed connection's, see
     *               {@code Connection.unread()}), read before the socket's; consumed; null for none
     */
    HttpExchange(SocketChannel channel, int idleTimeoutMs, ByteBuffer unread) throws IOException {
        if (unread != null) {
            int n = Math.min(unread.remaining(), buf.length);
            unread.get(buf, 0, n);
            limit = n;
        }
        this.channel = channel;
        socket = channel.socket();
        // The socket adaptor's streams honour SO_TIMEOUT; plain channel reads would block forever.
        socket.setSoTimeout(idleTimeoutMs);
        in = socket.getInputStream();
        out = new BufferedOutputStream(socket.getOutputStream(), OUT_BUFFER_BYTES);
    }

    /**
     * Reads the next request's head and skips its body.
     *
     * @return {@code true} if there is a request to answer with {@link #respond}; {@code false} if the connection is
     *         over (any error response has already been sent)
     * @throws IOException if the connection fails other than by EOF or timeout
     */
    boolean readRequest() throws IOException {
        if (!open) {
            return false;
        }
        http10 = false;
        headRequest = false;
        keepAlive = false;
        contentLength = 0;
        try {
            int headEnd = readHead();
            if (headEnd < 0) {
                return false; // clean EOF between requests
            }
            parseHead(pos, headEnd);
            pos = headEnd;
            skipBody(contentLength);
            return true;
        } catch (SocketTimeoutException | EOFException e) {
            // Idle too long, or the client left mid-request: nobody is waiting for an answer.
            return false;
        } catch (ProtocolError e) {
            sendError(e);
            return false;
        }
    }

    /**
     * Answers the current request with {@code 200 OK} and the given {@code text/plain} body (omitted for HEAD), and
     * flushes, so that a keep-alive client is not left waiting.
     *
     * @param body the response body, UTF-8
     * @throws IOException if the write fails
     */
    void respond(byte[] body) throws IOException {
        respond(body, null);
    }

    /** Answers 200 with {@code body}, and {@code extraHeaders} (whole header lines, each ending in CRLF) if not null. */
    void respond(byte[] body, byte[] extraHeaders) throws IOException {
        out.write(STATUS_OK);
        if (extraHeaders != null) {
            out.write(extraHeaders);
        }
        out.write(FIXED_HEADERS);
        writeDecimal(body.length);
        // HTTP/1.1 keep-alive is the default and needs no header; HTTP/1.0 needs it confirmed.
        out.write(!keepAlive ? END_CLOSE : http10 ? END_KEEP_ALIVE : END_PLAIN);
        if (!headRequest) {
            out.write(body);
        }
        out.flush();
        open = keepAlive;
    }

    /** True while the connection stays open for another request (no response so far said close). */
    boolean open() {
        return open;
    }

    /**
     * The bytes read from the socket and not used yet (the start of a pipelined request), as a view of this thread's
     * head buffer: use it (Connection.park copies it) before the thread runs another exchange.
     */
    ByteBuffer unread() {
        return ByteBuffer.wrap(buf, pos, limit - pos);
    }

    // ---------------------------------------------------------------------------------------------- reading

    /**
     * Reads until {@link #buf} holds a complete head starting at {@link #pos}.
     *
     * @return the index just past the head's CRLFCRLF, or -1 on EOF before any byte of a request
     */
    private int readHead() throws IOException, ProtocolError {
        if (pos == limit) {
            pos = limit = 0; // the common case: nothing pipelined, start at the front for free
        }
        int scanFrom = pos;
        for (;;) {
            // RFC 9112 section 2.2: ignore empty lines before a request line (some clients send CRLF after a body).
            while (limit - pos >= 2 && buf[pos] == '\r' && buf[pos + 1] == '\n') {
                pos += 2;
            }
            scanFrom = Math.max(scanFrom, pos);
            int end = indexOfHeadEnd(scanFrom);
            if (end >= 0) {
                return end;
            }
            // Do not rescan what was already searched: a client trickling bytes must not cost quadratic time.
            scanFrom = Math.max(pos, limit - 3);
            if (limit == buf.length) {
                if (pos == 0) {
                    throw new ProtocolError(431, "Request Header Fields Too Large",
                            "request head exceeds " + MAX_HEAD_BYTES + " bytes");
                }
                System.arraycopy(buf, pos, buf, 0, limit - pos);
                scanFrom -= pos;
                limit -= pos;
                pos = 0;
            }
            int n = read(limit, buf.length - limit);
            if (n < 0) {
                if (pos == limit) {
                    return -1;
                }
                throw new EOFException("connection closed inside a request head");
            }
            limit += n;
        }
    }

    /**
     * Reads into {@code buf[off, off + len)}: at least one byte, or -1 at EOF; a wait longer than the idle timeout
     * throws {@link SocketTimeoutException}.
     *
     * <p>Bytes already received are read without the timeout: the JDK implements a timed read by making the socket
     * non-blocking for the wait and blocking again after it, four {@code fcntl} calls around every read, and with a
     * request already in the socket (the common case: by the time a connection reaches a handler its request has
     * usually arrived) there is nothing to wait for. {@code available()} is one {@code ioctl(FIONREAD)}, and a
     * read of bytes that are there cannot block, so that costs two calls where the timed read costs five.
     */
    private int read(int off, int len) throws IOException {
        if (in.available() > 0) {
            return channel.read(ByteBuffer.wrap(buf, off, len));
        }
        return in.read(buf, off, len);
    }

    private int indexOfHeadEnd(int from) {
        for (int i = from; i + 3 < limit; i++) {
            if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
                return i + 4;
            }
        }
        return -1;
    }

    /** Discards a body of {@code length} bytes, keeping anything after it (a pipelined request) in {@link #buf}. */
    private void skipBody(long length) throws IOException {
        int buffered = (int) Math.min(length, limit - pos);
        pos += buffered;
        long remaining = length - buffered;
        while (remaining > 0) {
            // Nothing is buffered any more, so the whole buffer is free to read the rest of the body into.
            int n = read(0, buf.length);
            if (n < 0) {
                throw new EOFException("connection closed inside a request body");
            }
            if (n > remaining) {
                pos = (int) remaining;
                limit = n;
                return;
            }
            remaining -= n;
            pos = limit = 0;
        }
    }

    // ---------------------------------------------------------------------------------------------- parsing

    /** Parses the head in {@code buf[from, end)}, which ends with CRLFCRLF, into the current-request fields. */
    private void parseHead(int from, int end) throws ProtocolError {
        int lineEnd = indexOfCrlf(from, end);
        parseRequestLine(from, lineEnd);
        boolean close = false;
        boolean keepAliveToken = false;
        boolean transferEncoding = false;
        long length = -1;
        for (int line = lineEnd + 2; line < end - 2; line = lineEnd + 2) {
            lineEnd = indexOfCrlf(line, end);
            int colon = indexOf((byte) ':', line, lineEnd);
            // A name must be a non-empty token: this also rejects "Name : v" and obsolete line folding, which
            // RFC 9112 says to reject because proxies disagree about them (request smuggling).
            if (colon <= line || !isToken(line, colon)) {
                throw badRequest("malformed header line");
            }
            int valueFrom = colon + 1;
            int valueTo = lineEnd;
            while (valueFrom < valueTo && isBlank(buf[valueFrom])) {
                valueFrom++;
            }
            while (valueTo > valueFrom && isBlank(buf[valueTo - 1])) {
                valueTo--;
            }
            for (int i = valueFrom; i < valueTo; i++) {
                int b = buf[i] & 0xff;
                if (b < 0x20 && b != '\t' || b == 0x7f) {
                    throw badRequest("control character in a header value");
                }
            }
            if (nameIs(line, colon, "content-length")) {
                long value = parseLength(valueFrom, valueTo);
                if (length >= 0 && length != value) {
                    throw badRequest("conflicting Content-Length headers");
                }
                length = value;
            } else if (nameIs(line, colon, "transfer-encoding")) {
                transferEncoding = true;
            } else if (nameIs(line, colon, "connection")) {
                // A comma-separated token list, possibly spread over several Connection headers.
                for (int t = valueFrom; t < valueTo; ) {
                    int comma = indexOf((byte) ',', t, valueTo);
                    int tokenEnd = comma < 0 ? valueTo : comma;
                    int a = t;
                    int z = tokenEnd;
                    while (a < z && isBlank(buf[a])) {
                        a++;
                    }
                    while (z > a && isBlank(buf[z - 1])) {
                        z--;
                    }
                    close |= nameIs(a, z, "close");
                    keepAliveToken |= nameIs(a, z, "keep-alive");
                    t = tokenEnd + 1;
                }
            }
        }
        if (transferEncoding) {
            // Without decoding chunks the end of the body is unknown, so the connection cannot continue.
            throw new ProtocolError(411, "Length Required",
                    "Transfer-Encoding request bodies are not supported; send Content-Length");
        }
        contentLength = Math.max(length, 0);
        keepAlive = http10 ? keepAliveToken && !close : !close;
    }

    /** True if the current request's target is exactly {@code path} (ASCII); compares in place, no allocation. */
    boolean targetIs(String path) {
        if (targetTo - targetFrom != path.length()) {
            return false;
        }
        for (int i = 0; i < path.length(); i++) {
            if (buf[targetFrom + i] != path.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** True if the current request's target starts with {@code prefix} (ASCII); compares in place, no allocation. */
    boolean targetStartsWith(String prefix) {
        if (targetTo - targetFrom < prefix.length()) {
            return false;
        }
        for (int i = 0; i < prefix.length(); i++) {
            if (buf[targetFrom + i] != prefix.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** The current request's target, as sent (allocates: for the rare requests that need to parse it). */
    String target() {
        return new String(buf, targetFrom, targetTo - targetFrom, StandardCharsets.US_ASCII);
    }

    /**
     * Refuses the current request with {@code status reason} and {@code detail} as the body, and closes the
     * connection, like a malformed request: for a request that parses but asks for something the worker will not do.
     */
    void refuse(int status, String reason, String detail) throws IOException {
        sendError(new ProtocolError(status, reason, detail));
    }

    /** {@code method SP target SP HTTP/1.x}, strictly: anything else is a 400. */
    private void parseRequestLine(int from, int to) throws ProtocolError {
        int sp1 = indexOf((byte) ' ', from, to);
        int sp2 = sp1 < 0 ? -1 : indexOf((byte) ' ', sp1 + 1, to);
        if (sp1 <= from || sp2 <= sp1 + 1 || !isToken(from, sp1) || !isTarget(sp1 + 1, sp2)
                || !isVersion(sp2 + 1, to)) {
            throw badRequest("malformed request line");
        }
        headRequest = sp1 - from == 4 && buf[from] == 'H' && buf[from + 1] == 'E' && buf[from + 2] == 'A'
                && buf[from + 3] == 'D';
        targetFrom = sp1 + 1;
        targetTo = sp2;
        http10 = buf[to - 1] == '0';
    }

    private boolean isVersion(int from, int to) {
        // HTTP/1.x for any minor version: a later 1.x is compatible with 1.1 (RFC 9110 section 2.5).
        if (to - from != 8) {
            return false;
        }
        for (int i = 0; i < 7; i++) {
            if (buf[from + i] != "HTTP/1.".charAt(i)) {
                return false;
            }
        }
        return buf[to - 1] >= '0' && buf[to - 1] <= '9';
    }

    private boolean isTarget(int from, int to) {
        for (int i = from; i < to; i++) {
            int b = buf[i] & 0xff;
            if (b <= 0x20 || b == 0x7f) {
                return false;
            }
        }
        return to > from;
    }

    /** RFC 9110 token: the characters allowed in methods and header names. */
    private boolean isToken(int from, int to) {
        for (int i = from; i < to; i++) {
            byte b = buf[i];
            boolean ok = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
                    || "!#$%&'*+-.^_`|~".indexOf(b) >= 0;
            if (!ok) {
                return false;
            }
        }
        return to > from;
    }

    private long parseLength(int from, int to) throws ProtocolError {
        if (from == to) {
            throw badRequest("empty Content-Length");
        }
        long value = 0;
        for (int i = from; i < to; i++) {
            byte b = buf[i];
            // Digits only: a sign, a list ("5, 5") or an overflow would let two parsers disagree on the length.
            if (b < '0' || b > '9' || value > (Long.MAX_VALUE - 9) / 10) {
                throw badRequest("invalid Content-Length");
            }
            value = value * 10 + (b - '0');
        }
        return value;
    }

    /** Case-insensitive ASCII comparison of {@code buf[from, to)} with a lower-case name, without allocating. */
    private boolean nameIs(int from, int to, String lowerCaseName) {
        if (to - from != lowerCaseName.length()) {
            return false;
        }
        for (int i = 0; i < lowerCaseName.length(); i++) {
            int b = buf[from + i];
            if (b >= 'A' && b <= 'Z') {
                b += 'a' - 'A';
            }
            if (b != lowerCaseName.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private int indexOfCrlf(int from, int to) {
        for (int i = from; i + 1 < to; i++) {
            if (buf[i] == '\r' && buf[i + 1] == '\n') {
                return i;
            }
        }
        throw new AssertionError("head without its final CRLF"); // readHead only returns complete heads
    }

    private int indexOf(byte b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (buf[i] == b) {
                return i;
            }
        }
        return -1;
    }

    private static boolean isBlank(byte b) {
        return b == ' ' || b == '\t';
    }

    // ---------------------------------------------------------------------------------------------- writing

    private void writeDecimal(long value) throws IOException {
        if (value >= 10) {
            writeDecimal(value / 10);
        }
        out.write((int) ('0' + value % 10));
    }

    /** Answers a request that cannot be served and ends the connection. Rare, so allocation is fine here. */
    private void sendError(ProtocolError error) throws IOException {
        byte[] body = (error.status + " " + error.reason + ": " + error.getMessage() + "\n")
                .getBytes(StandardCharsets.UTF_8);
        out.write(ascii("HTTP/1.1 " + error.status + " " + error.reason + "\r\n"));
        out.write(FIXED_HEADERS);
        writeDecimal(body.length);
        out.write(END_CLOSE);
        out.write(body);
        out.flush();
        open = false;
        lingerBeforeClose();
    }

    /**
     * Half-closes, then reads and discards what the client is still sending, for about {@link #LINGER_MS}, so that
     * the close that follows does not reset the connection under the error response (see {@link #LINGER_MS}).
     */
    private void lingerBeforeClose() {
        try {
            socket.shutdownOutput();
            socket.setSoTimeout(LINGER_MS);
            long deadline = System.nanoTime() + LINGER_MS * 1_000_000L;
            while (System.nanoTime() - deadline < 0 && in.read(buf) >= 0) {
                // discard
            }
        } catch (IOException e) {
            // Timed out or reset: the response has been sent, and the connection is being closed anyway.
        }
    }

    private static ProtocolError badRequest(String detail) {
        return new ProtocolError(400, "Bad Request", detail);
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** A request this class refuses, with the status to refuse it with. Checked, so no path can forget it. */
    private static final class ProtocolError extends Exception {
        private static final long serialVersionUID = 1L;

        final int status;
        final String reason;

        ProtocolError(int status, String reason, String detail) {
            // No stack trace: this is an expected outcome of bad input, not a bug to debug.
            super(detail, null, false, false);
            this.status = status;
            this.reason = reason;
        }
    }
}
