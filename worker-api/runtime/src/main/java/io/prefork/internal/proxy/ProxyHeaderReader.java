package io.prefork.internal.proxy;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * Reads a PROXY protocol header, version 1 or 2, as HAProxy's doc/proxy-protocol.txt specifies it, from the start of a
 * connection, consuming exactly the header's bytes and never one byte of the application's data after it: without
 * MSG_PEEK, every read asks for no more than the header can still need.
 *
 * <pre>
 * v1 (text, one line, at most 107 bytes including CRLF):
 *   "PROXY" SP ("TCP4" | "TCP6") SP src-ip SP dst-ip SP src-port SP dst-port CRLF
 *   "PROXY" SP "UNKNOWN" [anything but CRLF] CRLF             (the shortest header: 15 bytes)
 *
 * v2 (binary, big-endian):
 *   0                         12       13       14       16
 *   +-------------------------+--------+--------+--------+----------------------------------------+
 *   | \r\n\r\n\0\r\nQUIT\n    |ver|cmd |fam|prot| len u16| addresses, then TLVs up to len         |
 *   +-------------------------+--------+--------+--------+----------------------------------------+
 *   ver 2; cmd 0 LOCAL (addresses ignored), 1 PROXY; fam 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX; prot 0 UNSPEC,
 *   1 STREAM, 2 DGRAM. INET: src(4) dst(4) sport(2) dport(2) = 12 bytes; INET6: 16+16+2+2 = 36; UNIX: 108+108.
 *   TLV: type u8 | length u16 | value; PP2_TYPE_CRC32C (0x03) is the CRC32c of the whole header with its value
 *   zeroed, and is checked when present.
 * </pre>
 *
 * Reading: the first read asks for at most 15 bytes (no header is shorter), and stops at the first byte that can no
 * longer begin a header of the allowed versions, so a client speaking HTTP directly is refused at once rather than
 * at the deadline. A v1 line is then read at most 2 bytes at a time (1 after a CR), because the CRLF can end it at
 * any byte; a v2 header reads its fixed 16 bytes, then exactly its length.
 *
 * <p>Pure Java over an {@link InputStream}: the caller supplies the deadline (a socket read timeout).
 */
public final class ProxyHeaderReader {
    /** The v2 signature, chosen by the specification so that it cannot begin any common protocol. */
    static final byte[] V2_SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    static final byte[] V1_PREFIX = "PROXY ".getBytes(StandardCharsets.US_ASCII);
    /** The specification's limit for a v1 line, CRLF included ("PROXY TCP6" with two full IPv6 addresses and ports). */
    public static final int V1_MAX_BYTES = 107;
    /** "PROXY UNKNOWN\r\n": no header of either version is shorter (v2 is at least 16). */
    static final int MIN_BYTES = 15;
    static final int V2_FIXED_BYTES = 16;
    /**
     * Our limit for a whole v2 header. The specification allows up to 16 + 65535 bytes; real balancers send the
     * addresses and a few short TLVs (ALPN, authority, an SSL summary, a cloud endpoint id): far below this. A larger
     * header is refused rather than buffered, so that a peer cannot make every connection cost 64 KiB.
     */
    public static final int V2_MAX_BYTES = 4096;

    public static final int PP2_TYPE_ALPN = 0x01;
    public static final int PP2_TYPE_AUTHORITY = 0x02;
    public static final int PP2_TYPE_CRC32C = 0x03;
    public static final int PP2_TYPE_NOOP = 0x04;

    private ProxyHeaderReader() {
    }

    /**
     * Reads one header from {@code in}.
     *
     * @param mode V1, V2 or AUTO (not OFF)
     * @throws ProxyHeaderException missing, malformed, oversized or truncated (end of stream) header, naming the bytes
     * @throws IOException          from {@code in}, including {@link java.net.SocketTimeoutException} at the deadline
     */
    public static ProxyHeader read(InputStream in, ProxyMode mode) throws IOException {
        if (mode == ProxyMode.OFF) {
            throw new IllegalArgumentException("no header to read with --proxy-protocol off");
        }
        byte[] buf = new byte[mode == ProxyMode.V1 ? V1_MAX_BYTES : V2_FIXED_BYTES];
        int n = 0;
        int want = mode == ProxyMode.V2 ? V2_FIXED_BYTES : MIN_BYTES;
        // Read the start, checking each byte as it arrives against the prefixes the mode allows.
        while (n < want) {
            int r = in.read(buf, n, want - n);
            if (r < 0) {
                throw new ProxyHeaderException("connection closed after " + n + " byte(s) of a PROXY protocol header: "
                        + printable(buf, n));
            }
            n += r;
            boolean v1 = mode != ProxyMode.V2 && startsLike(buf, n, V1_PREFIX);
            boolean v2 = mode != ProxyMode.V1 && startsLike(buf, n, V2_SIGNATURE);
            if (!v1 && !v2) {
                throw new ProxyHeaderException("no PROXY protocol " + expected(mode) + " header: the connection began "
                        + printable(buf, n) + " (is the balancer configured to send one, e.g. HAProxy send-proxy-v2?)");
            }
        }
        if (startsLike(buf, n, V2_SIGNATURE)) {
            return readV2(in, buf, n);
        }
        return readV1(in, buf, n);
    }

    private static String expected(ProxyMode mode) {
        return switch (mode) {
            case V1 -> "v1 (\"PROXY ...\\r\\n\")";
            case V2 -> "v2 (binary signature \\r\\n\\r\\n\\0\\r\\nQUIT\\n)";
            default -> "v1 or v2";
        };
    }

    private static ProxyHeader readV1(InputStream in, byte[] first, int n) throws IOException {
        byte[] line = first.length >= V1_MAX_BYTES ? first : Arrays.copyOf(first, V1_MAX_BYTES);
        while (!(n >= 2 && line[n - 2] == '\r' && line[n - 1] == '\n')) {
            int crAt = indexOf(line, n, (byte) '\r');
            if (crAt >= 0 && crAt != n - 1) {
                throw new ProxyHeaderException("PROXY v1 header has a CR not followed by LF: " + printable(line, n));
            }
            if (n >= V1_MAX_BYTES) {
                throw new ProxyHeaderException("PROXY v1 header has no CRLF within " + V1_MAX_BYTES + " bytes: "
                        + printable(line, n));
            }
            // After a CR the line may end with the next byte; otherwise it needs at least 2 more (CRLF).
            int ask = Math.min(line[n - 1] == '\r' ? 1 : 2, V1_MAX_BYTES - n);
            int r = in.read(line, n, ask);
            if (r < 0) {
                throw new ProxyHeaderException("connection closed in the middle of a PROXY v1 header: "
                        + printable(line, n));
            }
            n += r;
        }
        return parseV1(line, n);
    }

    /** Parses one complete v1 line, CRLF included. */
    static ProxyHeader parseV1(byte[] line, int n) throws ProxyHeaderException {
        for (int i = 0; i < n - 2; i++) {
            if (line[i] == '\r' || line[i] == '\n' || line[i] == 0) {
                throw new ProxyHeaderException("PROXY v1 header has a control byte inside the line: " + printable(line, n));
            }
        }
        String text = new String(line, 0, n - 2, StandardCharsets.US_ASCII);
        String[] f = text.split(" ", -1);
        if (f.length >= 2 && f[1].equals("UNKNOWN")) {
            // "the receiver must ignore anything presented before the CRLF is found" (section 2.1)
            return new ProxyHeader(1, null, null, List.of(), n);
        }
        if (f.length != 6) {
            throw new ProxyHeaderException("PROXY v1 header needs 6 fields separated by single spaces "
                    + "(PROXY TCP4|TCP6 src dst sport dport), got " + f.length + ": " + printable(line, n));
        }
        boolean v6;
        if (f[1].equals("TCP4")) {
            v6 = false;
        } else if (f[1].equals("TCP6")) {
            v6 = true;
        } else {
            throw new ProxyHeaderException("PROXY v1 protocol '" + f[1] + "' is not TCP4, TCP6 or UNKNOWN");
        }
        InetAddress src = v1Address(f[2], v6, "source");
        InetAddress dst = v1Address(f[3], v6, "destination");
        int sport = v1Port(f[4], "source");
        int dport = v1Port(f[5], "destination");
        return new ProxyHeader(1, new InetSocketAddress(src, sport), new InetSocketAddress(dst, dport), List.of(), n);
    }

    private static InetAddress v1Address(String s, boolean v6, String which) throws ProxyHeaderException {
        try {
            if (!v6) {
                byte[] a = ipv4(s);
                if (a != null) {
                    return InetAddress.getByAddress(a);
                }
            } else if (!s.isEmpty() && s.length() <= 45 && s.chars().allMatch(c -> c == ':' || c == '.'
                    || Character.digit(c, 16) >= 0) && s.indexOf(':') >= 0) {
                // Only hex digits, colons and dots, with a colon: InetAddress parses it as a literal (no DNS lookup).
                return InetAddress.getByName(s);
            }
        } catch (UnknownHostException e) {
            // Reported below.
        }
        throw new ProxyHeaderException("PROXY v1 " + which + " address '" + s + "' is not an "
                + (v6 ? "IPv6" : "IPv4") + " address");
    }

    /** Dotted quad, four decimal numbers 0..255 of 1 to 3 digits; null if not. */
    private static byte[] ipv4(String s) {
        String[] parts = s.split("\\.", -1);
        if (parts.length != 4) {
            return null;
        }
        byte[] a = new byte[4];
        for (int i = 0; i < 4; i++) {
            String p = parts[i];
            if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(c -> c >= '0' && c <= '9')) {
                return null;
            }
            int v = Integer.parseInt(p);
            if (v > 255) {
                return null;
            }
            a[i] = (byte) v;
        }
        return a;
    }

    private static int v1Port(String s, String which) throws ProxyHeaderException {
        if (!s.isEmpty() && s.length() <= 5 && s.chars().allMatch(c -> c >= '0' && c <= '9')) {
            int p = Integer.parseInt(s);
            if (p <= 65535) {
                return p;
            }
        }
        throw new ProxyHeaderException("PROXY v1 " + which + " port '" + s + "' is not a number from 0 to 65535");
    }

    private static ProxyHeader readV2(InputStream in, byte[] first, int n) throws IOException {
        byte[] fixed = Arrays.copyOf(first, V2_FIXED_BYTES);
        n = readFully(in, fixed, n, V2_FIXED_BYTES, "v2");
        int len = ((fixed[14] & 0xFF) << 8) | (fixed[15] & 0xFF);
        if (V2_FIXED_BYTES + len > V2_MAX_BYTES) {
            throw new ProxyHeaderException("PROXY v2 header of " + (V2_FIXED_BYTES + len) + " bytes is over this "
                    + "server's limit of " + V2_MAX_BYTES + " bytes");
        }
        // Check the fixed part before waiting for the rest: garbage is refused without reading its claimed length.
        checkV2Fixed(fixed);
        byte[] header = Arrays.copyOf(fixed, V2_FIXED_BYTES + len);
        readFully(in, header, V2_FIXED_BYTES, header.length, "v2");
        return parseV2(header);
    }

    private static void checkV2Fixed(byte[] h) throws ProxyHeaderException {
        int version = (h[12] & 0xF0) >>> 4;
        int command = h[12] & 0x0F;
        if (version != 2) {
            throw new ProxyHeaderException("PROXY v2 header has version " + version + " in its 13th byte (0x"
                    + hex(h[12]) + "): only 2 is defined");
        }
        if (command > 1) {
            throw new ProxyHeaderException("PROXY v2 header has command " + command + ": only 0 (LOCAL) and 1 (PROXY)"
                    + " are defined, and the specification requires dropping the connection on any other");
        }
        int family = (h[13] & 0xF0) >>> 4;
        int protocol = h[13] & 0x0F;
        if (family > 3 || protocol > 2) {
            throw new ProxyHeaderException("PROXY v2 header has address family " + family + " / protocol " + protocol
                    + " (byte 0x" + hex(h[13]) + "): families 0-3 and protocols 0-2 are defined");
        }
    }

    /** Parses one complete v2 header (16 bytes plus its length). */
    static ProxyHeader parseV2(byte[] h) throws ProxyHeaderException {
        if (h.length < V2_FIXED_BYTES || !startsLike(h, V2_SIGNATURE.length, V2_SIGNATURE)) {
            throw new ProxyHeaderException("not a PROXY v2 header: " + printable(h, Math.min(h.length, 16)));
        }
        checkV2Fixed(h);
        int len = ((h[14] & 0xFF) << 8) | (h[15] & 0xFF);
        if (h.length != V2_FIXED_BYTES + len) {
            throw new ProxyHeaderException("PROXY v2 header says " + len + " bytes follow, but " + (h.length - 16)
                    + " do");
        }
        boolean local = (h[12] & 0x0F) == 0;
        int family = (h[13] & 0xF0) >>> 4;
        int protocol = h[13] & 0x0F;
        int addressBytes = switch (family) {
            case 1 -> 12;
            case 2 -> 36;
            case 3 -> 216;
            default -> 0;
        };
        if (len < addressBytes) {
            throw new ProxyHeaderException("PROXY v2 header is too short for its address family " + family + ": "
                    + len + " bytes after the fixed part, need at least " + addressBytes);
        }
        ByteBuffer b = ByteBuffer.wrap(h);
        InetSocketAddress src = null;
        InetSocketAddress dst = null;
        // LOCAL (health checks from the balancer itself): "the receiver must accept this connection as valid and must
        // use the real connection endpoints and discard the protocol block including the family". UNSPEC and UNIX
        // carry no TCP address either: the connection's own addresses apply.
        if (!local && (family == 1 || family == 2)) {
            if (protocol != 1) {
                throw new ProxyHeaderException("PROXY v2 header is for protocol " + protocol + " (2 = DGRAM, 0 = UNSPEC)"
                        + " over IP: this server takes TCP (STREAM, 1) connections");
            }
            int size = family == 1 ? 4 : 16;
            byte[] s = new byte[size];
            byte[] d = new byte[size];
            b.get(16, s);
            b.get(16 + size, d);
            int sport = b.getShort(16 + 2 * size) & 0xFFFF;
            int dport = b.getShort(18 + 2 * size) & 0xFFFF;
            try {
                src = new InetSocketAddress(InetAddress.getByAddress(s), sport);
                dst = new InetSocketAddress(InetAddress.getByAddress(d), dport);
            } catch (UnknownHostException e) {
                throw new IllegalStateException(e); // 4 or 16 bytes are always an address
            }
        }
        List<ProxyHeader.Tlv> tlvs = new ArrayList<>();
        int crcAt = -1;
        int p = V2_FIXED_BYTES + addressBytes;
        while (p < h.length) {
            if (h.length - p < 3) {
                throw new ProxyHeaderException("PROXY v2 header ends inside a TLV's type and length, at byte " + p);
            }
            int type = h[p] & 0xFF;
            int vlen = ((h[p + 1] & 0xFF) << 8) | (h[p + 2] & 0xFF);
            if (p + 3 + vlen > h.length) {
                throw new ProxyHeaderException("PROXY v2 TLV of type 0x" + hex((byte) type) + " at byte " + p
                        + " claims " + vlen + " bytes, past the header's end (" + h.length + " bytes)");
            }
            if (type == PP2_TYPE_CRC32C) {
                if (vlen != 4) {
                    throw new ProxyHeaderException("PROXY v2 CRC32C TLV has " + vlen + " bytes, not 4");
                }
                crcAt = p + 3;
            }
            if (type != PP2_TYPE_NOOP) {
                tlvs.add(new ProxyHeader.Tlv(type, Arrays.copyOfRange(h, p + 3, p + 3 + vlen)));
            }
            p += 3 + vlen;
        }
        if (crcAt >= 0) {
            long expected = b.getInt(crcAt) & 0xFFFFFFFFL;
            byte[] zeroed = h.clone();
            Arrays.fill(zeroed, crcAt, crcAt + 4, (byte) 0);
            CRC32C crc = new CRC32C();
            crc.update(zeroed);
            if (crc.getValue() != expected) {
                throw new ProxyHeaderException("PROXY v2 header fails its CRC32C check: carries 0x"
                        + Long.toHexString(expected) + ", computed 0x" + Long.toHexString(crc.getValue()));
            }
        }
        return new ProxyHeader(2, src, dst, tlvs, h.length);
    }

    private static int readFully(InputStream in, byte[] buf, int n, int to, String what) throws IOException {
        while (n < to) {
            int r = in.read(buf, n, to - n);
            if (r < 0) {
                throw new ProxyHeaderException("connection closed after " + n + " of " + to + " bytes of a PROXY "
                        + what + " header");
            }
            n += r;
        }
        return n;
    }

    /** True if the first {@code n} bytes of {@code buf} agree with {@code prefix} as far as both go. */
    private static boolean startsLike(byte[] buf, int n, byte[] prefix) {
        for (int i = 0; i < Math.min(n, prefix.length); i++) {
            if (buf[i] != prefix[i]) {
                return false;
            }
        }
        return true;
    }

    private static int indexOf(byte[] buf, int n, byte b) {
        for (int i = 0; i < n; i++) {
            if (buf[i] == b) {
                return i;
            }
        }
        return -1;
    }

    private static String hex(byte b) {
        return String.format("%02x", b & 0xFF);
    }

    /** The bytes for a log line: printable ASCII as is, the rest as \xNN, at most 64 bytes. */
    static String printable(byte[] buf, int n) {
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < Math.min(n, 64); i++) {
            int c = buf[i] & 0xFF;
            if (c == '\r') {
                sb.append("\\r");
            } else if (c == '\n') {
                sb.append("\\n");
            } else if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
                sb.append((char) c);
            } else {
                sb.append("\\x").append(hex((byte) c));
            }
        }
        return sb.append(n > 64 ? "\"..." : "\"").toString();
    }
}
