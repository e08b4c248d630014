package io.prefork.internal.runtime;

import io.prefork.internal.wire.FrameCodec;
import io.prefork.worker.Connection;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Instant;

/**
 * One entry of a HANDOFF as the worker keeps it until it is taken: the {@link Connection} a handler sees, and also
 * the task that serves it (no wrapper object per connection). An entry whose descriptor did not arrive, or that
 * cannot be served, is kept too, with no channel, so that its report goes out in arrival order with the others.
 */
final class WorkerConnection implements Connection, Runnable {
    /** What an entry is, which decides its report when its turn comes (see {@link WorkerRuntime#pump}). */
    enum Kind {
        /** A connection to serve: claimed in the shared region, then counted done. */
        SERVE,
        /** Its descriptor was dropped by the kernel (MSG_CTRUNC: the descriptor table was full): reported LOST. */
        LOST,
        /** It arrived while stopping, or could not be wrapped: reported REJECTED, for another worker. */
        REFUSED
    }

    final WorkerRuntime runtime;
    final Kind kind;
    final long id;
    /** Its entry number on the channel (from 0), which names its claim slot; set by the receiving thread. */
    long entry;
    /**
     * For an entry revoked from another worker (which may still hold a copy until it reaches it): a duplicate of the
     * descriptor, kept by the runtime so that it can shut the socket down once served, whether or not the handler
     * closed its channel; otherwise the other copy would keep the client from seeing FIN. -1 if none.
     */
    int shutdownFd = -1;
    final SocketChannel channel;
    /** The peer as accepted: the balancer under the PROXY protocol. */
    final InetSocketAddress peer;
    /**
     * The client: {@link #peer}, or the PROXY protocol header's source. Set on the serving thread before the handler
     * runs on that same thread; volatile only for {@link #toString()} elsewhere.
     */
    volatile InetSocketAddress remote;
    final InetSocketAddress local;
    final long acceptedEpochMicros;
    /** The descriptor the channel wraps, sent back to the supervisor if the handler parks the connection. */
    final int fd;
    /** The peer address in wire form as the HANDOFF entry had it, echoed in PARKED. */
    final byte[] peerWire;
    final boolean resumed;
    private final ByteBuffer unread;
    private InputStream input;
    /** Set by the handler's thread through {@link #park}; read by the same thread after handle returns. */
    private ByteBuffer parkUnread;
    private boolean parkRequested;

    /**
     * A connection to serve.
     *
     * @param channel the wrapped descriptor; its local address is the one the client reached (read with one
     *                getsockname when the channel was built, see ChannelWrapper), on a wildcard listener too
     */
    WorkerConnection(WorkerRuntime runtime, long id, SocketChannel channel, int fd, InetSocketAddress remote,
                     byte[] peerWire, long acceptedEpochMicros, boolean resumed, byte[] unread) throws IOException {
        this.runtime = runtime;
        this.fd = fd;
        this.peerWire = peerWire;
        this.resumed = resumed;
        this.unread = ByteBuffer.wrap(unread).asReadOnlyBuffer();
        this.kind = Kind.SERVE;
        this.id = id;
        this.channel = channel;
        this.peer = remote;
        this.remote = remote;
        // Read now, while the channel is open, from the JDK's copy (no system call): a handler may close the channel
        // and still ask.
        this.local = (InetSocketAddress) channel.getLocalAddress();
        this.acceptedEpochMicros = acceptedEpochMicros;
    }

    /** An entry with no channel to serve: {@link Kind#LOST} or {@link Kind#REFUSED}. */
    WorkerConnection(WorkerRuntime runtime, long id, Kind kind) {
        this.runtime = runtime;
        this.kind = kind;
        this.id = id;
        this.channel = null;
        this.peer = null;
        this.remote = null;
        this.local = null;
        this.acceptedEpochMicros = 0;
        this.fd = -1;
        this.peerWire = null;
        this.resumed = false;
        this.unread = ByteBuffer.allocate(0);
    }

    /** True if the handler asked to park, with the bytes to send along (a copy, flipped). */
    boolean parkRequested() {
        return parkRequested;
    }

    ByteBuffer parkUnread() {
        return parkUnread;
    }

    void closeQuietly() {
        if (shutdownFd >= 0) {
            io.prefork.internal.nativeio.Syscalls.closeQuietly(shutdownFd);
            shutdownFd = -1;
        }
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // The descriptor is released even when close reports an error.
            }
        }
    }

    @Override
    public void run() {
        runtime.serve(this);
    }

    @Override
    public long id() {
        return id;
    }

    @Override
    public SocketChannel channel() {
        return channel;
    }

    @Override
    public InetSocketAddress remoteAddress() {
        return remote;
    }

    @Override
    public InetSocketAddress peerAddress() {
        return peer;
    }

    @Override
    public InetSocketAddress localAddress() {
        return local;
    }

    @Override
    public Instant acceptedAt() {
        return Instant.ofEpochSecond(acceptedEpochMicros / 1_000_000, (acceptedEpochMicros % 1_000_000) * 1000);
    }

    @Override
    public boolean resumed() {
        return resumed;
    }

    @Override
    public ByteBuffer unread() {
        return unread;
    }

    @Override
    public InputStream input() throws IOException {
        if (input == null) {
            InputStream socketIn = channel.socket().getInputStream();
            input = unread.hasRemaining() ? new SequenceInputStream(new InputStream() {
                @Override
                public int read() {
                    return unread.hasRemaining() ? unread.get() & 0xFF : -1;
                }

                @Override
                public int read(byte[] b, int off, int len) {
                    if (len == 0) {
                        return 0;
                    }
                    if (!unread.hasRemaining()) {
                        return -1;
                    }
                    int n = Math.min(len, unread.remaining());
                    unread.get(b, off, n);
                    return n;
                }

                @Override
                public int available() {
                    return unread.remaining();
                }
            }, socketIn) : socketIn;
        }
        return input;
    }

    @Override
    public void park(ByteBuffer bytes) {
        int n = bytes == null ? 0 : bytes.remaining();
        if (n > FrameCodec.MAX_UNREAD_BYTES) {
            throw new IllegalArgumentException("cannot park connection " + id + " with " + n + " unread bytes: at most "
                    + FrameCodec.MAX_UNREAD_BYTES + " travel with a parked connection; serve the next request "
                    + "instead of parking");
        }
        ByteBuffer copy = ByteBuffer.allocate(n);
        if (n > 0) {
            copy.put(bytes.duplicate()).flip();
        }
        parkUnread = copy;
        parkRequested = true;
    }

    @Override
    public String toString() {
        return "Connection(id=" + id + ", remote=" + remote + (remote == peer ? "" : ", peer=" + peer) + ")";
    }
}
