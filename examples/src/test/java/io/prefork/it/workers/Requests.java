package io.prefork.it.workers;

import java.io.IOException;
import java.io.InputStream;

/** What the test workers need of HTTP: the request target. */
final class Requests {
    private Requests() {
    }

    /** Reads the request head up to its blank line (at most 8 KiB); returns the request target, or "/". */
    static String readPath(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        int b;
        while (head.indexOf("\r\n\r\n") < 0 && head.length() < 8192 && (b = in.read()) >= 0) {
            head.append((char) b);
        }
        String[] requestLine = head.toString().split("\r\n", 2)[0].split(" ");
        return requestLine.length > 1 ? requestLine[1] : "/";
    }
}
