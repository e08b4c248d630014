package io.prefork.internal.nativeio;

import io.prefork.internal.wire.FrameCodec;
import java.io.Closeable;
import java.nio.ByteBuffer;

/**
 * One end of a supervisor/worker AF_UNIX SOCK_SEQPACKET socketpair: one frame per message, descriptors attached
 * with SCM_RIGHTS. Owns its descriptor and closes it once ({@link #close()} is safe to call twice).
 *
 * <p>Each direction has its own native message struct and direct buffer, prepared once, so a send allocates
 * nothing and one thread may send while another receives. Callers serialise sends among themselves (one sending
 * thread at a time) and likewise receives.
 *
 * <p><b>Descriptors received are the receiver's.</b> After {@link #receive} every descriptor in
 * {@link #receivedDescriptor(int)} is owned by the caller, which must close it or hand it on, also when the frame
 * turns out to be garbage. They arrive close-on-exec (MSG_CMSG_CLOEXEC).
 */
public final class ControlChannel implements Closeable {
    /** {@link #receive} result: nothing to read (non-blocking receive only). */
    public static final int WOULD_BLOCK = -1;
    /** {@link #receive} result: the peer closed its end (or died). */
    public static final int END_OF_STREAM = 0;

    private final int fd;
    private volatile boolean closed;
    /** This channel's native memory; null once {@link #releaseBuffers released} after close. */
    private Buffers buffers;
    private int receivedFdCount;
    /** One {@code struct pollfd} for {@link #peerClosed}; allocated on first use, guarded by this. */
    private ByteBuffer pollFd;

    /**
     * The native memory of one channel, about 35 KB: a direct buffer and a message struct per direction. Direct
     * buffers are freed only when a garbage collection finds them unreachable, which in a supervisor that allocates
     * little can be minutes away; so the supervisor hands a dead worker's buffers to the next worker's channel
     * ({@link #releaseBuffers}) instead of leaving one set per restart for the GC. One channel owns a set at a time.
     */
    public static final class Buffers {
        final ByteBuffer sendBuffer = ByteBuffer.allocateDirect(FrameCodec.MAX_FRAME_BYTES);
        final long sendAddress = Syscalls.address(sendBuffer);
        final MessageStruct sendMsg = new MessageStruct(FrameCodec.MAX_FDS_PER_FRAME);
        // One byte more than the largest legal frame, so an oversized frame is seen as oversized rather than
        // silently truncated to a legal length (SEQPACKET discards what does not fit and sets MSG_TRUNC).
        final ByteBuffer receiveBuffer = ByteBuffer.allocateDirect(FrameCodec.MAX_FRAME_BYTES + 1);
        final long receiveAddress = Syscalls.address(receiveBuffer);
        final MessageStruct receiveMsg = new MessageStruct(FrameCodec.MAX_FDS_PER_FRAME);
        final int[] receivedFds = new int[FrameCodec.MAX_FDS_PER_FRAME];
    }

    /** Takes ownership of {@code fd}, an AF_UNIX SOCK_SEQPACKET socket, with buffers of its own. */
    public ControlChannel(int fd) {
        this(fd, new Buffers());
    }

    /** Takes ownership of {@code fd} and of {@code buffers} (released by a closed channel, or new). */
    public ControlChannel(int fd, Buffers buffers) {
        this.fd = fd;
        this.buffers = buffers;
    }

    /**
     * Gives up this closed channel's buffers, for another channel to own; any later use of this channel throws.
     *
     * @throws IllegalStateException if the channel is still open, or its buffers were released already
     */
    public synchronized Buffers releaseBuffers() {
        if (!closed) {
            throw new IllegalStateException(this + " is open; close it before releasing its buffers");
        }
        Buffers b = live();
        buffers = null;
        return b;
    }

    private Buffers live() {
        Buffers b = buffers;
        if (b == null) {
            throw new IllegalStateException(this + ": its buffers were released to another channel");
        }
        return b;
    }

    /** A connected pair of channels (both close-on-exec). */
    public static ControlChannel[] pair() throws NativeException {
        int[] sv = Syscalls.seqpacketPair();
        return new ControlChannel[] {new ControlChannel(sv[0]), new ControlChannel(sv[1])};
    }

    public int fd() {
        return fd;
    }

    /** The buffer a frame to send is encoded into, at offset 0 (big-endian). */
    public ByteBuffer sendBuffer() {
        return live().sendBuffer;
    }

    /**
     * Sends the first {@code length} bytes of {@link #sendBuffer()} as one message, with {@code fdCount}
     * descriptors from {@code fds}. The caller keeps ownership of those descriptors: the kernel gives the receiver
     * its own copies, and holds the files while they are in flight.
     *
     * @param dontWait true to fail fast with {@code false} instead of blocking when the socket buffer is full
     * @return true if sent; false if {@code dontWait} and the send would block (EAGAIN)
     * @throws NativeException on any other failure (EPIPE or ECONNRESET once the peer is gone)
     * @throws IllegalArgumentException if {@code length} exceeds the send buffer or {@code fdCount} is outside
     *     0..{@code MAX_FDS_PER_FRAME} or {@code fds}: the native structs are fixed-size, so an unchecked value would
     *     make sendmsg read past the send buffer or write past the control buffer
     */
    public boolean send(int length, int[] fds, int fdCount, boolean dontWait) throws NativeException {
        Buffers b = live();
        if (length < 0 || length > b.sendBuffer.capacity()) {
            throw new IllegalArgumentException("frame length " + length + " outside 0.." + b.sendBuffer.capacity());
        }
        if (fdCount < 0 || fdCount > FrameCodec.MAX_FDS_PER_FRAME || (fdCount > 0 && fdCount > fds.length)) {
            throw new IllegalArgumentException("descriptor count " + fdCount + " outside 0.."
                    + FrameCodec.MAX_FDS_PER_FRAME + " or beyond the " + (fds == null ? 0 : fds.length) + " given");
        }
        b.sendMsg.prepareSend(b.sendAddress, length, fds, fdCount);
        int flags = Native.MSG_NOSIGNAL | (dontWait ? Native.MSG_DONTWAIT : 0);
        while (true) {
            long n = Syscalls.sendmsg(fd, b.sendMsg.msg, flags);
            if (n >= 0) {
                return true;
            }
            int e = (int) -n;
            if (e == Native.EAGAIN && dontWait) {
                return false;
            }
            if (e != Native.EINTR) {
                throw new NativeException("sendmsg(fd=" + fd + ")", e);
            }
        }
    }

    /**
     * Receives one message into {@link #receiveBuffer()} at offset 0.
     *
     * @param dontWait true to return {@link #WOULD_BLOCK} instead of blocking when nothing is queued
     * @return the message length, {@link #END_OF_STREAM} or {@link #WOULD_BLOCK}. A message longer than
     *     {@code MAX_FRAME_BYTES} is reported with a length above it, for the codec to reject.
     */
    public int receive(boolean dontWait) throws NativeException {
        Buffers b = live();
        b.receiveMsg.prepareReceive(b.receiveAddress, b.receiveBuffer.capacity());
        int flags = Native.MSG_CMSG_CLOEXEC | (dontWait ? Native.MSG_DONTWAIT : 0);
        while (true) {
            long n = Syscalls.recvmsg(fd, b.receiveMsg.msg, flags);
            if (n >= 0) {
                receivedFdCount = b.receiveMsg.collectDescriptors(b.receivedFds);
                return (int) n;
            }
            int e = (int) -n;
            receivedFdCount = 0;
            if (e == Native.EAGAIN && dontWait) {
                return WOULD_BLOCK;
            }
            if (e == Native.ECONNRESET) {
                return END_OF_STREAM;
            }
            if (e != Native.EINTR) {
                throw new NativeException("recvmsg(fd=" + fd + ")", e);
            }
        }
    }

    public ByteBuffer receiveBuffer() {
        return live().receiveBuffer;
    }

    /** How many descriptors arrived with the last message. */
    public int receivedDescriptorCount() {
        return receivedFdCount;
    }

    /** The i-th descriptor of the last message; owned by the caller from the moment it is received. */
    public int receivedDescriptor(int i) {
        return live().receivedFds[i];
    }

    /** True if the kernel dropped descriptors of the last message (MSG_CTRUNC: the receiver's table was full). */
    public boolean descriptorsTruncated() {
        return (live().receiveMsg.receivedFlags & Native.MSG_CTRUNC) != 0;
    }

    /** Closes every descriptor that arrived with the last message (for a message that is being rejected). */
    public void closeReceivedDescriptors() {
        int[] fds = live().receivedFds;
        for (int i = 0; i < receivedFdCount; i++) {
            Syscalls.closeQuietly(fds[i]);
        }
        receivedFdCount = 0;
    }

    /**
     * Shuts the socket down so that a thread blocked in {@link #receive} on either end returns end-of-stream, without
     * releasing the descriptor number under it (closing a descriptor another thread is blocked on is a race: the
     * number may be reused before that thread returns).
     */
    public void shutdown() {
        if (!closed) {
            Syscalls.shutdown(fd);
        }
    }

    /**
     * Whether the peer closed its end or died: poll(2) without waiting, for POLLHUP or POLLERR (an AF_UNIX SEQPACKET
     * socket reports POLLHUP once its peer is gone). For the worker's heartbeat thread, which must notice a dead
     * supervisor while the receiving thread is busy in a handler; synchronized with {@link #close}, so it never polls
     * a descriptor number already reused.
     */
    public synchronized boolean peerClosed() throws NativeException {
        if (closed) {
            return true;
        }
        if (pollFd == null) {
            pollFd = ByteBuffer.allocateDirect(8);
        }
        return Syscalls.hungUp(fd, pollFd);
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Syscalls.closeQuietly(fd);
        }
    }

    public boolean isClosed() {
        return closed;
    }

    @Override
    public String toString() {
        return "ControlChannel(fd=" + fd + (closed ? ", closed" : "") + ")";
    }
}
