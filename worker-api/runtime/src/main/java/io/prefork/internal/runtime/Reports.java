package io.prefork.internal.runtime;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.FrameType;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;

/**
 * The worker's sending side of the channel: every frame a worker sends goes through here, serialised by one lock,
 * and the per-connection reports (TAKEN, REJECTED, LOST, RETURNED, DONE) are batched.
 *
 * <p><b>Batching.</b> {@link #add} collects one run of reports of one type and sends it as one id-list frame when
 * the type changes or on {@link #flush}: a handoff of several connections is answered with one message, and the
 * reports keep the order in which the worker received the connections (the supervisor checks it). The run is
 * guarded by the caller: {@link WorkerRuntime} calls {@code add} and {@code flush} holding its state lock.
 *
 * <p><b>DONE_TAKEN.</b> At concurrency 1 with prefetch, the receiving thread {@linkplain #holdDone holds back} the
 * DONE of the connection it just finished; if it then takes a connection that was already waiting, the DONE and the
 * TAKEN go out as one DONE_TAKEN frame, so the supervisor wakes once for both. Only the receiving thread holds a
 * DONE, so only it reads or writes {@link #heldDone}.
 */
final class Reports {
    private static final System.Logger LOG = System.getLogger("io.prefork.worker");

    private final ControlChannel channel;
    private final Object sendLock = new Object();
    /** The one descriptor of a PARKED frame; guarded by {@link #sendLock}. */
    private final int[] parkedFd = new int[1];
    /** The current run of reports of one type (guarded by the caller's state lock). */
    private final long[] ids = new long[FrameCodec.MAX_FDS_PER_FRAME];
    private FrameType runType;
    private int runLength;
    /** The DONE held back for a DONE_TAKEN; -1 if none. Receiving thread only. */
    private long heldDone = -1;

    Reports(ControlChannel channel) {
        this.channel = channel;
    }

    /** A frame encoded into the send buffer; returns its length. */
    interface Encoder {
        int encode(ByteBuffer dst);
    }

    /**
     * Adds one report to the current run; a report of another type (or a full run) sends the run first. A TAKEN
     * while a DONE is held goes out with it at once, as DONE_TAKEN. Caller holds the runtime's state lock.
     */
    void add(FrameType type, long id) {
        if (type == FrameType.TAKEN && heldDone >= 0) {
            flush();
            ids[0] = heldDone;
            ids[1] = id;
            sendIds(FrameType.DONE_TAKEN, ids, 2);
            heldDone = -1;
            return;
        }
        if (runLength > 0 && (type != runType || runLength == ids.length)) {
            flush();
        }
        runType = type;
        ids[runLength++] = id;
    }

    /** Sends the current run, if any. Caller holds the runtime's state lock. */
    void flush() {
        if (runLength > 0) {
            sendIds(runType, ids, runLength);
            runLength = 0;
        }
    }

    /** Holds back a DONE to share a message with the next TAKEN (receiving thread, concurrency 1, prefetch). */
    void holdDone(long id) {
        heldDone = id;
    }

    boolean holdsDone() {
        return heldDone >= 0;
    }

    /** Sends the held DONE on its own: nothing was waiting to be taken with it. Receiving thread only. */
    void flushHeldDone() {
        if (heldDone >= 0) {
            sendId(FrameType.DONE, heldDone);
            heldDone = -1;
        }
    }

    /** Sends a one-id frame at once, outside any run; no lambda, so nothing is allocated per report. */
    void sendId(FrameType type, long id) {
        synchronized (sendLock) {
            if (!channel.isClosed()) {
                transmit(FrameCodec.encodeId(channel.sendBuffer(), type, id));
            }
        }
    }

    private void sendIds(FrameType type, long[] ids, int count) {
        synchronized (sendLock) {
            if (!channel.isClosed()) {
                transmit(FrameCodec.encodeIds(channel.sendBuffer(), type, ids, count));
            }
        }
    }

    /**
     * Sends PARKED: the connection's descriptor and the bytes its handler left unread. The kernel holds the file in
     * flight, so the caller closes its channel afterwards without a FIN reaching the client.
     *
     * @return 0, or the errno of a failed send (then the caller just closes the connection)
     */
    int sendParked(long id, long acceptedEpochMicros, byte[] peer, int fd, ByteBuffer unread) {
        synchronized (sendLock) {
            if (channel.isClosed()) {
                return Native.EPIPE;
            }
            int length = FrameCodec.encodeParked(channel.sendBuffer(), id, acceptedEpochMicros, peer, unread);
            parkedFd[0] = fd;
            try {
                channel.send(length, parkedFd, 1, false);
                return 0;
            } catch (NativeException e) {
                LOG.log(Level.DEBUG, "prefork worker: parking connection " + id + " failed: " + e.getMessage());
                return e.errno();
            }
        }
    }

    /** Encodes and sends one frame (READY, BOOT_FAILED, HEARTBEAT); returns 0 or the errno of a failed send. */
    int send(Encoder encoder) {
        synchronized (sendLock) {
            if (channel.isClosed()) {
                return Native.EPIPE;
            }
            return transmit(encoder.encode(channel.sendBuffer()));
        }
    }

    /**
     * Sends the first {@code length} bytes of the send buffer; caller holds {@link #sendLock}.
     *
     * @return 0, or the errno of a failed send (the supervisor is gone; the receiving thread will see it too)
     */
    private int transmit(int length) {
        try {
            channel.send(length, null, 0, false);
            return 0;
        } catch (NativeException e) {
            LOG.log(Level.DEBUG, "prefork worker: send to supervisor failed: " + e.getMessage());
            return e.errno();
        }
    }
}
