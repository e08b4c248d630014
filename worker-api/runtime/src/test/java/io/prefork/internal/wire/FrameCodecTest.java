package io.prefork.internal.wire;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The wire format, pure Java: round trips of every frame type and rejection of every kind of malformed frame. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FrameCodecTest {
    private static final FrameType[] ID_LIST_TYPES = {
        FrameType.REJECTED, FrameType.LOST};

    private static ByteBuffer frameBuffer(boolean direct) {
        // Room beyond MAX_FRAME_BYTES so that tests can build oversized messages in the same buffer.
        return direct ? ByteBuffer.allocateDirect(FrameCodec.MAX_FRAME_BYTES + 64)
                : ByteBuffer.allocate(FrameCodec.MAX_FRAME_BYTES + 64);
    }

    /** A heap buffer holding exactly the first {@code length} bytes: any read past the message throws. */
    private static ByteBuffer exactly(ByteBuffer src, int length) {
        byte[] copy = new byte[length];
        src.get(0, copy, 0, length);
        return ByteBuffer.wrap(copy);
    }

    private static FrameException rejected(ByteBuffer src, int length, boolean expectFromWorker, String... fragments) {
        FrameException e = assertThrows(FrameException.class,
                () -> FrameCodec.readHeader(src, length, expectFromWorker));
        assertMentions(e, fragments);
        return e;
    }

    private static void assertMentions(Exception e, String... fragments) {
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), () -> "message '" + e.getMessage() + "' should mention '" + f + "'");
        }
    }

    // ------------------------------------------------------------------------------------------------ constants

    @Test
    void constantsAreConsistentWithTheByteDiagram() {
        assertEquals(2046, FrameCodec.MAX_IDS_PER_FRAME);
        assertTrue(FrameCodec.HEADER_BYTES + 2 + 8 * FrameCodec.MAX_IDS_PER_FRAME <= FrameCodec.MAX_FRAME_BYTES);
        assertTrue(FrameCodec.HEADER_BYTES + 2 + 8 * (FrameCodec.MAX_IDS_PER_FRAME + 1) > FrameCodec.MAX_FRAME_BYTES);
        // A full batch of IPv6 handoffs must fit in one frame.
        assertTrue(FrameCodec.HEADER_BYTES + 2 + FrameCodec.MAX_FDS_PER_FRAME * FrameCodec.MAX_HANDOFF_ENTRY_BYTES
                <= FrameCodec.MAX_FRAME_BYTES);
        // id, accepted-at, an IPv6 peer address, flags; no local address since version 2, flags since 3.
        assertEquals(36, FrameCodec.MAX_HANDOFF_ENTRY_BYTES);
        // A resumed entry with the most unread bytes fits a frame with room to spare.
        assertTrue(FrameCodec.HEADER_BYTES + 2 + FrameCodec.handoffEntryBytes(19, true, FrameCodec.MAX_UNREAD_BYTES)
                <= FrameCodec.MAX_FRAME_BYTES);
        assertEquals(7, WireAddress.length(4));
        assertEquals(19, WireAddress.length(6));
        assertEquals(-1, WireAddress.length(5));
    }

    @Test
    void headerBytesAreBigEndianAsDiagrammed() {
        ByteBuffer b = frameBuffer(false);
        int n = FrameCodec.encodeProxyRefused(b, 0x01020304);
        assertArrayEquals(new byte[] {0x50, 0x46, 4, 0x31, 0, 0, 0, 4, 1, 2, 3, 4}, exactly(b, n).array());
    }

    @Test
    void typeCodesAreUniqueAndLookedUp() {
        for (FrameType t : FrameType.values()) {
            assertEquals(t, FrameType.ofCode(t.code));
        }
        assertEquals(null, FrameType.ofCode(0x00));
        assertEquals(null, FrameType.ofCode(0xFF));
        assertFalse(FrameType.HANDOFF.fromWorker);
        assertTrue(FrameType.READY.fromWorker);
    }

    // ------------------------------------------------------------------------------------------------ round trips

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void readyRoundTrip(boolean direct) throws FrameException {
        ByteBuffer b = frameBuffer(direct);
        int n = FrameCodec.encodeReady(b, 0x7FFF_0000_1234_5678L);
        assertEquals(16, n);
        assertEquals(FrameType.READY, FrameCodec.readHeader(b, n, true));
        assertEquals(0x7FFF_0000_1234_5678L, FrameCodec.readReady(b, n));
    }

    @Test
    void wakeIsAHeaderAlone() throws FrameException {
        ByteBuffer b = frameBuffer(false);
        int n = FrameCodec.encodeWake(b);
        assertArrayEquals(new byte[] {0x50, 0x46, 4, 0x32, 0, 0, 0, 0}, exactly(b, n).array());
        assertEquals(FrameType.WAKE, FrameCodec.readHeader(b, n, true));
        FrameCodec.readWake(n);
        assertThrows(FrameException.class, () -> FrameCodec.readHeader(b, n, false), "w->s only");
        FrameCodec.putHeader(b, FrameType.WAKE, 4);
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.readWake(12)), "WAKE", "8", "12");
    }

    @Test
    void proxyRefusedRoundTripAndRejection() throws FrameException {
        ByteBuffer b = frameBuffer(false);
        int n = FrameCodec.encodeProxyRefused(b, 0xFFFF_FFFFL); // unsigned: the largest count
        assertEquals(12, n);
        assertEquals(FrameType.PROXY_REFUSED, FrameCodec.readHeader(b, n, true));
        assertEquals(0xFFFF_FFFFL, FrameCodec.readProxyRefused(b, n));
        assertThrows(IllegalArgumentException.class, () -> FrameCodec.encodeProxyRefused(b, 0));
        assertThrows(IllegalArgumentException.class, () -> FrameCodec.encodeProxyRefused(b, 1L << 32));
        b.putInt(FrameCodec.HEADER_BYTES, 0);
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.readProxyRefused(b, n)), "count of 0");
        assertThrows(FrameException.class, () -> FrameCodec.readHeader(b, n, false), "w->s only");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "x", "ClassNotFoundException: com.example.Missing", "Größe ≠ 𝄞 size"})
    void bootFailedRoundTrip(String message) throws FrameException {
        ByteBuffer b = frameBuffer(true);
        int n = FrameCodec.encodeBootFailed(b, message);
        assertEquals(FrameCodec.HEADER_BYTES + 2 + message.getBytes(StandardCharsets.UTF_8).length, n);
        assertEquals(FrameType.BOOT_FAILED, FrameCodec.readHeader(b, n, true));
        assertEquals(message, FrameCodec.readBootFailed(b, n));
    }

    @Test
    void bootFailedLongerThanMaximumIsTruncated() throws FrameException {
        String message = "e".repeat(FrameCodec.MAX_MESSAGE_BYTES + 1000);
        ByteBuffer b = frameBuffer(false);
        int n = FrameCodec.encodeBootFailed(b, message);
        assertEquals(FrameCodec.HEADER_BYTES + 2 + FrameCodec.MAX_MESSAGE_BYTES, n);
        assertEquals(FrameType.BOOT_FAILED, FrameCodec.readHeader(b, n, true));
        String got = FrameCodec.readBootFailed(b, n);
        assertEquals(message.substring(0, FrameCodec.MAX_MESSAGE_BYTES), got);
    }

    @Test
    void bootFailedTruncationNeverSplitsACharacter() throws FrameException {
        // "a" then 2-byte characters: byte MAX_MESSAGE_BYTES (even) falls in the middle of one of them.
        String message = "a" + "é".repeat(FrameCodec.MAX_MESSAGE_BYTES);
        ByteBuffer b = frameBuffer(false);
        int n = FrameCodec.encodeBootFailed(b, message);
        assertEquals(FrameType.BOOT_FAILED, FrameCodec.readHeader(b, n, true));
        String got = FrameCodec.readBootFailed(b, n);
        assertFalse(got.contains("\uFFFD"), "the cut character must be dropped, not garbled");
        assertEquals(FrameCodec.MAX_MESSAGE_BYTES - 1, got.getBytes(StandardCharsets.UTF_8).length);
        assertTrue(message.startsWith(got));
        assertEquals(1 + (FrameCodec.MAX_MESSAGE_BYTES - 2) / 2, got.length());
    }

    @Test
    void idListRoundTripWithOneId() throws FrameException {
        for (FrameType type : ID_LIST_TYPES) {
            ByteBuffer b = frameBuffer(true);
            int n = FrameCodec.encodeIds(b, type, new long[] {-42L}, 1);
            assertEquals(18, n);
            assertEquals(type, FrameCodec.readHeader(b, n, true));
            List<Long> got = new ArrayList<>();
            assertEquals(1, FrameCodec.readIds(b, n, got::add));
            assertEquals(List.of(-42L), got);

            // encodeId writes the same bytes as a one-element encodeIds.
            ByteBuffer c = frameBuffer(false);
            assertEquals(n, FrameCodec.encodeId(c, type, -42L));
            assertArrayEquals(exactly(b, n).array(), exactly(c, n).array());
        }
    }

    @Test
    void idListRoundTripWithMaximumIds() throws FrameException {
        long[] ids = new long[FrameCodec.MAX_IDS_PER_FRAME];
        Random r = new Random(7);
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextLong();
        }
        for (FrameType type : ID_LIST_TYPES) {
            ByteBuffer b = frameBuffer(false);
            int n = FrameCodec.encodeIds(b, type, ids, ids.length);
            assertEquals(FrameCodec.HEADER_BYTES + 2 + 8 * ids.length, n);
            assertTrue(n <= FrameCodec.MAX_FRAME_BYTES);
            ByteBuffer exact = exactly(b, n);
            assertEquals(type, FrameCodec.readHeader(exact, n, true));
            long[] got = new long[ids.length];
            int[] i = {0};
            assertEquals(ids.length, FrameCodec.readIds(exact, n, id -> got[i[0]++] = id));
            assertArrayEquals(ids, got);
        }
    }

    @Test
    void encodeIdsRefusesCountsOutsideTheLimits() {
        ByteBuffer b = frameBuffer(false);
        long[] ids = new long[FrameCodec.MAX_IDS_PER_FRAME + 1];
        assertThrows(IllegalArgumentException.class, () -> FrameCodec.encodeIds(b, FrameType.LOST, ids, 0));
        assertThrows(IllegalArgumentException.class,
                () -> FrameCodec.encodeIds(b, FrameType.LOST, ids, FrameCodec.MAX_IDS_PER_FRAME + 1));
    }

    private static InetSocketAddress v4(int i) throws UnknownHostException {
        return new InetSocketAddress(InetAddress.getByAddress(new byte[] {10, (byte) (i >>> 8), (byte) i, 7}),
                1024 + i);
    }

    private static InetSocketAddress v6(int i) throws UnknownHostException {
        byte[] ip = new byte[16];
        ip[0] = (byte) 0x20;
        ip[1] = 0x01;
        ip[2] = 0x0d;
        ip[3] = (byte) 0xb8;
        ip[14] = (byte) (i >>> 8);
        ip[15] = (byte) i;
        return new InetSocketAddress(InetAddress.getByAddress(ip), 65535 - i);
    }

    /** Entry i's peer address: IPv4 for even i, IPv6 for odd. */
    private static InetSocketAddress entryAddress(int i) throws UnknownHostException {
        return (i & 1) == 0 ? v4(i) : v6(i);
    }

    private static int encodeHandoff(ByteBuffer b, int count) throws UnknownHostException {
        int offset = FrameCodec.beginHandoff();
        for (int i = 0; i < count; i++) {
            byte[] peer = WireAddress.encode(entryAddress(i));
            offset = FrameCodec.putHandoffEntry(b, offset, 1000L + i, 1_700_000_000_000_000L + i, peer, peer.length);
        }
        return FrameCodec.finishHandoff(b, count, offset);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, FrameCodec.MAX_FDS_PER_FRAME})
    void handoffRoundTrip(int count) throws Exception {
        for (boolean direct : new boolean[] {false, true}) {
            ByteBuffer b = frameBuffer(direct);
            int n = encodeHandoff(b, count);
            int expected = FrameCodec.HEADER_BYTES + 2;
            for (int i = 0; i < count; i++) {
                expected += 17 + (entryAddress(i).getAddress().getAddress().length == 4 ? 7 : 19);
            }
            assertEquals(expected, n);
            ByteBuffer src = direct ? b : exactly(b, n);
            assertEquals(FrameType.HANDOFF, FrameCodec.readHeader(src, n, false));
            assertEquals(count, FrameCodec.readHandoffCount(src, n));
            FrameCodec.HandoffReader reader = new FrameCodec.HandoffReader();
            reader.reset(src, n);
            for (int i = 0; i < count; i++) {
                reader.next();
                assertEquals(1000L + i, reader.id());
                assertEquals(1_700_000_000_000_000L + i, reader.acceptedEpochMicros());
                assertEquals(entryAddress(i), reader.peerAddress());
                assertEquals((i & 1) == 1, reader.peerIsIpv6());
            }
            reader.finish();
        }
    }

    @Test
    void handoffReaderIsReusableAcrossFrames() throws Exception {
        FrameCodec.HandoffReader reader = new FrameCodec.HandoffReader();
        for (int count : new int[] {3, 1, 2}) {
            ByteBuffer b = frameBuffer(false);
            int n = encodeHandoff(b, count);
            FrameCodec.readHeader(b, n, false);
            assertEquals(count, FrameCodec.readHandoffCount(b, n));
            reader.reset(b, n);
            for (int i = 0; i < count; i++) {
                reader.next();
                assertEquals(1000L + i, reader.id());
            }
            reader.finish();
        }
    }

    @Test
    void wireAddressForm() throws Exception {
        InetSocketAddress four = new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 8080);
        assertArrayEquals(new byte[] {4, (byte) 0x1F, (byte) 0x90, 127, 0, 0, 1}, WireAddress.encode(four));
        assertEquals(four, WireAddress.decode(WireAddress.encode(four)));
        InetSocketAddress sixAddress = new InetSocketAddress(InetAddress.getByName("::1"), 443);
        byte[] six = WireAddress.encode(sixAddress);
        assertEquals(19, six.length);
        assertEquals(6, six[0]);
        assertEquals(1, six[1]);
        assertEquals((byte) 0xBB, six[2]);
        assertEquals(1, six[18]);
        assertEquals(sixAddress, WireAddress.decode(six));
        assertTrue(WireAddress.isIpv6(ByteBuffer.wrap(six), 0));
        // Decoding is strict: a family other than 4 or 6, or a length that does not match the family.
        assertMentions(assertThrows(FrameException.class, () -> WireAddress.decode(new byte[] {5, 0, 80, 1, 2, 3, 4})),
                "address family 5", "neither 4 nor 6");
        assertMentions(assertThrows(FrameException.class, () -> WireAddress.decode(new byte[] {4, 0, 80, 1, 2, 3})),
                "ends inside an address");
        assertMentions(assertThrows(FrameException.class,
                () -> WireAddress.decode(new byte[] {4, 0, 80, 1, 2, 3, 4, 5})), "is 7 bytes, not 8");
    }

    @Test
    void finishHandoffRefusesCountsOutsideTheLimits() {
        ByteBuffer b = frameBuffer(false);
        assertThrows(IllegalArgumentException.class, () -> FrameCodec.finishHandoff(b, 0, 10));
        assertThrows(IllegalArgumentException.class,
                () -> FrameCodec.finishHandoff(b, FrameCodec.MAX_FDS_PER_FRAME + 1, 10));
    }

    // ------------------------------------------------------------------------------------------------ header rejection

    @Test
    void rejectsMessageShorterThanHeader() {
        ByteBuffer b = frameBuffer(false);
        int n = FrameCodec.encodeProxyRefused(b, 1);
        for (int len = 0; len < FrameCodec.HEADER_BYTES; len++) {
            rejected(exactly(b, len), len, true, "shorter", len + " bytes");
        }
        assertTrue(n > FrameCodec.HEADER_BYTES);
    }

    @Test
    void rejectsMessageLongerThanMaximum() {
        ByteBuffer b = frameBuffer(false);
        int len = FrameCodec.MAX_FRAME_BYTES + 1;
        FrameCodec.putHeader(b, FrameType.LOST, len - FrameCodec.HEADER_BYTES);
        rejected(b, len, true, "exceeds", String.valueOf(len), String.valueOf(FrameCodec.MAX_FRAME_BYTES));
    }

    @Test
    void acceptsMessageOfExactlyTheMaximum() throws FrameException {
        ByteBuffer b = frameBuffer(false);
        FrameCodec.putHeader(b, FrameType.LOST, FrameCodec.MAX_FRAME_BYTES - FrameCodec.HEADER_BYTES);
        assertEquals(FrameType.LOST, FrameCodec.readHeader(b, FrameCodec.MAX_FRAME_BYTES, true));
    }

    @Test
    void rejectsBadMagic() {
        ByteBuffer b = frameBuffer(false);
        int n = FrameCodec.encodeReady(b, 1);
        b.putShort(0, (short) 0x4854); // "HT", as in an HTTP request sent to the wrong socket
        rejected(b, n, true, "bad magic", "0x4854", "0x5046");
    }

    @Test
    void rejectsWrongVersion() {
        ByteBuffer b = frameBuffer(false);
        int n = FrameCodec.encodeReady(b, 1);
        b.put(2, (byte) 1);
        rejected(b, n, true, "version 1", "not supported");
    }

    @Test
    void rejectsUnknownType() {
        ByteBuffer b = frameBuffer(false);
        int n = FrameCodec.encodeReady(b, 1);
        b.put(3, (byte) 0x7E);
        rejected(b, n, true, "unknown frame type", "0x7e");
    }

    @Test
    void rejectsWrongDirection() {
        ByteBuffer b = frameBuffer(false);
        FrameCodec.putHeader(b, FrameType.HANDOFF, 0);
        rejected(b, FrameCodec.HEADER_BYTES, true, "HANDOFF", "wrong direction");
        int n = FrameCodec.encodeReady(b, 1);
        rejected(b, n, false, "READY", "wrong direction");
    }

    @Test
    void rejectsBodyLengthFieldNotMatchingMessageLength() {
        ByteBuffer b = frameBuffer(false);
        int n = FrameCodec.encodeProxyRefused(b, 5);
        // The message carries more than the header announces (oversized).
        rejected(b, n + 3, true, "body is 4 bytes", "carries 7");
        // The message carries less than the header announces (truncated).
        rejected(b, n - 1, true, "body is 4 bytes", "carries 3");
        // A length field with the top bit set is read unsigned, not as a negative number.
        b.putInt(4, 0xFFFF_FFFC);
        rejected(b, n, true, "body is 4294967292 bytes");
    }

    // ------------------------------------------------------------------------------------------------ body rejection

    @Test
    void rejectsIdListWithCountZero() throws FrameException {
        ByteBuffer b = frameBuffer(false);
        FrameCodec.putHeader(b, FrameType.REJECTED, 2);
        b.putShort(FrameCodec.HEADER_BYTES, (short) 0);
        int n = FrameCodec.HEADER_BYTES + 2;
        assertEquals(FrameType.REJECTED, FrameCodec.readHeader(b, n, true));
        FrameException e = assertThrows(FrameException.class, () -> FrameCodec.readIds(b, n, id -> fail()));
        assertMentions(e, "count 0", "outside 1..");
    }

    @Test
    void rejectsIdListWithoutCount() throws FrameException {
        ByteBuffer b = frameBuffer(false);
        FrameCodec.putHeader(b, FrameType.LOST, 0);
        int n = FrameCodec.HEADER_BYTES;
        assertEquals(FrameType.LOST, FrameCodec.readHeader(b, n, true));
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.readIds(b, n, id -> fail())), "no count");
    }

    @Test
    void rejectsIdListCountNotMatchingLength() throws FrameException {
        ByteBuffer b = frameBuffer(false);
        int n = FrameCodec.encodeIds(b, FrameType.LOST, new long[] {1, 2, 3}, 3);
        // Count says 4 but only 3 ids are there.
        b.putShort(FrameCodec.HEADER_BYTES, (short) 4);
        assertEquals(FrameType.LOST, FrameCodec.readHeader(b, n, true));
        FrameException e = assertThrows(FrameException.class,
                () -> FrameCodec.readIds(exactly(b, n), n, id -> fail("no id may be delivered from a bad frame")));
        assertMentions(e, "4 ids", "must be 42 bytes", "not 34");
        // Count says 2 but 3 ids are there.
        b.putShort(FrameCodec.HEADER_BYTES, (short) 2);
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.readIds(b, n, id -> fail())),
                "2 ids", "must be 26 bytes", "not 34");
        // A count above the maximum.
        b.putShort(FrameCodec.HEADER_BYTES, (short) (FrameCodec.MAX_IDS_PER_FRAME + 1));
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.readIds(b, n, id -> fail())),
                "count " + (FrameCodec.MAX_IDS_PER_FRAME + 1));
    }

    @Test
    void rejectsFixedSizeBodiesOfTheWrongSize() {
        ByteBuffer b = frameBuffer(false);
        FrameCodec.putHeader(b, FrameType.READY, 4);
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.readReady(b, 12)), "READY", "16", "12");
        FrameCodec.putHeader(b, FrameType.PROXY_REFUSED, 8);
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.readProxyRefused(b, 16)),
                "PROXY_REFUSED", "12", "16");
    }

    @Test
    void rejectsBootFailedWithInconsistentLength() {
        ByteBuffer b = frameBuffer(false);
        int n = FrameCodec.encodeBootFailed(b, "boom");
        b.putShort(FrameCodec.HEADER_BYTES, (short) 5);
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.readBootFailed(exactly(b, n), n)),
                "length 5", "frame length " + n);
        b.putShort(FrameCodec.HEADER_BYTES, (short) (FrameCodec.MAX_MESSAGE_BYTES + 1));
        assertThrows(FrameException.class, () -> FrameCodec.readBootFailed(b, n));
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.readBootFailed(b, 9)),
                "no message length");
    }

    @Test
    void rejectsHandoffCountZero() throws Exception {
        ByteBuffer b = frameBuffer(false);
        int n = encodeHandoff(b, 1);
        b.putShort(FrameCodec.HEADER_BYTES, (short) 0);
        assertEquals(FrameType.HANDOFF, FrameCodec.readHeader(b, n, false));
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.readHandoffCount(b, n)),
                "HANDOFF count 0", "outside 1..253");
    }

    @Test
    void rejectsHandoffCount254() throws Exception {
        ByteBuffer b = frameBuffer(false);
        int n = encodeHandoff(b, FrameCodec.MAX_FDS_PER_FRAME);
        assertEquals(FrameCodec.MAX_FDS_PER_FRAME, FrameCodec.readHandoffCount(b, n));
        b.putShort(FrameCodec.HEADER_BYTES, (short) 254);
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.readHandoffCount(b, n)),
                "HANDOFF count 254", "outside 1..253");
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.readHandoffCount(b, 9)), "no count");
    }

    @Test
    void rejectsHandoffEntryWithAddressFamily5() throws Exception {
        ByteBuffer b = frameBuffer(false);
        int n = encodeHandoff(b, 2);
        // Entry 0: id, time, then its peer address family byte.
        int peerFamilyAt = FrameCodec.beginHandoff() + 16;
        assertEquals(4, b.get(peerFamilyAt));
        b.put(peerFamilyAt, (byte) 5);
        FrameCodec.HandoffReader r = new FrameCodec.HandoffReader();
        r.reset(exactly(b, n), n);
        assertMentions(assertThrows(FrameException.class, r::next),
                "address family 5", "byte " + peerFamilyAt, "neither 4 nor 6");

        // The same for the peer address of the second entry (entry 0 is IPv4: 24 bytes; entry 1 is IPv6).
        n = encodeHandoff(b, 2);
        int secondFamilyAt = FrameCodec.beginHandoff() + 24 + 16;
        assertEquals(6, b.get(secondFamilyAt));
        b.put(secondFamilyAt, (byte) 5);
        r.reset(exactly(b, n), n);
        r.next();
        assertMentions(assertThrows(FrameException.class, r::next), "address family 5", "byte " + secondFamilyAt);
    }

    @Test
    void rejectsTrailingBytesAfterLastEntry() throws Exception {
        ByteBuffer b = frameBuffer(false);
        int n = encodeHandoff(b, 2);
        // Three extra bytes, announced in the header so that readHeader accepts the frame.
        int len = n + 3;
        FrameCodec.putHeader(b, FrameType.HANDOFF, len - FrameCodec.HEADER_BYTES);
        ByteBuffer src = exactly(b, len);
        assertEquals(FrameType.HANDOFF, FrameCodec.readHeader(src, len, false));
        assertEquals(2, FrameCodec.readHandoffCount(src, len));
        FrameCodec.HandoffReader r = new FrameCodec.HandoffReader();
        r.reset(src, len);
        r.next();
        r.next();
        assertMentions(assertThrows(FrameException.class, r::finish), "3 bytes after its last entry");
    }

    // ------------------------------------------------------------------------------------------------ keep-alive

    @Test
    void resumedEntryCarriesItsUnreadBytesAndANewOneNone() throws Exception {
        ByteBuffer b = frameBuffer(false);
        byte[] peer = WireAddress.encode(v6(1));
        byte[] unread = "GET /next HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII);
        int offset = FrameCodec.beginHandoff();
        offset = FrameCodec.putHandoffEntry(b, offset, 7, 11, peer, peer.length, true, unread, unread.length);
        offset = FrameCodec.putHandoffEntry(b, offset, 8, 12, peer, peer.length);
        offset = FrameCodec.putHandoffEntry(b, offset, 9, 13, peer, peer.length, true, null, 0);
        int n = FrameCodec.finishHandoff(b, 3, offset);
        // Diagram: flags byte after the address; a resumed entry then has u16 length and the bytes.
        int flagsAt = FrameCodec.beginHandoff() + 16 + peer.length;
        assertEquals(FrameCodec.FLAG_RESUMED, b.get(flagsAt));
        assertEquals(unread.length, b.getShort(flagsAt + 1));
        assertEquals(FrameCodec.HEADER_BYTES + 2 + FrameCodec.handoffEntryBytes(peer.length, true, unread.length)
                + FrameCodec.handoffEntryBytes(peer.length, false, 0)
                + FrameCodec.handoffEntryBytes(peer.length, true, 0), n);
        ByteBuffer src = exactly(b, n);
        assertEquals(FrameType.HANDOFF, FrameCodec.readHeader(src, n, false));
        FrameCodec.HandoffReader r = new FrameCodec.HandoffReader();
        r.reset(src, n);
        r.next();
        assertEquals(7, r.id());
        assertTrue(r.resumed());
        assertArrayEquals(unread, r.unread());
        assertArrayEquals(peer, r.peerWire());
        r.next();
        assertEquals(8, r.id());
        assertFalse(r.resumed());
        assertEquals(0, r.unread().length);
        r.next();
        assertEquals(9, r.id());
        assertTrue(r.resumed());
        assertEquals(0, r.unread().length);
        r.finish();
    }

    @Test
    void theElsewhereFlagRoundTrips() throws Exception {
        ByteBuffer b = frameBuffer(false);
        byte[] peer = WireAddress.encode(v4(1));
        int end = FrameCodec.putHandoffEntry(b, FrameCodec.beginHandoff(), 7, 1, peer, peer.length, false, true, null,
                0);
        int n = FrameCodec.finishHandoff(b, 1, end);
        assertEquals(FrameCodec.FLAG_ELSEWHERE, b.get(FrameCodec.beginHandoff() + 16 + peer.length));
        FrameCodec.HandoffReader r = new FrameCodec.HandoffReader();
        r.reset(exactly(b, n), n);
        r.next();
        assertTrue(r.elsewhere());
        assertFalse(r.resumed());
        r.finish();
    }

    @Test
    void rejectsUnknownEntryFlagsAndTooManyUnreadBytes() throws Exception {
        ByteBuffer b = frameBuffer(false);
        byte[] peer = WireAddress.encode(v4(1));
        int end = FrameCodec.putHandoffEntry(b, FrameCodec.beginHandoff(), 5, 1, peer, peer.length, true, null, 0);
        int n = FrameCodec.finishHandoff(b, 1, end);
        int flagsAt = FrameCodec.beginHandoff() + 16 + peer.length;
        FrameCodec.HandoffReader r = new FrameCodec.HandoffReader();
        b.put(flagsAt, (byte) 5);
        r.reset(exactly(b, n), n);
        assertMentions(assertThrows(FrameException.class, r::next), "connection 5", "unknown flags 0x05");
        b.put(flagsAt, (byte) 3); // RESUMED | ELSEWHERE: both known
        r.reset(exactly(b, n), n);
        r.next();
        assertTrue(r.resumed() && r.elsewhere());
        b.put(flagsAt, (byte) 1);
        b.putShort(flagsAt + 1, (short) (FrameCodec.MAX_UNREAD_BYTES + 1));
        r.reset(exactly(b, n), n);
        assertMentions(assertThrows(FrameException.class, r::next), "4097 unread bytes", "maximum of 4096");
        b.putShort(flagsAt + 1, (short) 10);
        r.reset(exactly(b, n), n);
        assertMentions(assertThrows(FrameException.class, r::next), "ends inside the unread bytes of connection 5");
        assertThrows(IllegalArgumentException.class, () -> FrameCodec.putHandoffEntry(b, FrameCodec.beginHandoff(), 5,
                1, peer, peer.length, true, new byte[4097], 4097));
    }

    @Test
    void parkedRoundTripAndItsChecks() throws Exception {
        ByteBuffer b = frameBuffer(true);
        byte[] peer = WireAddress.encode(v6(3));
        ByteBuffer unread = ByteBuffer.wrap("xxGET / HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII));
        unread.position(2);
        int n = FrameCodec.encodeParked(b, 42, 1_700_000_000_000_001L, peer, unread);
        assertEquals(2, unread.position(), "the caller's buffer is not consumed");
        assertEquals(FrameCodec.HEADER_BYTES + 16 + peer.length + 2 + unread.remaining(), n);
        assertEquals(FrameType.PARKED, FrameCodec.readHeader(b, n, true));
        assertThrows(FrameException.class, () -> FrameCodec.readHeader(b, n, false), "PARKED goes worker to supervisor");
        FrameCodec.checkParked(b, n);
        assertEquals(42, FrameCodec.parkedId(b));
        assertEquals(1_700_000_000_000_001L, FrameCodec.parkedAcceptedAt(b));
        byte[] p = new byte[WireAddress.MAX_BYTES];
        assertEquals(peer.length, FrameCodec.parkedPeer(b, p));
        assertArrayEquals(peer, java.util.Arrays.copyOf(p, peer.length));
        byte[] u = new byte[FrameCodec.parkedUnreadLength(b)];
        FrameCodec.parkedUnread(b, u);
        assertEquals("GET / HTTP/1.1\r\n", new String(u, StandardCharsets.US_ASCII));

        // Every cut is refused, naming PARKED; so is a length that disagrees with the unread count.
        for (int len = FrameCodec.HEADER_BYTES; len < n; len++) {
            int cut = len;
            assertMentions(assertThrows(FrameException.class, () -> FrameCodec.checkParked(b, cut)), "");
        }
        int unreadAt = FrameCodec.HEADER_BYTES + 16 + peer.length;
        b.putShort(unreadAt, (short) (FrameCodec.MAX_UNREAD_BYTES + 1));
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.checkParked(b, n)), "PARKED",
                "4097", "maximum of 4096");
        b.putShort(unreadAt, (short) 1);
        assertMentions(assertThrows(FrameException.class, () -> FrameCodec.checkParked(b, n)), "PARKED",
                "1 unread bytes must be");
        assertThrows(IllegalArgumentException.class,
                () -> FrameCodec.encodeParked(b, 1, 1, peer, ByteBuffer.allocate(FrameCodec.MAX_UNREAD_BYTES + 1)));
    }

    @Test
    void rejectsFrameEndingInsideAnEntry() throws Exception {
        ByteBuffer b = frameBuffer(false);
        int full = encodeHandoff(b, 2); // entry 0: IPv4 peer (24 bytes), entry 1: IPv6 peer (36 bytes)
        int secondEntryAt = FrameCodec.beginHandoff() + 24;
        assertEquals(secondEntryAt + 36, full);
        FrameCodec.HandoffReader r = new FrameCodec.HandoffReader();
        // Cut at every byte inside the second entry: inside id/time, before an address, inside an address.
        for (int len = secondEntryAt; len < full; len++) {
            ByteBuffer src = exactly(b, len);
            r.reset(src, len);
            r.next();
            FrameException e = assertThrows(FrameException.class, r::next, "cut at " + len);
            assertMentions(e, "ends");
        }
        ByteBuffer src = exactly(b, secondEntryAt + 10);
        r.reset(src, secondEntryAt + 10);
        r.next();
        assertMentions(assertThrows(FrameException.class, r::next), "ends inside an entry", "byte " + secondEntryAt);
        src = exactly(b, secondEntryAt + 16);
        r.reset(src, secondEntryAt + 16);
        r.next();
        assertMentions(assertThrows(FrameException.class, r::next), "ends before an address");
        src = exactly(b, secondEntryAt + 20);
        r.reset(src, secondEntryAt + 20);
        r.next();
        assertMentions(assertThrows(FrameException.class, r::next), "ends inside an address");
        // Count says 3 but only 2 entries are there.
        r.reset(exactly(b, full), full);
        r.next();
        r.next();
        assertThrows(FrameException.class, r::next);
    }

    // ------------------------------------------------------------------------------------------------ robustness

    /**
     * Decodes one message as a receiver would, returning normally only if it is a valid frame. Any exception other
     * than {@link FrameException} escapes and fails the test, including reads past the message: {@code src} holds
     * exactly {@code length} bytes.
     */
    private static void decode(ByteBuffer src, int length, boolean expectFromWorker) throws FrameException {
        FrameType type = FrameCodec.readHeader(src, length, expectFromWorker);
        switch (type) {
            case READY:
                FrameCodec.readReady(src, length);
                break;
            case PROXY_REFUSED:
                FrameCodec.readProxyRefused(src, length);
                break;
            case BOOT_FAILED:
                FrameCodec.readBootFailed(src, length);
                break;
            case WAKE:
                FrameCodec.readWake(length);
                break;
            case REJECTED:
            case LOST:
                FrameCodec.readIds(src, length, id -> { });
                break;
            case PARKED:
                FrameCodec.checkParked(src, length);
                FrameCodec.parkedUnread(src, new byte[FrameCodec.parkedUnreadLength(src)]);
                FrameCodec.parkedPeer(src, new byte[WireAddress.MAX_BYTES]);
                break;
            case HANDOFF:
                int count = FrameCodec.readHandoffCount(src, length);
                FrameCodec.HandoffReader r = new FrameCodec.HandoffReader();
                r.reset(src, length);
                for (int i = 0; i < count; i++) {
                    r.next();
                    r.peerAddress();
                    r.peerIsIpv6();
                    r.unread();
                }
                r.finish();
                break;
            default:
                throw new AssertionError(type);
        }
    }

    @Test
    void randomMessagesDecodeOrThrowFrameExceptionOnly() throws Exception {
        Random random = new Random(0x5046_0001L);
        ByteBuffer scratch = frameBuffer(false);
        FrameType[] types = FrameType.values();
        int decoded = 0;
        int rejected = 0;
        for (int round = 0; round < 10_000; round++) {
            byte[] message;
            int kind = round % 4;
            if (kind == 0) {
                // Pure noise.
                message = new byte[random.nextInt(64)];
                random.nextBytes(message);
            } else if (kind == 1) {
                // A valid header of a random type over a random body.
                message = new byte[FrameCodec.HEADER_BYTES + random.nextInt(600)];
                random.nextBytes(message);
                ByteBuffer.wrap(message).putShort(0, (short) FrameCodec.MAGIC).put(2, (byte) 1)
                        .put(3, (byte) types[random.nextInt(types.length)].code)
                        .putInt(4, message.length - FrameCodec.HEADER_BYTES);
                if (message.length >= FrameCodec.HEADER_BYTES + 2 && random.nextInt(4) == 0) {
                    // A small plausible count, so that body readers get past the count check.
                    ByteBuffer.wrap(message).putShort(FrameCodec.HEADER_BYTES, (short) (1 + random.nextInt(4)));
                }
            } else {
                // A valid frame with a few bytes mutated and perhaps cut or extended.
                int n;
                switch (random.nextInt(6)) {
                    case 0: n = FrameCodec.encodeReady(scratch, random.nextLong()); break;
                    case 1: n = FrameCodec.encodeProxyRefused(scratch, 1 + random.nextInt(1000)); break;
                    case 2: n = FrameCodec.encodeBootFailed(scratch, "failed " + random.nextInt()); break;
                    case 3: n = FrameCodec.encodeIds(scratch, FrameType.LOST, new long[] {1, 2, 3, 4, 5},
                            1 + random.nextInt(5)); break;
                    default: n = encodeHandoff(scratch, 1 + random.nextInt(8)); break;
                }
                int len = Math.max(0, n + (random.nextInt(3) == 0 ? random.nextInt(21) - 10 : 0));
                message = new byte[len];
                scratch.get(0, message, 0, Math.min(n, len));
                int mutations = kind == 2 ? random.nextInt(3) : 1 + random.nextInt(3);
                for (int m = 0; m < mutations && len > 0; m++) {
                    message[random.nextInt(len)] = (byte) random.nextInt(256);
                }
                if (len >= FrameCodec.HEADER_BYTES && random.nextBoolean()) {
                    // Keep the length field consistent so that the body readers are exercised.
                    ByteBuffer.wrap(message).putInt(4, len - FrameCodec.HEADER_BYTES);
                }
            }
            boolean expectFromWorker = message.length >= 4 && FrameType.ofCode(message[3]) != null
                    ? FrameType.ofCode(message[3]).fromWorker : random.nextBoolean();
            try {
                decode(ByteBuffer.wrap(message), message.length, expectFromWorker);
                decoded++;
            } catch (FrameException e) {
                assertTrue(e.getMessage() != null && !e.getMessage().isEmpty());
                rejected++;
            } catch (RuntimeException e) {
                throw new AssertionError("round " + round + ": " + e + " decoding " + toHex(message), e);
            }
        }
        assertEquals(10_000, decoded + rejected);
        // Both outcomes must occur, or the generator is not exercising the decoder.
        assertTrue(decoded > 100, "decoded " + decoded);
        assertTrue(rejected > 1000, "rejected " + rejected);
    }

    private static String toHex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x));
        }
        return s.toString();
    }

    @ParameterizedTest
    @EnumSource(FrameType.class)
    void everyTypeIsAcceptedOnlyInItsDirection(FrameType type) throws FrameException {
        ByteBuffer b = frameBuffer(false);
        FrameCodec.putHeader(b, type, 0);
        assertEquals(type, FrameCodec.readHeader(b, FrameCodec.HEADER_BYTES, type.fromWorker));
        rejected(b, FrameCodec.HEADER_BYTES, !type.fromWorker, "wrong direction");
    }
}
