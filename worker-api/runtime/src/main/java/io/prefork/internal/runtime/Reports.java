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
 * and the reports on entries it will not serve (REJECTED, LOST) are batched. Claims and dones are no
 * messages: they are words in the shared region ({@code SharedRegion}); the one message they may cost is a WAKE,
 * when the supervisor asked for one.
 *
 * <p><b>Batching.</b> {@link #add} collects one run of reports of one type and sends it as one id-list frame when
 * the type changes or on {@link #flush}: a handoff of several connections is answered with one message, and the
 * reports keep the order in which the worker received the connections. The run is guarded by the caller:
 * {@link WorkerRuntime} calls {@code add} and {@code flush} holding its state lock.
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

    Reports(ControlChannel channel) {
        this.channel = channel;
    }

    /** A frame encoded into the send buffer; returns its length. */
    interface Encoder {
        int encode(ByteBuffer dst);
    }

    /**
     * Adds one report to the current run; a report of another type (or a full run) sends the run first. Caller holds
     * the runtime's state lock.
     */
    void add(FrameType type, long id) {
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

    /** Sends WAKE: the supervisor asked to hear of the next claim or done. No lambda: nothing allocated. */
    void sendWake() {
        synchronized (sendLock) {
            if (!channel.isClosed()) {
                transmit(FrameCodec.encodeWake(channel.sendBuffer()));
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

    /** Encodes and sends one frame (READY, BOOT_FAILED, PROXY_REFUSED); returns 0 or the errno of a failed send. */
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
