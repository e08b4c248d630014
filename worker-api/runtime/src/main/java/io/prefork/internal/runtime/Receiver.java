package io.prefork.internal.runtime;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.nativeio.Syscalls;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.FrameException;
import io.prefork.internal.wire.FrameType;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * The worker's receiving side: recvmsg of HANDOFF frames, the descriptor sentinel around each receive, and the
 * wrapping of every descriptor into a {@link SocketChannel}, queued in {@link WorkerRuntime}'s waiting list.
 *
 * <p>Its {@link #run() loop} runs on the runtime's receiving thread and, at concurrency 1, also serves there (no
 * thread handoff per connection). It is the only thread that receives, so it alone owns the channel's receive
 * buffers and the reserved descriptor.
 */
final class Receiver {
    private static final System.Logger LOG = System.getLogger("io.prefork.worker");

    /** How one receive ended. */
    enum Received {
        /** A HANDOFF frame arrived; its entries are queued. */
        FRAME,
        /** The supervisor closed the channel or died. */
        END_OF_STREAM,
        /** A frame that is not valid, or a failed receive: the worker must exit. */
        PROTOCOL_ERROR
    }

    private final ControlChannel channel;
    private final ChannelWrapper wrapper;
    private final WorkerRuntime runtime;
    /** The descriptor slot kept free for the next receive (see {@link #receiveOnce}). */
    private int reserve = -1;
    /** Reused for every frame. */
    private final FrameCodec.HandoffReader reader = new FrameCodec.HandoffReader();
    /** Entries received over the channel's life: the next one's number (its claim slot). */
    private long entries;
    /** The receiving thread's connections to start, from pump. */
    private final WorkerConnection[] started = new WorkerConnection[FrameCodec.MAX_FDS_PER_FRAME];

    Receiver(ControlChannel channel, ChannelWrapper wrapper, WorkerRuntime runtime) {
        this.channel = channel;
        this.wrapper = wrapper;
        this.runtime = runtime;
    }

    /**
     * Receives, and at concurrency 1 serves, until end-of-stream or a protocol error.
     *
     * @return why the worker must exit
     */
    ExitReason run() {
        boolean inline = runtime.inline();
        reserve = reserveOrWait();
        while (true) {
            if (inline && runtime.pump(1, started) == 1) {
                // Concurrency 1: serve on this thread, saving a thread handoff (a wakeup and a context switch) per
                // connection. The heartbeat thread notices a dead supervisor meanwhile; a connection sent ahead
                // that waits behind this one is the supervisor's to revoke and serve elsewhere.
                WorkerConnection c = started[0];
                started[0] = null;
                c.run();
                continue;
            }
            Received result = receiveOnce();
            if (result != Received.FRAME) {
                return exitFor(result);
            }
            if (!inline) {
                runtime.startOnPool(started, runtime.pump(runtime.concurrency(), started));
            }
        }
    }

    private static ExitReason exitFor(Received r) {
        return r == Received.END_OF_STREAM ? ExitReason.CHANNEL_CLOSED : ExitReason.PROTOCOL_ERROR;
    }

    /**
     * Receives one frame, blocking, and queues its entries in the runtime's waiting list.
     *
     * <p>Around every receive runs the descriptor sentinel: one descriptor slot is kept reserved (a duplicate of the
     * channel's own descriptor, {@link Syscalls#reserveDescriptor}) and closed just before recvmsg, so an arriving
     * descriptor finds a free slot even when handlers have filled the table; after the receive the slot is reserved
     * again, and if that fails (the table is full) the blocking receiver pauses until a handler finishes and frees
     * one. It is not airtight in a JVM (another thread may take the slot in between), so a descriptor the kernel
     * drops anyway (MSG_CTRUNC) is reported LOST and the supervisor, which still holds its copy, sends that
     * connection again.
     */
    private Received receiveOnce() {
        int length;
        try {
            Syscalls.closeQuietly(reserve);
            reserve = -1;
            length = channel.receive(false);
            reserve = reserveOrWait();
        } catch (NativeException e) {
            LOG.log(Level.ERROR, "prefork worker: receiving from the supervisor failed: " + e.getMessage());
            runtime.stopOnce();
            return Received.PROTOCOL_ERROR;
        }
        if (length == ControlChannel.END_OF_STREAM) {
            // The supervisor closed our channel or died: no one can send us work or hear our reports.
            Syscalls.closeQuietly(reserve);
            reserve = -1;
            runtime.stopOnce();
            return Received.END_OF_STREAM;
        }
        try {
            FrameType type = FrameCodec.readHeader(channel.receiveBuffer(), length, false);
            if (type != FrameType.HANDOFF) {
                throw new FrameException("unexpected frame type " + type + " from the supervisor");
            }
            onHandoff(channel.receiveBuffer(), length);
            return Received.FRAME;
        } catch (FrameException e) {
            channel.closeReceivedDescriptors();
            LOG.log(Level.ERROR, "prefork worker: invalid frame from the supervisor, stopping: " + e.getMessage());
            runtime.stopOnce();
            return Received.PROTOCOL_ERROR;
        }
    }

    /**
     * Reserves a descriptor slot, waiting for handlers to free one if the table is full. The frame just received
     * (if any) is processed only after this returns, so a pause here is a pause in receiving: the supervisor keeps
     * its copies, and what it sends meanwhile waits in the socket.
     */
    private int reserveOrWait() {
        int fd = tryReserve();
        while (fd == -1 && !runtime.stopping()) {
            if (!runtime.awaitSlotFreed()) {
                return -1;
            }
            fd = tryReserve();
        }
        return fd;
    }

    /** A reserved slot; -1 if the table is full; -2 if no slot can be reserved at all (no sentinel then). */
    private int tryReserve() {
        try {
            return Syscalls.reserveDescriptor(channel.fd());
        } catch (NativeException e) {
            LOG.log(Level.WARNING, "prefork worker: cannot reserve a descriptor slot, receiving without one: "
                    + e.getMessage());
            return -2;
        }
    }

    /** Wraps every entry of a HANDOFF frame and queues it. */
    private void onHandoff(ByteBuffer buf, int length) throws FrameException {
        int count = FrameCodec.readHandoffCount(buf, length);
        int fds = channel.receivedDescriptorCount();
        if (fds > count) {
            throw new FrameException("HANDOFF of " + count + " entries carried " + fds + " descriptors");
        }
        // Validate the whole frame before acting on any entry, so a bad frame leaves nothing half-done.
        reader.reset(buf, length);
        for (int i = 0; i < count; i++) {
            reader.next();
        }
        reader.finish();

        int lost = 0;
        reader.reset(buf, length);
        for (int i = 0; i < count; i++) {
            reader.next();
            long id = reader.id();
            WorkerConnection c;
            if (i >= fds) {
                // MSG_CTRUNC: the kernel dropped this descriptor (our table was full). The supervisor still has
                // its copy and will give the connection to a worker that can take it.
                c = new WorkerConnection(runtime, id, WorkerConnection.Kind.LOST);
                lost++;
            } else if (runtime.stopping()) {
                Syscalls.closeQuietly(channel.receivedDescriptor(i));
                c = new WorkerConnection(runtime, id, WorkerConnection.Kind.REFUSED);
            } else {
                c = wrap(id, channel.receivedDescriptor(i));
            }
            c.entry = entries++;
            runtime.enqueue(c);
        }
        if (lost > 0) {
            LOG.log(Level.WARNING, "prefork worker: " + lost + " descriptor(s) dropped by the kernel (descriptor table "
                    + "full?); the supervisor will send those connections elsewhere");
        }
    }

    /** The entry the reader is on, with its descriptor wrapped; a REFUSED entry if wrapping fails. */
    private WorkerConnection wrap(long id, int fd) {
        SocketChannel ch = null;
        int dup = -1;
        try {
            if (reader.elsewhere()) {
                dup = Syscalls.reserveDescriptor(fd);
                if (dup < 0) {
                    throw new IOException("no descriptor free to keep a copy of connection " + id
                            + " for its shutdown (descriptor table full)");
                }
            }
            InetSocketAddress peer = reader.peerAddress();
            // A new connection comes straight from the supervisor's accept4, blocking: no fcntl for it.
            ch = wrapper.wrap(fd, reader.peerIsIpv6(), peer, !reader.resumed());
            WorkerConnection c = new WorkerConnection(runtime, id, ch, fd, peer, reader.peerWire(),
                    reader.acceptedEpochMicros(), reader.resumed(), reader.unread());
            c.shutdownFd = dup;
            return c;
        } catch (IOException | RuntimeException e) {
            Syscalls.closeQuietly(dup);
            LOG.log(Level.WARNING, "prefork worker: could not wrap connection " + id + ", rejecting it: " + e);
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // Released even when close reports an error.
                }
            } // else wrap() closed the descriptor itself
            return new WorkerConnection(runtime, id, WorkerConnection.Kind.REFUSED);
        }
    }
}
