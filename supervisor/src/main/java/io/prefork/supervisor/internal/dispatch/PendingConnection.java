package io.prefork.supervisor.internal.dispatch;

/**
 * A connection the supervisor has accepted and not yet seen a worker take. Owns the supervisor's copy of the
 * socket ({@link #fd}) until a worker reports it ACCEPTED; while it is owned here, the connection survives the
 * death of any worker it was sent to and can be sent again.
 *
 * <p>Owned by the supervisor loop thread only; not thread-safe.
 */
public final class PendingConnection {
    public final long id;
    /** The supervisor's copy of the socket; -1 once closed. */
    public int fd;
    /** System.nanoTime() at accept, for the handoff latency timer. */
    public final long acceptedNanos;
    public final long acceptedEpochMicros;
    /** Peer and local addresses in wire form (see FrameCodec). */
    public final byte[] peer;
    public final byte[] local;
    /** How many times a worker has handed this connection back (rejected, lost); bounded to avoid a loop. */
    public int returns;

    public PendingConnection(long id, int fd, long acceptedNanos, long acceptedEpochMicros, byte[] peer, byte[] local) {
        this.id = id;
        this.fd = fd;
        this.acceptedNanos = acceptedNanos;
        this.acceptedEpochMicros = acceptedEpochMicros;
        this.peer = peer;
        this.local = local;
    }

    @Override
    public String toString() {
        return "connection " + id;
    }
}
