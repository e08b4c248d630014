package io.prefork.supervisor.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
        SharedRegion.create(fd, SharedRegion.MIN_SLOTS);
        try (FileChannel ch = FileChannel.open(Path.of("/proc/self/fd/" + fd), StandardOpenOption.READ)) {
            assertEquals(SharedRegion.bytes(SharedRegion.MIN_SLOTS), ch.size());
        }
        MappedByteBuffer b = raw(fd, SharedRegion.bytes(SharedRegion.MIN_SLOTS));
        assertEquals(0x5046_5245_4749_4F00L | SharedRegion.VERSION, b.getLong(0), "magic 'PFREGIO' + version");
        assertEquals(SharedRegion.bytes(SharedRegion.MIN_SLOTS), b.getLong(8));
        assertEquals(SharedRegion.MIN_SLOTS, b.getLong(16));
        assertEquals(192 + 8 * 64, SharedRegion.bytes(64));
        assertEquals(0, b.getLong(SharedRegion.HEARTBEAT_OFFSET));
        assertEquals(0, SharedRegion.HEARTBEAT_OFFSET % 64, "the worker's words start a cache line of their own");
        assertEquals(0, SharedRegion.WAKE_OFFSET % 64, "so does the wake word");
        assertEquals(0, SharedRegion.SLOTS_OFFSET % 64, "and the ring");
        assertThrows(IllegalArgumentException.class, () -> SharedRegion.create(memfd(), 100), "not a power of 2");
        assertThrows(IllegalArgumentException.class, () -> SharedRegion.create(memfd(), 32), "below the minimum");
        assertThrows(IOException.class, () -> SharedRegion.create(fd, SharedRegion.MIN_SLOTS), "a region is created once, on an empty file");
    }

    @Test
    void theWorkersMappingIsTheSameMemory() throws Exception {
        int fd = memfd();
        SharedRegion supervisor = SharedRegion.create(fd, SharedRegion.MIN_SLOTS);
        SharedRegion worker = SharedRegion.attach(fd);
        worker.beat();
        worker.beat();
        assertEquals(2, supervisor.heartbeat());
        assertEquals(2, raw(fd, SharedRegion.bytes(SharedRegion.MIN_SLOTS)).getLong(SharedRegion.HEARTBEAT_OFFSET));
    }

    @Test
    void theWorkerRefusesAnotherVersionOrSize() throws Exception {
        int fd = memfd();
        SharedRegion.create(fd, SharedRegion.MIN_SLOTS);
        MappedByteBuffer b = raw(fd, SharedRegion.bytes(SharedRegion.MIN_SLOTS));
        b.putLong(0, SharedRegion.MAGIC | (SharedRegion.VERSION + 1));
        IOException e = assertThrows(IOException.class, () -> SharedRegion.attach(fd));
        assertTrue(e.getMessage().contains("same Prefork release") && e.getMessage().contains(String.format("0x%016x",
                SharedRegion.MAGIC | (SharedRegion.VERSION + 1))), e.getMessage());

        int bigger = memfd();
        SharedRegion.create(bigger, SharedRegion.MIN_SLOTS);
        raw(bigger, 2 * SharedRegion.bytes(SharedRegion.MIN_SLOTS)); // the file grows under the header's nose
        e = assertThrows(IOException.class, () -> SharedRegion.attach(bigger));
        assertTrue(e.getMessage().contains("says 64 slots and " + SharedRegion.bytes(SharedRegion.MIN_SLOTS)
                + " bytes, in a file of " + 2 * SharedRegion.bytes(SharedRegion.MIN_SLOTS)), e.getMessage());

        e = assertThrows(IOException.class, () -> SharedRegion.attach(-1));
        assertTrue(e.getMessage().contains("no shared region descriptor"), e.getMessage());
    }

    @Test
    void slotsSettleOnlyFromOfferedAndOnlyForTheirConnection() throws Exception {
        int fd = memfd();
        SharedRegion supervisor = SharedRegion.create(fd, SharedRegion.MIN_SLOTS);
        SharedRegion worker = SharedRegion.attach(fd);
        long entry = SharedRegion.MIN_SLOTS + 5; // wraps to slot 5
        supervisor.offer(entry, 42);
        assertEquals(42L << 2, raw(fd, SharedRegion.bytes(64)).getLong(SharedRegion.SLOTS_OFFSET + 8 * 5),
                "id << 2 | OFFERED, in slot entry % R");
        assertEquals(SharedRegion.slotValue(42, SharedRegion.OFFERED), worker.settle(entry, 41, SharedRegion.CLAIMED),
                "another connection's claim fails and shows what is there");
        assertEquals(SharedRegion.slotValue(42, SharedRegion.OFFERED), worker.settle(entry, 42, SharedRegion.CLAIMED));
        assertEquals(SharedRegion.slotValue(42, SharedRegion.CLAIMED), supervisor.slot(entry));
        assertFalse(supervisor.revoke(entry, 42), "a claimed entry cannot be revoked");
        assertEquals("CLAIMED for connection 42", SharedRegion.describe(supervisor.slot(entry)));

        supervisor.offer(entry + 1, 43);
        assertTrue(supervisor.revoke(entry + 1, 43));
        assertEquals(SharedRegion.slotValue(43, SharedRegion.REVOKED), worker.settle(entry + 1, 43,
                SharedRegion.CLAIMED), "the worker learns it was revoked");
    }

    /**
     * The race the ring exists for: a worker claiming and the supervisor revoking the same entries at the same time,
     * from two threads on two mappings. Each entry goes to exactly one side, and each side knows which.
     */
    @Test
    void aClaimAndARevokeRacingForOneEntryHaveExactlyOneWinner() throws Exception {
        int fd = memfd();
        SharedRegion supervisor = SharedRegion.create(fd, SharedRegion.MIN_SLOTS);
        SharedRegion worker = SharedRegion.attach(fd);
        int rounds = 20_000;
        java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(2);
        boolean[] claimed = new boolean[rounds];
        boolean[] revoked = new boolean[rounds];
        Thread w = new Thread(() -> {
            try {
                for (int k = 0; k < rounds; k++) {
                    start.await();
                    claimed[k] = worker.settle(k, 1000 + k, SharedRegion.CLAIMED)
                            == SharedRegion.slotValue(1000 + k, SharedRegion.OFFERED);
                    start.await();
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        w.start();
        int claims = 0;
        for (int k = 0; k < rounds; k++) {
            supervisor.offer(k, 1000 + k);
            start.await(10, TimeUnit.SECONDS);
            revoked[k] = supervisor.revoke(k, 1000 + k);
            start.await(10, TimeUnit.SECONDS);
            assertTrue(claimed[k] ^ revoked[k], "entry " + k + ": exactly one of claim and revoke wins");
            assertEquals(SharedRegion.slotValue(1000 + k, claimed[k] ? SharedRegion.CLAIMED : SharedRegion.REVOKED),
                    supervisor.slot(k));
            claims += claimed[k] ? 1 : 0;
        }
        w.join(10_000);
        // Not asserted, only shown: both sides do win sometimes, or the test would not be racing.
        System.out.println("claim/revoke race: the worker won " + claims + " of " + rounds);
    }

    @Test
    void theWakeRequestIsTakenOnceAndWrittenOnlyOnChange() throws Exception {
        int fd = memfd();
        SharedRegion supervisor = SharedRegion.create(fd, SharedRegion.MIN_SLOTS);
        SharedRegion worker = SharedRegion.attach(fd);
        assertFalse(worker.takeWakeRequest());
        supervisor.wakeRequest(true);
        assertTrue(supervisor.wakeRequested());
        assertTrue(worker.takeWakeRequest());
        assertFalse(worker.takeWakeRequest(), "one WAKE per request");
        assertFalse(supervisor.wakeRequested());
        supervisor.wakeRequest(true);
        supervisor.wakeRequest(false);
        assertFalse(worker.takeWakeRequest(), "withdrawn");
    }

    @Test
    void aHeartbeatIsASignOfLifeAndOneGoingBackwardsAProtocolError() throws Exception {
        int fd = memfd();
        ControlChannel[] pair = ControlChannel.pair();
        try {
            WorkerProcess w = new WorkerProcess(1, 0, "token", pair[0], -1, Long.MAX_VALUE, 0);
            w.region(SharedRegion.create(fd, SharedRegion.MIN_SLOTS), -1);
            SharedRegion worker = SharedRegion.attach(fd);
            assertTrue(w.readHeartbeat(100));
            assertEquals(0, w.lastFrameNanos(), "no beat yet: no sign of life");
            worker.beat();
            assertTrue(w.readHeartbeat(200));
            assertEquals(200, w.lastFrameNanos());
            assertTrue(w.readHeartbeat(300));
            assertEquals(200, w.lastFrameNanos(), "the same count again is no new sign of life");
            raw(fd, SharedRegion.bytes(SharedRegion.MIN_SLOTS)).putLong(SharedRegion.HEARTBEAT_OFFSET, 0);
            assertEquals(false, w.readHeartbeat(400), "the counter went backwards");
        } finally {
            pair[0].close();
            pair[1].close();
        }
    }
}
