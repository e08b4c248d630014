package io.prefork.internal.runtime;

import io.prefork.worker.Connection;
import java.io.IOException;
import java.net.InetSocketAddress;
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
        /** A connection to serve: reported TAKEN, then DONE. */
        SERVE,
        /** Its descriptor was dropped by the kernel (MSG_CTRUNC: the descriptor table was full): reported LOST. */
        LOST,
        /** It arrived while stopping, or could not be wrapped: reported REJECTED, for another worker. */
        REFUSED
    }

    final WorkerRuntime runtime;
    final Kind kind;
    final long id;
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

    /**
     * A connection to serve.
     *
     * @param channel the wrapped descriptor; its local address is the one the client reached (the JDK read it with
     *                getsockname when it built the channel), on a wildcard listener too
     */
    WorkerConnection(WorkerRuntime runtime, long id, SocketChannel channel, InetSocketAddress remote,
                     long acceptedEpochMicros) throws IOException {
        this.runtime = runtime;
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
    }

    void closeQuietly() {
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
    public String toString() {
        return "Connection(id=" + id + ", remote=" + remote + (remote == peer ? "" : ", peer=" + peer) + ")";
    }
}
