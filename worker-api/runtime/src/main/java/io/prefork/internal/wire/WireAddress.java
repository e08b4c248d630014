package io.prefork.internal.wire;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;

/**
 * The one codec of an IP socket address in wire form, as HANDOFF entries carry the client's address:
 *
 * <pre>
 *   +--------+--------+--------+---------------------------+
 *   | family | port (u16,      | address: 4 bytes (family 4)|     7 bytes (IPv4) or 19 bytes (IPv6)
 *   | 4 or 6 | big-endian)     |       or 16 bytes (6)      |
 *   +--------+--------+--------+---------------------------+
 * </pre>
 *
 * The supervisor writes it straight from the kernel's {@code sockaddr} (its listener copies family, port and address
 * bytes into a reused array, allocating nothing per connection), so {@link #IPV4}, {@link #IPV6} and the lengths are
 * the contract that code fills in.
 */
public final class WireAddress {
    /** The family byte of an IPv4 address. */
    public static final byte IPV4 = 4;
    /** The family byte of an IPv6 address. */
    public static final byte IPV6 = 6;
    /** Family and port: the bytes before the address. */
    public static final int PREFIX_BYTES = 3;
    public static final int IPV4_BYTES = PREFIX_BYTES + 4;
    public static final int IPV6_BYTES = PREFIX_BYTES + 16;
    /** The longest an address in wire form can be: room enough for either. */
    public static final int MAX_BYTES = IPV6_BYTES;

    private WireAddress() {
    }

    /** The wire length of an address whose family byte is {@code family}, or -1 if that is neither 4 nor 6. */
    public static int length(int family) {
        return family == IPV4 ? IPV4_BYTES : family == IPV6 ? IPV6_BYTES : -1;
    }

    /** {@code address} in wire form, in a new array of exactly its length. */
    public static byte[] encode(InetSocketAddress address) {
        byte[] ip = address.getAddress().getAddress();
        byte[] out = new byte[PREFIX_BYTES + ip.length];
        out[0] = ip.length == 4 ? IPV4 : IPV6;
        out[1] = (byte) (address.getPort() >>> 8);
        out[2] = (byte) address.getPort();
        System.arraycopy(ip, 0, out, PREFIX_BYTES, ip.length);
        return out;
    }

    /**
     * Checks the address at {@code at} in {@code src}, which must end by {@code end}.
     *
     * @return the offset after it
     * @throws FrameException naming the byte offset: a family other than 4 or 6, or an address cut off by the end
     */
    public static int skip(ByteBuffer src, int at, int end) throws FrameException {
        if (at >= end) {
            throw new FrameException("frame ends before an address at byte " + at);
        }
        int family = src.get(at);
        int length = length(family);
        if (length < 0) {
            throw new FrameException("address family " + family + " at byte " + at + " is neither 4 nor 6");
        }
        if (at + length > end) {
            throw new FrameException("frame ends inside an address at byte " + at);
        }
        return at + length;
    }

    /** True if the address at {@code at} (already checked by {@link #skip}) is IPv6. */
    public static boolean isIpv6(ByteBuffer src, int at) {
        return src.get(at) == IPV6;
    }

    /** Decodes the address at {@code at}, already checked by {@link #skip}. */
    public static InetSocketAddress decode(ByteBuffer src, int at) {
        byte[] ip = new byte[src.get(at) == IPV4 ? 4 : 16];
        src.get(at + PREFIX_BYTES, ip);
        return socketAddress(ip, (src.get(at + 1) & 0xFF) << 8 | (src.get(at + 2) & 0xFF));
    }

    /** Decodes a whole array in wire form. */
    public static InetSocketAddress decode(byte[] wire) throws FrameException {
        ByteBuffer src = ByteBuffer.wrap(wire);
        if (skip(src, 0, wire.length) != wire.length) {
            throw new FrameException("address of family " + wire[0] + " is " + length(wire[0]) + " bytes, not "
                    + wire.length);
        }
        return decode(src, 0);
    }

    private static InetSocketAddress socketAddress(byte[] ip, int port) {
        try {
            return new InetSocketAddress(InetAddress.getByAddress(ip), port);
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e); // getByAddress throws only for a length other than 4 or 16
        }
    }
}
