package io.prefork.internal.proxy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The PROXY protocol reader on hand-made headers (HAProxy's doc/proxy-protocol.txt): v1 TCP4/TCP6/UNKNOWN, v2
 * PROXY/LOCAL over IPv4, IPv6, UNIX and UNSPEC with TLVs and CRC32C, and every kind of bad header. Every test also
 * checks that the application's bytes after the header are left unread.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ProxyHeaderReaderTest {
    private static final byte[] APP = "GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    // ------------------------------------------------------------------------------------------------------ v1

    @Test
    void v1Tcp4() throws IOException {
        ProxyHeader h = readLeavingApp("PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n", ProxyMode.V1);
        assertEquals(1, h.version());
        assertEquals(new InetSocketAddress(ip("192.0.2.10"), 56324), h.source());
        assertEquals(new InetSocketAddress(ip("198.51.100.1"), 443), h.destination());
        assertEquals("PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n".length(), h.length());
    }

    @Test
    void v1Tcp6AtTheMaximumLength() throws IOException {
        String line = "PROXY TCP6 ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"
                .replace("ffff:f...f:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        ProxyHeader h = readLeavingApp(line, ProxyMode.AUTO);
        assertEquals(new InetSocketAddress(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 65535), h.source());
        assertEquals(104, h.length());
        // The specification's worst case: the same with UNKNOWN in place of TCP6.
        String worst = line.replace("TCP6", "UNKNOWN");
        assertEquals(ProxyHeaderReader.V1_MAX_BYTES, worst.length());
        assertEquals(107, readLeavingApp(worst, ProxyMode.V1).length());
    }

    @Test
    void v1Tcp6Short() throws IOException {
        ProxyHeader h = readLeavingApp("PROXY TCP6 2001:db8::1 ::1 1 2\r\n", ProxyMode.V1);
        assertEquals(new InetSocketAddress(ip("2001:db8::1"), 1), h.source());
        assertEquals(new InetSocketAddress(ip("::1"), 2), h.destination());
    }

    @Test
    void v1UnknownUsesTheConnectionsAddressesAndIgnoresTheRestOfTheLine() throws IOException {
        ProxyHeader h = readLeavingApp("PROXY UNKNOWN\r\n", ProxyMode.V1);
        assertFalse(h.hasAddresses());
        assertEquals(15, h.length());
        ProxyHeader h2 = readLeavingApp("PROXY UNKNOWN ffff::1 whatever 1 2\r\n", ProxyMode.AUTO);
        assertNull(h2.source());
        assertNull(h2.destination());
    }

    @Test
    void v1ReadOneByteAtATimeStillStopsAtTheCrlf() throws IOException {
        byte[] header = "PROXY TCP4 10.1.2.3 10.0.0.1 1234 80\r\n".getBytes(StandardCharsets.US_ASCII);
        InputStream in = new Trickle(concat(header, APP));
        ProxyHeader h = ProxyHeaderReader.read(in, ProxyMode.V1);
        assertEquals(new InetSocketAddress(ip("10.1.2.3"), 1234), h.source());
        assertArrayEquals(APP, in.readAllBytes());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",              // LF without CR: no CRLF within the limit, or a bare LF
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",          // CR not followed by LF
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",           // two spaces
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",              // missing port
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",          // extra field
        "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",          // octet out of range
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",              // three octets
        "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",                // IPv6 under TCP4
        "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",                // IPv4 under TCP6
        "PROXY TCP6 example.com ::1 1 2\r\n",            // a host name, never looked up
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",        // port out of range
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",           // negative port
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",            // not TCP
        "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",            // case matters
        "PROXY UNKNOWNX\r\n",                            // not UNKNOWN
    })
    void v1Malformed(String line) {
        ProxyHeaderException e = assertThrows(ProxyHeaderException.class, () -> ProxyHeaderReader.read(
                new ByteArrayInputStream(concat(line.getBytes(StandardCharsets.US_ASCII), APP)), ProxyMode.V1));
        assertTrue(e.getMessage().contains("PROXY v1"), e.getMessage());
    }

    @Test
    void v1OversizedIsRefusedAtTheLimitWithoutReadingFurther() {
        String line = "PROXY TCP6 " + "a".repeat(200) + "\r\n";
        ByteArrayInputStream in = new ByteArrayInputStream(line.getBytes(StandardCharsets.US_ASCII));
        ProxyHeaderException e = assertThrows(ProxyHeaderException.class, () -> ProxyHeaderReader.read(in,
                ProxyMode.V1));
        assertTrue(e.getMessage().contains("no CRLF within 107 bytes"), e.getMessage());
        assertEquals(line.length() - 107, in.available(), "read exactly the 107 bytes allowed");
    }

    @Test
    void v1TruncatedByEndOfStream() {
        ProxyHeaderException e = assertThrows(ProxyHeaderException.class, () -> ProxyHeaderReader.read(
                new ByteArrayInputStream("PROXY TCP4 1.2.3.4 5.6".getBytes(StandardCharsets.US_ASCII)), ProxyMode.V1));
        assertTrue(e.getMessage().contains("closed in the middle"), e.getMessage());
    }

    // ------------------------------------------------------------------------------------------------------ v2

    @Test
    void v2ProxyOverIpv4() throws IOException {
        byte[] h = v2(0x21, 0x11, ipv4Block("203.0.113.5", "10.0.0.2", 40000, 8080));
        ProxyHeader p = readLeavingApp(h, ProxyMode.V2);
        assertEquals(2, p.version());
        assertEquals(new InetSocketAddress(ip("203.0.113.5"), 40000), p.source());
        assertEquals(new InetSocketAddress(ip("10.0.0.2"), 8080), p.destination());
        assertEquals(28, p.length());
        assertTrue(p.tlvs().isEmpty());
    }

    @Test
    void v2ProxyOverIpv6WithTlvsAndAValidCrc() throws IOException {
        ByteBuffer addr = ByteBuffer.allocate(36);
        addr.put(ip("2001:db8::7").getAddress()).put(ip("2001:db8::1").getAddress()).putShort((short) 65000)
                .putShort((short) 443);
        byte[] alpn = tlv(ProxyHeaderReader.PP2_TYPE_ALPN, "h2".getBytes(StandardCharsets.US_ASCII));
        byte[] authority = tlv(ProxyHeaderReader.PP2_TYPE_AUTHORITY, "example.com".getBytes(StandardCharsets.US_ASCII));
        byte[] noop = tlv(ProxyHeaderReader.PP2_TYPE_NOOP, new byte[3]);
        byte[] aws = tlv(0xEA, "\u0001vpce-0123".getBytes(StandardCharsets.US_ASCII));
        byte[] crc = tlv(ProxyHeaderReader.PP2_TYPE_CRC32C, new byte[4]);
        byte[] h = v2(0x21, 0x21, concat(addr.array(), alpn, authority, noop, aws, crc));
        setCrc(h);
        ProxyHeader p = readLeavingApp(h, ProxyMode.AUTO);
        assertEquals(new InetSocketAddress(ip("2001:db8::7"), 65000), p.source());
        assertEquals(new InetSocketAddress(ip("2001:db8::1"), 443), p.destination());
        assertEquals(4, p.tlvs().size(), "NOOP is padding, not reported");
        assertEquals(ProxyHeaderReader.PP2_TYPE_ALPN, p.tlvs().get(0).type());
        assertEquals("h2", new String(p.tlvs().get(0).value(), StandardCharsets.US_ASCII));
        assertEquals("example.com", new String(p.tlvs().get(1).value(), StandardCharsets.US_ASCII));
        assertEquals(0xEA, p.tlvs().get(2).type());
        assertEquals(h.length, p.length());
    }

    @Test
    void v2WrongCrcIsRefused() {
        byte[] h = v2(0x21, 0x11, concat(ipv4Block("1.2.3.4", "5.6.7.8", 1, 2),
                tlv(ProxyHeaderReader.PP2_TYPE_CRC32C, new byte[4])));
        setCrc(h);
        h[17] ^= 1; // the source address, after the checksum was computed
        ProxyHeaderException e = assertThrows(ProxyHeaderException.class, () -> read(h, ProxyMode.V2));
        assertTrue(e.getMessage().contains("CRC32C"), e.getMessage());
    }

    @Test
    void v2LocalIgnoresItsAddressBlockAndUsesTheConnections() throws IOException {
        // HAProxy's own health checks: LOCAL, here still with an address block, which must be discarded.
        ProxyHeader p = readLeavingApp(v2(0x20, 0x11, ipv4Block("1.2.3.4", "5.6.7.8", 1, 2)), ProxyMode.V2);
        assertFalse(p.hasAddresses());
        ProxyHeader bare = readLeavingApp(v2(0x20, 0x00, new byte[0]), ProxyMode.V2);
        assertFalse(bare.hasAddresses());
        assertEquals(16, bare.length());
    }

    @Test
    void v2UnspecAndUnixCarryNoTcpAddress() throws IOException {
        assertFalse(readLeavingApp(v2(0x21, 0x00, new byte[0]), ProxyMode.V2).hasAddresses());
        assertFalse(readLeavingApp(v2(0x21, 0x31, new byte[216]), ProxyMode.V2).hasAddresses());
    }

    @Test
    void v2ReadOneByteAtATime() throws IOException {
        byte[] h = v2(0x21, 0x11, concat(ipv4Block("9.8.7.6", "5.4.3.2", 7, 8), tlv(0x05, new byte[]{1, 2, 3})));
        InputStream in = new Trickle(concat(h, APP));
        ProxyHeader p = ProxyHeaderReader.read(in, ProxyMode.AUTO);
        assertEquals(new InetSocketAddress(ip("9.8.7.6"), 7), p.source());
        assertArrayEquals(new byte[]{1, 2, 3}, p.tlvs().get(0).value());
        assertArrayEquals(APP, in.readAllBytes());
    }

    @Test
    void v2Malformed() {
        byte[] addr = ipv4Block("1.2.3.4", "5.6.7.8", 1, 2);
        assertRefused(v2(0x11, 0x11, addr), "version 1");           // version nibble 1
        assertRefused(v2(0x22, 0x11, addr), "command 2");           // unassigned command
        assertRefused(v2(0x21, 0x41, addr), "address family 4");    // unassigned family
        assertRefused(v2(0x21, 0x13, addr), "protocol 3");          // unassigned protocol
        assertRefused(v2(0x21, 0x12, addr), "DGRAM");               // UDP: not for a TCP server
        assertRefused(v2(0x21, 0x11, new byte[11]), "too short");   // INET needs 12 bytes
        assertRefused(v2(0x21, 0x21, addr), "too short");           // INET6 needs 36
        assertRefused(v2(0x21, 0x11, concat(addr, new byte[]{0x01, 0x00})), "inside a TLV");
        assertRefused(v2(0x21, 0x11, concat(addr, new byte[]{0x01, 0x00, 0x05, 'h'})), "past the header's end");
        assertRefused(v2(0x21, 0x11, concat(addr, tlv(ProxyHeaderReader.PP2_TYPE_CRC32C, new byte[2]))), "not 4");
    }

    @Test
    void v2OversizedIsRefusedBeforeReadingItsBody() {
        byte[] fixed = v2(0x21, 0x11, new byte[0]);
        fixed[14] = (byte) 0xFF; // claims 65535 bytes follow
        fixed[15] = (byte) 0xFF;
        ProxyHeaderException e = assertThrows(ProxyHeaderException.class, () -> ProxyHeaderReader.read(
                new ByteArrayInputStream(fixed), ProxyMode.V2));
        assertTrue(e.getMessage().contains("over this server's limit of 4096"), e.getMessage());
    }

    @Test
    void v2Truncated() {
        byte[] h = v2(0x21, 0x11, ipv4Block("1.2.3.4", "5.6.7.8", 1, 2));
        for (int n : new int[]{5, 12, 15, 16, 27}) {
            byte[] cut = java.util.Arrays.copyOf(h, n);
            ProxyHeaderException e = assertThrows(ProxyHeaderException.class, () -> read(cut, ProxyMode.V2));
            assertTrue(e.getMessage().contains("connection closed"), n + ": " + e.getMessage());
        }
    }

    // ------------------------------------------------------------------------------------------ missing header

    @Test
    void plainHttpIsRefusedAfterItsFirstByteNotAtTheDeadline() {
        // A stream that would block after the first byte: the reader must not ask for more.
        InputStream oneThenBlock = new InputStream() {
            private boolean sent;

            @Override
            public int read() {
                throw new UnsupportedOperationException();
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (sent) {
                    throw new AssertionError("read again after a byte that begins no header");
                }
                sent = true;
                b[off] = 'G';
                return 1;
            }
        };
        ProxyHeaderException e = assertThrows(ProxyHeaderException.class, () -> ProxyHeaderReader.read(oneThenBlock,
                ProxyMode.AUTO));
        assertTrue(e.getMessage().contains("no PROXY protocol v1 or v2 header: the connection began \"G\""),
                e.getMessage());
    }

    @Test
    void eachModeRefusesTheOtherVersion() {
        byte[] v2 = v2(0x21, 0x11, ipv4Block("1.2.3.4", "5.6.7.8", 1, 2));
        assertThrows(ProxyHeaderException.class, () -> read(v2, ProxyMode.V1));
        assertThrows(ProxyHeaderException.class, () -> read(
                "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n".getBytes(StandardCharsets.US_ASCII), ProxyMode.V2));
    }

    @Test
    void garbageIsRefusedWithItsBytesPrintable() {
        byte[] garbage = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01}; // a TLS ClientHello
        ProxyHeaderException e = assertThrows(ProxyHeaderException.class, () -> read(garbage, ProxyMode.AUTO));
        assertTrue(e.getMessage().contains("\"\\x16\\x03\\x01\\x02\\x00\\x01\""), e.getMessage());
        assertThrows(ProxyHeaderException.class, () -> read(new byte[0], ProxyMode.AUTO));
    }

    @Test
    void offIsNotAModeToRead() {
        assertThrows(IllegalArgumentException.class, () -> read(APP, ProxyMode.OFF));
    }

    @Test
    void modesParseByTheirCommandLineNames() {
        assertEquals(ProxyMode.V1, ProxyMode.parse("v1"));
        assertEquals(ProxyMode.V2, ProxyMode.parse("v2"));
        assertEquals(ProxyMode.AUTO, ProxyMode.parse("auto"));
        assertEquals(ProxyMode.OFF, ProxyMode.parse("off"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ProxyMode.parse("V3"));
        assertTrue(e.getMessage().contains("'V3'") && e.getMessage().contains("v1, v2, auto or off"));
    }

    // ----------------------------------------------------------------------------------------------- helpers

    private static void assertRefused(byte[] header, String expected) {
        ProxyHeaderException e = assertThrows(ProxyHeaderException.class, () -> read(header, ProxyMode.V2));
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
    }

    private static ProxyHeader read(byte[] bytes, ProxyMode mode) throws IOException {
        return ProxyHeaderReader.read(new ByteArrayInputStream(bytes), mode);
    }

    private static ProxyHeader readLeavingApp(String header, ProxyMode mode) throws IOException {
        return readLeavingApp(header.getBytes(StandardCharsets.US_ASCII), mode);
    }

    /** Reads the header from header + APP, where the stream would hand over APP too if asked, and checks it was not. */
    private static ProxyHeader readLeavingApp(byte[] header, ProxyMode mode) throws IOException {
        ByteArrayInputStream in = new ByteArrayInputStream(concat(header, APP));
        ProxyHeader h = ProxyHeaderReader.read(in, mode);
        assertArrayEquals(APP, in.readAllBytes(), "the application's bytes are left for the handler");
        return h;
    }

    static byte[] v2(int verCmd, int famProto, byte[] body) {
        ByteBuffer b = ByteBuffer.allocate(16 + body.length);
        b.put(ProxyHeaderReader.V2_SIGNATURE).put((byte) verCmd).put((byte) famProto).putShort((short) body.length)
                .put(body);
        return b.array();
    }

    static byte[] ipv4Block(String src, String dst, int sport, int dport) {
        return ByteBuffer.allocate(12).put(ip(src).getAddress()).put(ip(dst).getAddress()).putShort((short) sport)
                .putShort((short) dport).array();
    }

    private static byte[] tlv(int type, byte[] value) {
        return ByteBuffer.allocate(3 + value.length).put((byte) type).putShort((short) value.length).put(value).array();
    }

    /** Fills a CRC32C TLV's value (assumed last) with the checksum of the header with that value zeroed. */
    private static void setCrc(byte[] h) {
        CRC32C crc = new CRC32C();
        crc.update(h);
        ByteBuffer.wrap(h).putInt(h.length - 4, (int) crc.getValue());
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** Hands over one byte per read, as a slow network would. */
    private static final class Trickle extends ByteArrayInputStream {
        Trickle(byte[] b) {
            super(b);
        }

        @Override
        public synchronized int read(byte[] b, int off, int len) {
            return super.read(b, off, Math.min(len, 1));
        }
    }
}
