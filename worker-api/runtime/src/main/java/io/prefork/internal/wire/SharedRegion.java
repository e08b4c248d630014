package io.prefork.internal.wire;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The memory one worker shares with the supervisor, next to its channel: what used to be a message per event is a
 * counter here, written by one side and read by the other when it wakes anyway. The supervisor creates it (a memfd,
 * created close-on-exec in its native boundary), maps it and passes its descriptor at bootstrap with the channel
 * (SCM_RIGHTS); the worker maps it the same way and closes the descriptor. A mapping outlives its descriptor, so
 * after that neither side holds one: the region dies with the last mapping.
 *
 * <p>Both sides map it through {@code /proc/self/fd/N} with a {@link FileChannel}: pure Java, no {@code mmap}
 * binding. Every field is a 64-bit word at an 8-aligned offset of a page-aligned mapping, read and written through
 * a {@link MethodHandles#byteBufferViewVarHandle} in native order, which gives volatile and compare-and-set access
 * across processes (the CPU's atomics work on the physical page, whoever maps it). No {@code sun.misc.Unsafe} and no
 * Agrona: Agrona's {@code AtomicBuffer} would give the same few operations through Unsafe, which JDK 24 and later
 * warn about, for a handful of fields that a VarHandle reaches directly.
 *
 * <pre>
 * Layout (all words u64, native byte order; the words each side writes start cache lines of their own, so that one
 * side's writes do not evict the other's):
 *
 *   offset   writer       field
 *   0        supervisor   magic and version: 0x5046_5245_4749_4F00 | VERSION ("PFREGIO" + version byte), written
 *                         once before the descriptor is passed; the worker refuses any other value
 *   8        supervisor   size of the region in bytes: SLOTS_OFFSET + 8 * slots; the worker refuses a mismatch
 *   16       supervisor   slots: R, the claim ring's length, a power of two from 64 to 2^20
 *   64       worker       heartbeat: incremented about once a second by the worker's heartbeat thread
 *   72       worker       done: connections the worker finished (closed or parked), since it started
 *   128      both         wake: 1 = the supervisor is about to sleep and wants a WAKE frame at the worker's next
 *                         claim or done; the worker that sees 1 sets it to 0 (compare-and-set) and sends one WAKE
 *   192      both         claim ring: R slots of 8 bytes; entry k of the channel (the k-th HANDOFF entry sent to
 *                         this worker, from 0, counted by both sides; SEQPACKET keeps their order) uses slot k % R:
 *
 *            slot = id << 2 | state     (id: the connection's id, below 2^62; state in the 2 low bits)
 *              0 OFFERED    the supervisor, before the sendmsg that carries entry k
 *              1 CLAIMED    the worker, by compare-and-set from OFFERED, before its handler reads a byte: the
 *                           supervisor then closes its copy of the descriptor
 *              2 REVOKED    the supervisor, by compare-and-set from OFFERED, to serve the connection elsewhere:
 *                           the worker closes its descriptor unread and reports nothing
 *              3 DECLINED   the worker, by compare-and-set from OFFERED, before it reports the entry REJECTED or
 *                           LOST in a frame
 *
 *            The supervisor never reuses slot k % R while entry k is unresolved (offered, or declined and not yet
 *            reported), so the span of entries sent and not yet resolved is at most R.
 * </pre>
 *
 * <b>No lost wake-up.</b> Before it sleeps the supervisor stores wake = 1, then reads done and the slots again; the
 * worker stores its claim or done, then reads wake. Volatile accesses are sequentially consistent, so either the
 * supervisor's reads see the worker's store (and it does not sleep), or the worker's read sees wake = 1 (and it
 * sends WAKE).
 *
 * </pre>
 *
 * The supervisor trusts nothing it reads here: the worker may be buggy or compromised, so every value read is
 * checked against what it can be (a counter going backwards or past what was claimed, a slot naming another
 * connection or in a state only the supervisor writes), like a frame.
 */
public final class SharedRegion {
    /** Bumped with every change of the layout above. */
    public static final int VERSION = 2;
    public static final long MAGIC = 0x5046_5245_4749_4F00L;
    public static final int MAGIC_OFFSET = 0;
    public static final int SIZE_OFFSET = 8;
    public static final int SLOT_COUNT_OFFSET = 16;
    public static final int HEARTBEAT_OFFSET = 64;
    public static final int DONE_OFFSET = 72;
    public static final int WAKE_OFFSET = 128;
    public static final int SLOTS_OFFSET = 192;
    public static final int MIN_SLOTS = 64;
    public static final int MAX_SLOTS = 1 << 20;

    public static final int OFFERED = 0;
    public static final int CLAIMED = 1;
    public static final int REVOKED = 2;
    public static final int DECLINED = 3;
    private static final long STATE_MASK = 3;
    /** Ids as they fit a slot beside the state. */
    public static final long ID_MASK = (1L << 62) - 1;

    private static final VarHandle WORD = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());

    private final MappedByteBuffer buffer;
    private final int slots;
    private final int slotMask;

    private SharedRegion(MappedByteBuffer buffer, int slots) {
        this.buffer = buffer;
        this.slots = slots;
        this.slotMask = slots - 1;
    }

    /** The region's size for a ring of {@code slots}. */
    public static int bytes(int slots) {
        return SLOTS_OFFSET + 8 * slots;
    }

    /** The ring length for a worker sent at most {@code limit} connections at once: room to spare, a power of 2. */
    public static int slotsFor(int limit) {
        long want = Math.max(MIN_SLOTS, 4L * limit);
        return (int) Math.min(MAX_SLOTS, Long.highestOneBit(want - 1) << 1);
    }

    /**
     * The supervisor's side: sizes the (empty) file behind {@code fd}, maps it and writes the header. The caller
     * keeps {@code fd} to pass it on.
     */
    public static SharedRegion create(int fd, int slots) throws IOException {
        if (slots < MIN_SLOTS || slots > MAX_SLOTS || Integer.bitCount(slots) != 1) {
            throw new IllegalArgumentException("claim ring of " + slots + " slots: must be a power of 2 from "
                    + MIN_SLOTS + " to " + MAX_SLOTS);
        }
        MappedByteBuffer b;
        try (FileChannel ch = open(fd)) {
            if (ch.size() != 0) {
                throw new IOException("the region's file (descriptor " + fd + ") is " + ch.size() + " bytes, not empty");
            }
            // map() extends the file to the size mapped (ftruncate): the pages read as zeros until written.
            b = ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes(slots));
        }
        SharedRegion r = new SharedRegion(b, slots);
        WORD.setVolatile(b, SLOT_COUNT_OFFSET, (long) slots);
        WORD.setVolatile(b, SIZE_OFFSET, (long) bytes(slots));
        WORD.setVolatile(b, MAGIC_OFFSET, MAGIC | VERSION);
        return r;
    }

    /**
     * The worker's side: maps the region the supervisor passed and checks its header. The caller closes {@code fd}
     * afterwards (the mapping stays).
     *
     * @throws IOException naming what does not match, if the supervisor speaks another version of this layout
     */
    public static SharedRegion attach(int fd) throws IOException {
        MappedByteBuffer b;
        long fileSize;
        try (FileChannel ch = open(fd)) {
            fileSize = ch.size();
            if (fileSize < SLOTS_OFFSET || fileSize > bytes(MAX_SLOTS)) {
                throw new IOException("the shared region from the supervisor is " + fileSize + " bytes, outside the "
                        + SLOTS_OFFSET + ".." + bytes(MAX_SLOTS) + " this worker's layout (version " + VERSION
                        + ") allows: run the supervisor and workers from the same Prefork release");
            }
            b = ch.map(FileChannel.MapMode.READ_WRITE, 0, fileSize);
        }
        long magic = (long) WORD.getVolatile(b, MAGIC_OFFSET);
        long size = (long) WORD.getVolatile(b, SIZE_OFFSET);
        long slots = (long) WORD.getVolatile(b, SLOT_COUNT_OFFSET);
        if (magic != (MAGIC | VERSION)) {
            throw new IOException(String.format("the shared region from the supervisor has header 0x%016x; this "
                    + "worker expects 0x%016x (layout version %d): run the supervisor and workers from the same Prefork "
                    + "release", magic, MAGIC | VERSION, VERSION));
        }
        if (slots < MIN_SLOTS || slots > MAX_SLOTS || Long.bitCount(slots) != 1 || size != bytes((int) slots)
                || size != fileSize) {
            throw new IOException("the shared region from the supervisor says " + slots + " slots and " + size
                    + " bytes, in a file of " + fileSize + " bytes: not a consistent layout version " + VERSION);
        }
        return new SharedRegion(b, (int) slots);
    }

    private static FileChannel open(int fd) throws IOException {
        if (fd < 0) {
            throw new IOException("no shared region descriptor (got " + fd + ")");
        }
        // Opening /proc/self/fd/N opens the same file anew (for a memfd: the same memory), not a copy.
        return FileChannel.open(Path.of("/proc/self/fd/" + fd), StandardOpenOption.READ, StandardOpenOption.WRITE);
    }

    public int slots() {
        return slots;
    }

    private int slotOffset(long entry) {
        return SLOTS_OFFSET + 8 * (int) (entry & slotMask);
    }

    /** A slot's value for connection {@code id} in {@code state}. */
    public static long slotValue(long id, int state) {
        return (id & ID_MASK) << 2 | state;
    }

    public static int stateOf(long slotValue) {
        return (int) (slotValue & STATE_MASK);
    }

    public static long idOf(long slotValue) {
        return slotValue >>> 2;
    }

    /** Names a slot value for error messages. */
    public static String describe(long slotValue) {
        String[] names = {"OFFERED", "CLAIMED", "REVOKED", "DECLINED"};
        return names[stateOf(slotValue)] + " for connection " + idOf(slotValue);
    }

    // ------------------------------------------------------------------------------------------------ worker side

    /** One more heartbeat (heartbeat thread only: the one writer of its word, so a plain add would do as well). */
    public void beat() {
        WORD.getAndAdd(buffer, HEARTBEAT_OFFSET, 1L);
    }

    /** One more connection finished (any handler thread). */
    public void doneOne() {
        WORD.getAndAdd(buffer, DONE_OFFSET, 1L);
    }

    /**
     * Moves entry {@code entry}'s slot from OFFERED to {@code state} (CLAIMED or DECLINED) for connection {@code id}.
     *
     * @return the slot's value before: {@code slotValue(id, OFFERED)} if the move happened; otherwise what stopped
     *     it ({@code slotValue(id, REVOKED)} if the supervisor took the connection back; anything else breaks the
     *     protocol)
     */
    public long settle(long entry, long id, int state) {
        return (long) WORD.compareAndExchange(buffer, slotOffset(entry), slotValue(id, OFFERED), slotValue(id, state));
    }

    /**
     * After a claim or a done: true if the supervisor asked to be woken and this call took the request (so exactly
     * one thread sends WAKE for it). A plain read first: the common case, no request, writes nothing.
     */
    public boolean takeWakeRequest() {
        return (long) WORD.getVolatile(buffer, WAKE_OFFSET) == 1
                && WORD.compareAndSet(buffer, WAKE_OFFSET, 1L, 0L);
    }

    // ------------------------------------------------------------------------------------------------ supervisor side

    /** Offers entry {@code entry} (connection {@code id}), before the sendmsg that carries it. */
    public void offer(long entry, long id) {
        WORD.setVolatile(buffer, slotOffset(entry), slotValue(id, OFFERED));
    }

    /** Tries to take back an offered entry: true if revoked (the worker will close it unread), false if it moved. */
    public boolean revoke(long entry, long id) {
        return WORD.compareAndSet(buffer, slotOffset(entry), slotValue(id, OFFERED), slotValue(id, REVOKED));
    }

    /** Asks for a WAKE at the worker's next claim or done (1), or withdraws the request (0); writes only a change. */
    public void wakeRequest(boolean want) {
        long v = want ? 1L : 0L;
        if ((long) WORD.getVolatile(buffer, WAKE_OFFSET) != v) {
            WORD.setVolatile(buffer, WAKE_OFFSET, v);
        }
    }

    public boolean wakeRequested() {
        return (long) WORD.getVolatile(buffer, WAKE_OFFSET) == 1;
    }

    // ------------------------------------------------------------------------------------------------ either side

    /** The heartbeat counter as last written. */
    public long heartbeat() {
        return (long) WORD.getVolatile(buffer, HEARTBEAT_OFFSET);
    }

    /** The done counter as last written. */
    public long done() {
        return (long) WORD.getVolatile(buffer, DONE_OFFSET);
    }

    /** Entry {@code entry}'s slot. */
    public long slot(long entry) {
        return (long) WORD.getVolatile(buffer, slotOffset(entry));
    }
}
