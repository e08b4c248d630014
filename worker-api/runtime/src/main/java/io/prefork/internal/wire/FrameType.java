package io.prefork.internal.wire;

/**
 * The frame types of the supervisor/worker channel. The numeric codes are part of the wire format: never renumber
 * one, only add. "w->s" frames are sent by the worker, "s->w" by the supervisor; a frame arriving in the wrong
 * direction is rejected as a protocol error by the receiver.
 */
public enum FrameType {
    /** w->s: the worker has started its {@code Worker} and takes connections. Body: u64 pid. */
    READY(0x01, true),
    /** w->s: {@code Worker.start} (or loading the class) failed. Body: u16 length + UTF-8 message. */
    BOOT_FAILED(0x02, true),
    /** s->w: one to {@link FrameCodec#MAX_FDS_PER_FRAME} connections; SCM_RIGHTS carries one descriptor per entry, in order. */
    HANDOFF(0x10, false),
    // 0x20 was TAKEN until wire version 4: a worker claims a connection in its SharedRegion's claim ring now.
    /** w->s: the worker will not serve these (it is stopping); the supervisor gives them to another worker. Body: id list. */
    REJECTED(0x21, true),
    /** w->s: these entries arrived without their descriptor (MSG_CTRUNC: the worker's descriptor table was full). Body: id list. */
    LOST(0x22, true),
    // 0x23 was DONE until wire version 4: the SharedRegion's done counter now.
    // 0x24 was RETURNED (a worker's give-back after --prefetch-timeout) until wire version 4: the supervisor
    // revokes a connection sent ahead (its claim slot) instead.
    // 0x25 was DONE_TAKEN until wire version 4.
    /**
     * w->s: the handler finished this connection and asked for it to be parked (idle between requests): its
     * descriptor (the worker counts it done in its region, like any connection it finished), the only frame a worker sends one with (SCM_RIGHTS carries exactly 1). Body: id (u64),
     * accepted-at and peer address as in its HANDOFF entry, unread length (u16, at most
     * {@link FrameCodec#MAX_UNREAD_BYTES}) and the bytes the handler had read beyond its request, which the next
     * handler sees first.
     */
    PARKED(0x26, true),
    // 0x30 was HEARTBEAT until wire version 4: heartbeats are a counter in the shared region now (SharedRegion).
    /**
     * w->s: connections the worker closed unserved since its previous PROXY_REFUSED because their PROXY protocol
     * header was missing or malformed or their peer was not allowed to send one ({@code --proxy-protocol}); sent by
     * the heartbeat thread at most once a second, only when there were any. Body: u32 count, at least 1.
     */
    PROXY_REFUSED(0x31, true),
    /**
     * w->s: the supervisor asked to be woken (the wake word in the worker's SharedRegion) and the worker has claimed
     * or finished a connection since: read the region. The eventcount's one message. Body: empty.
     */
    WAKE(0x32, true);

    private static final FrameType[] BY_CODE = new FrameType[256];

    static {
        for (FrameType t : values()) {
            BY_CODE[t.code] = t;
        }
    }

    /** The type byte on the wire. */
    public final int code;
    /** True for frames only a worker sends. */
    public final boolean fromWorker;

    FrameType(int code, boolean fromWorker) {
        this.code = code;
        this.fromWorker = fromWorker;
    }

    /** The type with this code, or null: an unknown code is the caller's protocol error to report. */
    static FrameType ofCode(int code) {
        return BY_CODE[code & 0xFF];
    }
}
