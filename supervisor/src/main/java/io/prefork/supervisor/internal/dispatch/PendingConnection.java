package io.prefork.supervisor.internal.dispatch;

import io.prefork.internal.wire.WireAddress;

/**
 * A connection the supervisor has accepted and not yet seen a worker take. Owns the supervisor's copy of the
 * socket ({@link #fd}) until a worker reports it taken; while it is owned here, the connection survives the
 * death of any worker it was sent to and can be sent again.
 *
 * <p>Objects are recycled through a {@link Pool} once their descriptor is closed, and addresses are kept in fixed
 * arrays in wire form, so accepting and handing off a connection allocates nothing in the steady state.
 *
 * <p>Owned by the supervisor loop thread only; not thread-safe.
 */
public final class PendingConnection {
    public long id;
    /** Its entry number on the channel of the worker it was last sent to (names its claim slot there). */
    public long entry;
    /** Revoked from a worker that may still hold a copy: the next worker shuts it down when done (FLAG_ELSEWHERE). */
    public boolean elsewhere;
    /** The supervisor's copy of the socket; -1 once closed. */
    public int fd = -1;
    /** The loop clock's nanoTime at accept (accept4), for the handoff latency timer. */
    public long acceptedNanos;
    public long acceptedEpochMicros;
    /** The peer address in wire form ({@link WireAddress}), valid up to {@link #peerLength}. */
    public final byte[] peer = new byte[WireAddress.MAX_BYTES];
    public int peerLength;
    /** How many times a worker has handed this connection back (rejected, lost); bounded to avoid a loop. */
    public int returns;
    /** True once it has been parked and resumed: its handoff entry is marked RESUMED and carries {@link #unread}. */
    public boolean resumed;
    /** The bytes its last handler read and left unread, valid up to {@link #unreadLength}; null when none yet. */
    public byte[] unread;
    public int unreadLength;
    /** The loop clock's nanoTime when it was last parked (for --keep-alive and --max-parked). */
    public long parkedNanos;

    @Override
    public String toString() {
        return "connection " + id;
    }

    /**
     * Recycles PendingConnection objects. A connection goes back only after its descriptor is closed and nothing
     * refers to it any more (taken by a worker, or dropped).
     */
    public static final class Pool {
        private final java.util.ArrayDeque<PendingConnection> free = new java.util.ArrayDeque<>();
        private final int max;

        public Pool(int max) {
            this.max = max;
        }

        public PendingConnection take(long id, int fd, long acceptedNanos, long acceptedEpochMicros) {
            PendingConnection c = free.poll();
            if (c == null) {
                c = new PendingConnection();
            }
            c.id = id;
            c.fd = fd;
            c.acceptedNanos = acceptedNanos;
            c.acceptedEpochMicros = acceptedEpochMicros;
            c.returns = 0;
            c.resumed = false;
            c.elsewhere = false;
            c.unreadLength = 0;
            return c;
        }

        public void release(PendingConnection c) {
            if (c.fd >= 0) {
                throw new IllegalStateException(c + " released with its descriptor still open");
            }
            if (free.size() < max) {
                free.push(c);
            }
        }
    }
}
