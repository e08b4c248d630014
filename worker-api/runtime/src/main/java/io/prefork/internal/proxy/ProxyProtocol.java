package io.prefork.internal.proxy;

import java.util.Objects;

/**
 * The PROXY protocol settings a worker runtime applies to every connection before the user's handler sees it
 * ({@code --proxy-protocol}, {@code --proxy-allow-from}).
 *
 * @param mode      which header to require; {@link ProxyMode#OFF} for none
 * @param allowFrom the peers (balancers) allowed to send one; a connection from any other peer is closed unread
 */
public record ProxyProtocol(ProxyMode mode, AllowList allowFrom) {
    /** The default: no PROXY protocol, every connection's bytes are the application's. */
    public static final ProxyProtocol OFF = new ProxyProtocol(ProxyMode.OFF, AllowList.parse(AllowList.DEFAULT));

    /**
     * How long a worker waits for the whole header after it takes a connection: {@value} ms. A balancer writes the
     * header with the connection itself, before any client byte (HAProxy sends it in the first segment), so it is
     * normally there already; a peer slower than this is not a balancer doing its job. Fixed rather than a setting:
     * the wait holds a handler slot, so it is kept short, and long enough for a loaded machine's scheduling delays.
     */
    public static final int HEADER_TIMEOUT_MS = 2000;

    public ProxyProtocol {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(allowFrom, "allowFrom");
    }

    public boolean enabled() {
        return mode != ProxyMode.OFF;
    }
}
