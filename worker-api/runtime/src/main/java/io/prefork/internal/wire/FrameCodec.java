package io.prefork.internal.wire;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.function.LongConsumer;

/**
 * The wire format between the supervisor and a worker: one frame per SOCK_SEQPACKET message, so the socket, not
 * this codec, keeps message boundaries (and one recvmsg returns exactly one frame). Pure Java, no native code: it
 * reads and writes {@link ByteBuffer}s at absolute offsets and allocates nothing on the hot path.
 *
 * <pre>
 * Frame (all integers big-endian, unsigned):
 *
 *   0        1        2        3        4        5        6        7        8
 *   +--------+--------+--------+--------+--------+--------+--------+--------+------------------+
 *   |  magic 0x50 'P' 0x46 'F' |version |  type  |       body length (u32)           | body ...         |
 *   +--------+--------+--------+--------+--------+--------+--------+--------+------------------+
 *
 *   version      4 (VERSION); a frame of another version is rejected, never guessed at (version 1 also carried
 *                the connection's local address in HANDOFF entries; version 2 had no flags or unread bytes in them;
 *                version 3 had HEARTBEAT, TAKEN, DONE and DONE_TAKEN frames: a worker's heartbeat, claims and done
 *                count are words in its SharedRegion now, and WAKE is the one message left of them)
 *   type         a FrameType code
 *   body length  equals the message length minus 8; the whole frame is at most MAX_FRAME_BYTES (16384)
 *
 * Id list body (REJECTED, LOST; the worker first moved each entry's claim slot to DECLINED):
 *   +--------+--------+-------------------+-----+
 *   | count (u16, >=1) | id 0 (u64)        | ... |      body length = 2 + 8 * count
 *   +--------+--------+-------------------+-----+
 *
 * HANDOFF body: count (u16, 1..253) then count entries; the message's SCM_RIGHTS control data carries exactly
 * count descriptors, entry i's descriptor being the i-th. Both sides count entries from 0 over the channel's life:
 * entry k's claim slot in the SharedRegion is k % R, which the supervisor set OFFERED before the sendmsg:
 *   +----------------+----------------------+--------------+
 *   | id (u64)       | accepted at (u64,    | peer address |
 *   |                | µs since the epoch)  |              |
 *   +----------------+----------------------+--------------+
 *   address (WireAddress): family (u8: 4 or 6) | port (u16) | 4 or 16 address bytes      (7 or 19 bytes)
 *   then flags (u8): bit 0 RESUMED (a parked connection that became readable), bit 1 ELSEWHERE (revoked from
 *   another worker, which may still hold a copy of the descriptor until it reaches the entry: the handler's worker
 *   shuts the socket down before its close, or the client would see no FIN); all other bits 0, enforced
 *   and, only when RESUMED: unread length (u16, 0..MAX_UNREAD_BYTES) | that many bytes the previous handler read
 *   beyond its request, which the next handler must see before the socket's bytes
 *   No local address: the worker reads it with getsockname when it wraps the socket (ChannelWrapper),
 *   which spares the supervisor a getsockname per connection on a wildcard listener.
 *
 * READY body:       pid (u64)
 * BOOT_FAILED body: length (u16) | UTF-8 message (at most MAX_MESSAGE_BYTES)
 * PROXY_REFUSED body: count (u32, >= 1) of connections refused for their PROXY protocol header since the last one
 * WAKE body:        empty (the supervisor reads the worker's SharedRegion: claims, done count)
 *
 * PARKED body (w->s; SCM_RIGHTS carries exactly 1 descriptor, the connection's; the worker counts it done too):
 *   +----------------+----------------------+--------------+--------+--------+-------------------+
 *   | id (u64)       | accepted at (u64,    | peer address | unread length   | unread bytes ...  |
 *   |                | µs, as in HANDOFF)   | (as received)| (u16, <= 4096)  |                   |
 *   +----------------+----------------------+--------------+--------+--------+-------------------+
 *   The worker echoes the entry it was handed, so the supervisor keeps nothing of a taken connection; the unread
 *   bytes are at most MAX_UNREAD_BYTES (4096). No other w->s frame may carry a descriptor.
 * </pre>
 *
 * Decoding validates everything it reads (magic, version, known type, lengths, counts, address families) and throws
 * {@link FrameException} naming what was wrong; it never reads past the message.
 */
public final class FrameCodec {
    public static final int MAGIC = 0x5046;
    public static final int VERSION = 4;
    public static final int HEADER_BYTES = 8;
    /** Large enough for a full batch of handoffs (253 IPv6 entries are 253 * 35 + 2 bytes) plus the header. */
    public static final int MAX_FRAME_BYTES = 16384;
    /** Linux refuses more than 253 descriptors in one SCM_RIGHTS message (SCM_MAX_FD); 254 gives EINVAL. */
    public static final int MAX_FDS_PER_FRAME = 253;
    /** The most ids one id-list frame carries. */
    public static final int MAX_IDS_PER_FRAME = (MAX_FRAME_BYTES - HEADER_BYTES - 2) / 8;
    public static final int MAX_MESSAGE_BYTES = 4096;
    /**
     * The most bytes a handler may leave unread when it parks a connection (read beyond its request, e.g. a pipelined
     * one): they travel in PARKED and then in a RESUMED handoff entry, so they must fit a frame with a full entry.
     */
    public static final int MAX_UNREAD_BYTES = 4096;
    /** HANDOFF entry flag: a parked connection resumed, followed by its unread bytes. */
    public static final int FLAG_RESUMED = 1;
    /** HANDOFF entry flag: revoked from another worker, which may still hold a copy: shut down before closing. */
    public static final int FLAG_ELSEWHERE = 2;
    /** The size of a new (not resumed) handoff entry with an IPv6 peer: id, accepted-at, address, flags. */
    public static final int MAX_HANDOFF_ENTRY_BYTES = 16 + WireAddress.MAX_BYTES + 1;

    /** The size of one handoff entry: a resumed one also carries its unread bytes and their length. */
    public static int handoffEntryBytes(int peerLength, boolean resumed, int unreadLength) {
        return 16 + peerLength + 1 + (resumed ? 2 + unreadLength : 0);
    }

    private FrameCodec() {
    }

    // ------------------------------------------------------------------------------------------------ encoding

    /** Writes a header at offset 0 of {@code dst}. */
    public static void putHeader(ByteBuffer dst, FrameType type, int bodyLength) {
        dst.putShort(0, (short) MAGIC);
        dst.put(2, (byte) VERSION);
        dst.put(3, (byte) type.code);
        dst.putInt(4, bodyLength);
    }

    /**
     * Encodes an id-list frame at offset 0.
     *
     * @return the frame's length in bytes
     */
    public static int encodeIds(ByteBuffer dst, FrameType type, long[] ids, int count) {
        if (count < 1 || count > MAX_IDS_PER_FRAME) {
            throw new IllegalArgumentException("id count " + count + " outside 1.." + MAX_IDS_PER_FRAME);
        }
        int body = 2 + 8 * count;
        putHeader(dst, type, body);
        dst.putShort(HEADER_BYTES, (short) count);
        for (int i = 0; i < count; i++) {
            dst.putLong(HEADER_BYTES + 2 + 8 * i, ids[i]);
        }
        return HEADER_BYTES + body;
    }

    /** Encodes a one-id frame at offset 0; returns its length. */
    public static int encodeId(ByteBuffer dst, FrameType type, long id) {
        putHeader(dst, type, 10);
        dst.putShort(HEADER_BYTES, (short) 1);
        dst.putLong(HEADER_BYTES + 2, id);
        return HEADER_BYTES + 10;
    }

    public static int encodeWake(ByteBuffer dst) {
        putHeader(dst, FrameType.WAKE, 0);
        return HEADER_BYTES;
    }

    public static int encodeReady(ByteBuffer dst, long pid) {
        putHeader(dst, FrameType.READY, 8);
        dst.putLong(HEADER_BYTES, pid);
        return HEADER_BYTES + 8;
    }

    /** @param count 1 to 2^32 - 1 */
    public static int encodeProxyRefused(ByteBuffer dst, long count) {
        if (count < 1 || count > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("PROXY_REFUSED count " + count + " outside 1..2^32-1 (send one only "
                    + "when there were any)");
        }
        putHeader(dst, FrameType.PROXY_REFUSED, 4);
        dst.putInt(HEADER_BYTES, (int) count);
        return HEADER_BYTES + 4;
    }

    public static int encodeBootFailed(ByteBuffer dst, String message) {
        byte[] utf8 = message.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(utf8.length, MAX_MESSAGE_BYTES);
        // Cut at a character boundary: never inside a multi-byte sequence (continuation bytes are 10xxxxxx), or the
        // receiver would decode the cut character as U+FFFD.
        while (n < utf8.length && n > 0 && (utf8[n] & 0xC0) == 0x80) {
            n--;
        }
        putHeader(dst, FrameType.BOOT_FAILED, 2 + n);
        dst.putShort(HEADER_BYTES, (short) n);
        dst.put(HEADER_BYTES + 2, utf8, 0, n);
        return HEADER_BYTES + 2 + n;
    }

    /**
     * Begins a HANDOFF frame: call {@link #putHandoffEntry} for each entry, then {@link #finishHandoff}.
     *
     * @return the offset at which the first entry goes
     */
    public static int beginHandoff() {
        return HEADER_BYTES + 2;
    }

    /**
     * Writes one handoff entry at {@code offset}. The peer address is given already in wire form
     * ({@link WireAddress}), in a prefix of {@code peer}, because the supervisor copies it from the kernel's sockaddr
     * into a reused array once per connection.
     *
     * @return the offset after the entry
     */
    public static int putHandoffEntry(ByteBuffer dst, int offset, long id, long acceptedEpochMicros,
                                      byte[] peer, int peerLength) {
        return putHandoffEntry(dst, offset, id, acceptedEpochMicros, peer, peerLength, false, null, 0);
    }

    /**
     * Writes one handoff entry, resumed (a parked connection, with the bytes its last handler left unread) or not.
     *
     * @return the offset after the entry
     */
    public static int putHandoffEntry(ByteBuffer dst, int offset, long id, long acceptedEpochMicros,
                                      byte[] peer, int peerLength, boolean resumed, byte[] unread, int unreadLength) {
        return putHandoffEntry(dst, offset, id, acceptedEpochMicros, peer, peerLength, resumed, false, unread,
                unreadLength);
    }

    /**
     * Writes one handoff entry with all its flags.
     *
     * @param elsewhere true for a connection revoked from another worker ({@link #FLAG_ELSEWHERE})
     * @return the offset after the entry
     */
    public static int putHandoffEntry(ByteBuffer dst, int offset, long id, long acceptedEpochMicros, byte[] peer,
                                      int peerLength, boolean resumed, boolean elsewhere, byte[] unread,
                                      int unreadLength) {
        dst.putLong(offset, id);
        dst.putLong(offset + 8, acceptedEpochMicros);
        dst.put(offset + 16, peer, 0, peerLength);
        int at = offset + 16 + peerLength;
        dst.put(at++, (byte) ((resumed ? FLAG_RESUMED : 0) | (elsewhere ? FLAG_ELSEWHERE : 0)));
        if (resumed) {
            if (unreadLength < 0 || unreadLength > MAX_UNREAD_BYTES) {
                throw new IllegalArgumentException("unread length " + unreadLength + " outside 0.." + MAX_UNREAD_BYTES);
            }
            dst.putShort(at, (short) unreadLength);
            at += 2;
            if (unreadLength > 0) {
                dst.put(at, unread, 0, unreadLength);
                at += unreadLength;
            }
        }
        return at;
    }

    /**
     * Encodes a PARKED frame at offset 0: the connection as its HANDOFF entry described it (id, accepted-at, the peer
     * address in wire form exactly as received), then the bytes of {@code unread} from its position to its limit
     * (not consumed).
     *
     * @return the frame's length
     * @throws IllegalArgumentException if more than {@link #MAX_UNREAD_BYTES} remain in {@code unread}
     */
    public static int encodeParked(ByteBuffer dst, long id, long acceptedEpochMicros, byte[] peer, ByteBuffer unread) {
        int n = unread == null ? 0 : unread.remaining();
        if (n > MAX_UNREAD_BYTES) {
            throw new IllegalArgumentException("unread bytes " + n + " exceed the maximum of " + MAX_UNREAD_BYTES);
        }
        int at = HEADER_BYTES;
        dst.putLong(at, id);
        dst.putLong(at + 8, acceptedEpochMicros);
        dst.put(at + 16, peer, 0, peer.length);
        at += 16 + peer.length;
        dst.putShort(at, (short) n);
        at += 2;
        for (int i = 0; i < n; i++) {
            dst.put(at + i, unread.get(unread.position() + i));
        }
        putHeader(dst, FrameType.PARKED, at + n - HEADER_BYTES);
        return at + n;
    }

    /**
     * Writes the header and count of a HANDOFF frame whose entries end at {@code end}.
     *
     * @return the frame's length
     */
    public static int finishHandoff(ByteBuffer dst, int count, int end) {
        if (count < 1 || count > MAX_FDS_PER_FRAME) {
            throw new IllegalArgumentException("handoff count " + count + " outside 1.." + MAX_FDS_PER_FRAME);
        }
        putHeader(dst, FrameType.HANDOFF, end - HEADER_BYTES);
        dst.putShort(HEADER_BYTES, (short) count);
        return end;
    }

    // ------------------------------------------------------------------------------------------------ decoding

    /**
     * Validates the header of a received message of {@code length} bytes at offset 0 of {@code src}.
     *
     * @param expectFromWorker true on the supervisor's side (it accepts only w->s frames), false on the worker's
     * @return the frame's type; its body is the {@code length - HEADER_BYTES} bytes after the header
     * @throws FrameException if the message is not a valid frame header for this direction
     */
    public static FrameType readHeader(ByteBuffer src, int length, boolean expectFromWorker) throws FrameException {
        if (length < HEADER_BYTES) {
            throw new FrameException("frame of " + length + " bytes is shorter than the " + HEADER_BYTES + "-byte header");
        }
        if (length > MAX_FRAME_BYTES) {
            throw new FrameException("frame of " + length + " bytes exceeds the maximum of " + MAX_FRAME_BYTES);
        }
        int magic = src.getShort(0) & 0xFFFF;
        if (magic != MAGIC) {
            throw new FrameException(String.format("bad magic 0x%04x (expected 0x%04x, 'PF'): the peer does not speak "
                    + "the prefork wire protocol", magic, MAGIC));
        }
        int version = src.get(2) & 0xFF;
        if (version != VERSION) {
            throw new FrameException("wire version " + version + " is not supported (this side speaks " + VERSION
                    + "): run the supervisor and workers from the same Prefork release");
        }
        int code = src.get(3) & 0xFF;
        FrameType type = FrameType.ofCode(code);
        if (type == null) {
            throw new FrameException(String.format("unknown frame type 0x%02x", code));
        }
        if (type.fromWorker != expectFromWorker) {
            throw new FrameException("frame type " + type + " sent in the wrong direction");
        }
        long body = src.getInt(4) & 0xFFFFFFFFL;
        if (body != length - HEADER_BYTES) {
            throw new FrameException("header says the body is " + body + " bytes but the message carries "
                    + (length - HEADER_BYTES) + " (oversized or truncated frame)");
        }
        return type;
    }

    /**
     * Reads an id-list body (after {@link #readHeader}) and passes each id to {@code sink}.
     *
     * @return the number of ids
     */
    public static int readIds(ByteBuffer src, int length, LongConsumer sink) throws FrameException {
        int count = readCount(src, length, 1, MAX_IDS_PER_FRAME, "id list");
        if (length != HEADER_BYTES + 2 + 8 * count) {
            throw new FrameException("id list of " + count + " ids must be " + (HEADER_BYTES + 2 + 8 * count)
                    + " bytes, not " + length);
        }
        for (int i = 0; i < count; i++) {
            sink.accept(src.getLong(HEADER_BYTES + 2 + 8 * i));
        }
        return count;
    }

    public static void readWake(int length) throws FrameException {
        expectLength(length, HEADER_BYTES, "WAKE");
    }

    public static long readReady(ByteBuffer src, int length) throws FrameException {
        expectLength(length, HEADER_BYTES + 8, "READY");
        return src.getLong(HEADER_BYTES);
    }

    /** @return the count, 1 to 2^32 - 1 */
    public static long readProxyRefused(ByteBuffer src, int length) throws FrameException {
        expectLength(length, HEADER_BYTES + 4, "PROXY_REFUSED");
        long count = src.getInt(HEADER_BYTES) & 0xFFFFFFFFL;
        if (count == 0) {
            throw new FrameException("PROXY_REFUSED frame with a count of 0 (a worker sends one only for 1 or more)");
        }
        return count;
    }

    public static String readBootFailed(ByteBuffer src, int length) throws FrameException {
        if (length < HEADER_BYTES + 2) {
            throw new FrameException("BOOT_FAILED frame of " + length + " bytes has no message length");
        }
        int n = src.getShort(HEADER_BYTES) & 0xFFFF;
        if (n > MAX_MESSAGE_BYTES || length != HEADER_BYTES + 2 + n) {
            throw new FrameException("BOOT_FAILED message length " + n + " does not match the frame length " + length);
        }
        byte[] utf8 = new byte[n];
        src.get(HEADER_BYTES + 2, utf8);
        return new String(utf8, StandardCharsets.UTF_8);
    }

    /**
     * Validates a PARKED frame (after {@link #readHeader}): its length, address and unread length. Then read it with
     * {@link #parkedId}, {@link #parkedAcceptedAt}, {@link #parkedPeer} and {@link #parkedUnread}.
     */
    public static void checkParked(ByteBuffer src, int length) throws FrameException {
        if (length < HEADER_BYTES + 16) {
            throw new FrameException("PARKED frame of " + length + " bytes is shorter than its id and accept time");
        }
        int at = WireAddress.skip(src, HEADER_BYTES + 16, length);
        if (at + 2 > length) {
            throw new FrameException("PARKED frame of " + length + " bytes ends before its unread length");
        }
        int n = src.getShort(at) & 0xFFFF;
        if (n > MAX_UNREAD_BYTES) {
            throw new FrameException("PARKED unread length " + n + " exceeds the maximum of " + MAX_UNREAD_BYTES);
        }
        if (length != at + 2 + n) {
            throw new FrameException("PARKED frame with " + n + " unread bytes must be " + (at + 2 + n) + " bytes, not "
                    + length);
        }
    }

    public static long parkedId(ByteBuffer src) {
        return src.getLong(HEADER_BYTES);
    }

    public static long parkedAcceptedAt(ByteBuffer src) {
        return src.getLong(HEADER_BYTES + 8);
    }

    /** Copies a checked PARKED frame's peer address (wire form) into {@code dst}; returns its length. */
    public static int parkedPeer(ByteBuffer src, byte[] dst) {
        int n = WireAddress.length(src.get(HEADER_BYTES + 16));
        src.get(HEADER_BYTES + 16, dst, 0, n);
        return n;
    }

    /** The number of unread bytes in a checked PARKED frame. */
    public static int parkedUnreadLength(ByteBuffer src) {
        int at = HEADER_BYTES + 16 + WireAddress.length(src.get(HEADER_BYTES + 16));
        return src.getShort(at) & 0xFFFF;
    }

    /** Copies a checked PARKED frame's unread bytes into {@code dst}, which has room for them. */
    public static void parkedUnread(ByteBuffer src, byte[] dst) {
        int at = HEADER_BYTES + 16 + WireAddress.length(src.get(HEADER_BYTES + 16));
        src.get(at + 2, dst, 0, src.getShort(at) & 0xFFFF);
    }

    /** The entry count of a HANDOFF frame (after {@link #readHeader}). */
    public static int readHandoffCount(ByteBuffer src, int length) throws FrameException {
        return readCount(src, length, 1, MAX_FDS_PER_FRAME, "HANDOFF");
    }

    private static int readCount(ByteBuffer src, int length, int min, int max, String what) throws FrameException {
        if (length < HEADER_BYTES + 2) {
            throw new FrameException(what + " frame of " + length + " bytes has no count");
        }
        int count = src.getShort(HEADER_BYTES) & 0xFFFF;
        if (count < min || count > max) {
            throw new FrameException(what + " count " + count + " outside " + min + ".." + max);
        }
        return count;
    }

    private static void expectLength(int length, int expected, String what) throws FrameException {
        if (length != expected) {
            throw new FrameException(what + " frame must be " + expected + " bytes, not " + length);
        }
    }

    /**
     * Reads HANDOFF entries one at a time. Reused across frames by one receiving thread; allocates only the
     * addresses it is asked for.
     */
    public static final class HandoffReader {
        private ByteBuffer src;
        private int offset;
        private int end;
        private long id;
        private long acceptedEpochMicros;
        private int peerOffset;
        private boolean resumed;
        private boolean elsewhere;
        private int unreadOffset;
        private int unreadLength;

        /** Starts reading a HANDOFF frame's entries (after {@link #readHeader} and {@link #readHandoffCount}). */
        public void reset(ByteBuffer src, int length) {
            this.src = src;
            this.offset = HEADER_BYTES + 2;
            this.end = length;
        }

        /** Moves to the next entry, validating it. */
        public void next() throws FrameException {
            if (offset + 16 > end) {
                throw new FrameException("HANDOFF frame ends inside an entry at byte " + offset);
            }
            id = src.getLong(offset);
            acceptedEpochMicros = src.getLong(offset + 8);
            peerOffset = offset + 16;
            offset = WireAddress.skip(src, peerOffset, end);
            if (offset + 1 > end) {
                throw new FrameException("HANDOFF frame ends before the flags of the entry for connection " + id);
            }
            int flags = src.get(offset++) & 0xFF;
            if ((flags & ~(FLAG_RESUMED | FLAG_ELSEWHERE)) != 0) {
                throw new FrameException(String.format("HANDOFF entry for connection %d has unknown flags 0x%02x",
                        id, flags));
            }
            resumed = (flags & FLAG_RESUMED) != 0;
            elsewhere = (flags & FLAG_ELSEWHERE) != 0;
            unreadLength = 0;
            if (resumed) {
                if (offset + 2 > end) {
                    throw new FrameException("HANDOFF frame ends before the unread length of connection " + id);
                }
                unreadLength = src.getShort(offset) & 0xFFFF;
                offset += 2;
                if (unreadLength > MAX_UNREAD_BYTES) {
                    throw new FrameException("HANDOFF entry for connection " + id + " has " + unreadLength
                            + " unread bytes, more than the maximum of " + MAX_UNREAD_BYTES);
                }
                if (offset + unreadLength > end) {
                    throw new FrameException("HANDOFF frame ends inside the unread bytes of connection " + id);
                }
                unreadOffset = offset;
                offset += unreadLength;
            }
        }

        /** True if another worker may still hold a copy of this entry's descriptor ({@link #FLAG_ELSEWHERE}). */
        public boolean elsewhere() {
            return elsewhere;
        }

        /** True if this entry is a parked connection resumed (not a new one). */
        public boolean resumed() {
            return resumed;
        }

        /** A copy of the entry's peer address in wire form, exactly as received. */
        public byte[] peerWire() {
            byte[] b = new byte[WireAddress.length(src.get(peerOffset))];
            src.get(peerOffset, b);
            return b;
        }

        /** A copy of the entry's unread bytes (empty unless resumed). */
        public byte[] unread() {
            byte[] b = new byte[unreadLength];
            src.get(unreadOffset, b);
            return b;
        }

        /** After the last {@link #next()}: checks that no bytes trail the entries. */
        public void finish() throws FrameException {
            if (offset != end) {
                throw new FrameException("HANDOFF frame has " + (end - offset) + " bytes after its last entry");
            }
        }

        public long id() {
            return id;
        }

        public long acceptedEpochMicros() {
            return acceptedEpochMicros;
        }

        /** True if the peer address is IPv6 (the socket is AF_INET6). */
        public boolean peerIsIpv6() {
            return WireAddress.isIpv6(src, peerOffset);
        }

        public InetSocketAddress peerAddress() {
            return WireAddress.decode(src, peerOffset);
        }
    }
}
