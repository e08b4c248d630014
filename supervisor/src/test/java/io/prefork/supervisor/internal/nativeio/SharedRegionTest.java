package io.prefork.supervisor.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.TestFds;
import io.prefork.internal.wire.SharedRegion;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The shared region on a real memfd: its layout read back through an independent mapping (plain ByteBuffer reads
 * in native order at the documented offsets), a second mapping seeing the first one's writes, and the worker's
 * refusal of a header or size it does not know.
 */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class SharedRegionTest {
    private final List<Integer> fds = new ArrayList<>();

    @AfterEach
    void closeFds() {
        for (int fd : fds) {
            Native.closeQuietly(fd);
        }
    }

    private int memfd() throws Exception {
        int fd = Memfd.create("region-test");
        fds.add(fd);
        return fd;
    }

    /** A plain mapping of the same memory, as a third party sees it. */
    private static MappedByteBuffer raw(int fd, int bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(Path.of("/proc/self/fd/" + fd), StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes);
            b.order(ByteOrder.nativeOrder());
            return b;
        }
    }

    @Test
    void memfdIsCloseOnExecAndNamed() throws Exception {
        int fd = memfd();
        assertTrue(Native.isCloseOnExec(fd));
        assertTrue(TestFds.target(fd).startsWith("/memfd:region-test"), TestFds.target(fd));
    }

    @Test
    void createSizesTheFileAndWritesTheHeaderAsDiagrammed() throws Exception {
        int fd = memfd();
        SharedRegion.create(fd);
        try (FileChannel ch = FileChannel.open(Path.of("/proc/self/fd/" + fd), StandardOpenOption.READ)) {
            assertEquals(SharedRegion.BYTES, ch.size());
        }
        MappedByteBuffer b = raw(fd, SharedRegion.BYTES);
        assertEquals(0x5046_5245_4749_4F00L | SharedRegion.VERSION, b.getLong(0), "magic 'PFREGIO' + version");
        assertEquals(SharedRegion.BYTES, b.getLong(8));
        assertEquals(0, b.getLong(SharedRegion.HEARTBEAT_OFFSET));
        assertEquals(0, SharedRegion.HEARTBEAT_OFFSET % 64, "the worker's words start a cache line of their own");
        assertThrows(IOException.class, () -> SharedRegion.create(fd), "a region is created once, on an empty file");
    }

    @Test
    void theWorkersMappingIsTheSameMemory() throws Exception {
        int fd = memfd();
        SharedRegion supervisor = SharedRegion.create(fd);
        SharedRegion worker = SharedRegion.attach(fd);
        worker.beat();
        worker.beat();
        assertEquals(2, supervisor.heartbeat());
        assertEquals(2, raw(fd, SharedRegion.BYTES).getLong(SharedRegion.HEARTBEAT_OFFSET));
    }

    @Test
    void theWorkerRefusesAnotherVersionOrSize() throws Exception {
        int fd = memfd();
        SharedRegion.create(fd);
        MappedByteBuffer b = raw(fd, SharedRegion.BYTES);
        b.putLong(0, SharedRegion.MAGIC | (SharedRegion.VERSION + 1));
        IOException e = assertThrows(IOException.class, () -> SharedRegion.attach(fd));
        assertTrue(e.getMessage().contains("same Prefork release") && e.getMessage().contains(String.format("0x%016x",
                SharedRegion.MAGIC | (SharedRegion.VERSION + 1))), e.getMessage());

        int bigger = memfd();
        raw(bigger, 2 * SharedRegion.BYTES);
        e = assertThrows(IOException.class, () -> SharedRegion.attach(bigger));
        assertTrue(e.getMessage().contains((2 * SharedRegion.BYTES) + " bytes, not the " + SharedRegion.BYTES),
                e.getMessage());

        e = assertThrows(IOException.class, () -> SharedRegion.attach(-1));
        assertTrue(e.getMessage().contains("no shared region descriptor"), e.getMessage());
    }

    @Test
    void aHeartbeatIsASignOfLifeAndOneGoingBackwardsAProtocolError() throws Exception {
        int fd = memfd();
        ControlChannel[] pair = ControlChannel.pair();
        try {
            WorkerProcess w = new WorkerProcess(1, 0, "token", pair[0], -1, Long.MAX_VALUE, 0);
            w.region(SharedRegion.create(fd), -1);
            SharedRegion worker = SharedRegion.attach(fd);
            assertTrue(w.readHeartbeat(100));
            assertEquals(0, w.lastFrameNanos(), "no beat yet: no sign of life");
            worker.beat();
            assertTrue(w.readHeartbeat(200));
            assertEquals(200, w.lastFrameNanos());
            assertTrue(w.readHeartbeat(300));
            assertEquals(200, w.lastFrameNanos(), "the same count again is no new sign of life");
            raw(fd, SharedRegion.BYTES).putLong(SharedRegion.HEARTBEAT_OFFSET, 0);
            assertEquals(false, w.readHeartbeat(400), "the counter went backwards");
        } finally {
            pair[0].close();
            pair[1].close();
        }
    }
}
