package io.prefork.internal.proxy;

import java.io.IOException;

/**
 * A connection that does not begin with a valid PROXY protocol header (missing, malformed, oversized, truncated,
 * too slow), or that comes from a peer not allowed to send one. The runtime closes the connection, counts it and
 * logs the message, which names what was wrong and the bytes or address at fault.
 */
public final class ProxyHeaderException extends IOException {
    private static final long serialVersionUID = 1L;

    public ProxyHeaderException(String message) {
        super(message);
    }
}
