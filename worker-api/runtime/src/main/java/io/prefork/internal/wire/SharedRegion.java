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
 * Layout (all words u64, native byte order; one 64-byte cache line per writer, so the two processes never write
 * the same line):
 *
 *   offset  writer       field
 *   0       supervisor   magic and version: 0x5046_5245_4749_4F00 | VERSION ("PFREGIO" + version byte), written
 *                        once before the descriptor is passed; the worker refuses any other value
 *   8       supervisor   size of the region in bytes (BYTES); the worker refuses any other value
 *   64      worker       heartbeat: incremented about once a second by the worker's heartbeat thread; never
 *                        decreases (the supervisor treats a decrease as a protocol error)
 *   128     end (BYTES)
 * </pre>
 *
 * The supervisor trusts nothing it reads here: the worker may be buggy or compromised, so every value read is
 * checked against what it can be, like a frame.
 */
public final class SharedRegion {
    /** Bumped with every change of the layout above. */
    public static final int VERSION = 1;
    public static final long MAGIC = 0x5046_5245_4749_4F00L;
    public static final int MAGIC_OFFSET = 0;
    public static final int SIZE_OFFSET = 8;
    public static final int HEARTBEAT_OFFSET = 64;
    public static final int BYTES = 128;

    private static final VarHandle WORD = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());

    private final MappedByteBuffer buffer;

    private SharedRegion(MappedByteBuffer buffer) {
        this.buffer = buffer;
    }

    /**
     * The supervisor's side: sizes the (empty) file behind {@code fd}, maps it and writes the header. The caller
     * keeps {@code fd} to pass it on.
     */
    public static SharedRegion create(int fd) throws IOException {
        MappedByteBuffer b;
        try (FileChannel ch = open(fd)) {
            if (ch.size() != 0) {
                throw new IOException("the region's file (descriptor " + fd + ") is " + ch.size() + " bytes, not empty");
            }
            // map() extends the file to the size mapped (ftruncate): the pages read as zeros until written.
            b = ch.map(FileChannel.MapMode.READ_WRITE, 0, BYTES);
        }
        SharedRegion r = new SharedRegion(b);
        WORD.setVolatile(b, SIZE_OFFSET, (long) BYTES);
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
        try (FileChannel ch = open(fd)) {
            if (ch.size() != BYTES) {
                throw new IOException("the shared region from the supervisor is " + ch.size() + " bytes, not the "
                        + BYTES + " this worker's layout (version " + VERSION + ") has: run the supervisor and "
                        + "workers from the same Prefork release");
            }
            b = ch.map(FileChannel.MapMode.READ_WRITE, 0, BYTES);
        }
        long magic = (long) WORD.getVolatile(b, MAGIC_OFFSET);
        long size = (long) WORD.getVolatile(b, SIZE_OFFSET);
        if (magic != (MAGIC | VERSION) || size != BYTES) {
            throw new IOException(String.format("the shared region from the supervisor has header 0x%016x, size %d; "
                    + "this worker expects 0x%016x, size %d (layout version %d): run the supervisor and workers from "
                    + "the same Prefork release", magic, size, MAGIC | VERSION, BYTES, VERSION));
        }
        return new SharedRegion(b);
    }

    private static FileChannel open(int fd) throws IOException {
        if (fd < 0) {
            throw new IOException("no shared region descriptor (got " + fd + ")");
        }
        // Opening /proc/self/fd/N opens the same file anew (for a memfd: the same memory), not a copy.
        return FileChannel.open(Path.of("/proc/self/fd/" + fd), StandardOpenOption.READ, StandardOpenOption.WRITE);
    }

    // ------------------------------------------------------------------------------------------------ worker side

    /** One more heartbeat (heartbeat thread only: the one writer of its word, so a plain add would do as well). */
    public void beat() {
        WORD.getAndAdd(buffer, HEARTBEAT_OFFSET, 1L);
    }

    // ------------------------------------------------------------------------------------------------ either side

    /** The heartbeat counter as last written. */
    public long heartbeat() {
        return (long) WORD.getVolatile(buffer, HEARTBEAT_OFFSET);
    }
}
