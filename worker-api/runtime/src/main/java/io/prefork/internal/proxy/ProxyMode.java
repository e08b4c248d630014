package io.prefork.internal.proxy;

import java.util.Locale;

/**
 * Which PROXY protocol header the worker runtime requires at the start of every connection ({@code --proxy-protocol}).
 * There is no "optional" mode: HAProxy's specification (doc/proxy-protocol.txt, section 1) requires a receiver to
 * be configured for the header and never to guess whether one is present, or any client could forge its address.
 */
public enum ProxyMode {
    /** No header: the connection's bytes are the application's (the default). */
    OFF,
    /** The text header, {@code PROXY TCP4 ...\r\n} (HAProxy {@code send-proxy}). */
    V1,
    /** The binary header (HAProxy {@code send-proxy-v2}, AWS NLB, Envoy, Google Cloud). */
    V2,
    /** Either version, told apart by its first bytes; still required. */
    AUTO;

    /** The name used on the command line and in the worker's environment. */
    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static ProxyMode parse(String text) {
        for (ProxyMode m : values()) {
            if (m.cliName().equals(text)) {
                return m;
            }
        }
        throw new IllegalArgumentException("'" + text + "' is not a PROXY protocol mode: use v1, v2, auto or off");
    }
}
