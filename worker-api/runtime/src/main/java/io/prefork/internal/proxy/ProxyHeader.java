package io.prefork.internal.proxy;

import java.net.InetSocketAddress;
import java.util.List;

/**
 * A PROXY protocol header as read from the start of a connection.
 *
 * @param version     1 (text) or 2 (binary)
 * @param source      the client's address, or null when the header carries none (v1 {@code UNKNOWN}, v2 {@code LOCAL},
 *                    or a v2 address family other than TCP over IPv4/IPv6): then the connection's own addresses apply,
 *                    as the specification requires
 * @param destination the address the client connected to on the balancer, or null with {@code source}
 * @param tlvs        v2 type-length-value extensions in header order (ALPN, authority, SSL, AWS and Azure ids...),
 *                    empty for v1; a CRC32C one has already been verified
 * @param length      the header's length in bytes: exactly what was consumed from the connection
 */
public record ProxyHeader(int version, InetSocketAddress source, InetSocketAddress destination, List<Tlv> tlvs,
                          int length) {
    /** One v2 TLV: {@code type} as in the specification's {@code PP2_TYPE_*} constants. */
    public record Tlv(int type, byte[] value) {
    }

    public ProxyHeader {
        tlvs = List.copyOf(tlvs);
        if ((source == null) != (destination == null)) {
            throw new IllegalArgumentException("source and destination are both known or both unknown");
        }
    }

    /** True when the header names the client ({@code PROXY} with TCP addresses), false for LOCAL or UNKNOWN. */
    public boolean hasAddresses() {
        return source != null;
    }
}
