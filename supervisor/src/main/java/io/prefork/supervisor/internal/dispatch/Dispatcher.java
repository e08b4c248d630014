package io.prefork.supervisor.internal.dispatch;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.FrameException;
import io.prefork.internal.wire.FrameType;
import io.prefork.internal.wire.SharedRegion;
import io.prefork.supervisor.internal.loop.Timers;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.IntSupplier;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves accepted connections to workers and reads what the workers say about them. Called on the loop thread only.
 *
 * <p>A connection waits in the {@link #enqueue queue} until the {@link LeastBusyPolicy} picks a worker, then in
 * that worker's outbox until a {@code sendmsg} carries it (up to {@link FrameCodec#MAX_FDS_PER_FRAME} descriptors
 * per message), then in its unacked queue until the worker settles its claim slot in the region it shares with us
 * ({@link SharedRegion}): CLAIMED (our copy of the descriptor is closed; read by {@link #collectAll} whenever the loop
 * wakes, and before it sleeps), or DECLINED and reported in a REJECTED or LOST (the kernel dropped the descriptor in
 * transit) frame, which puts it back at the head of the queue. A connection
 * handed back too often is dropped. The worker's done counter, in the same region, frees its capacity.
 *
 * <p>Descriptor ownership: an accepted socket belongs to its {@link PendingConnection}, which sits in the queue or
 * in one worker's outbox or unacked queue; it is closed exactly once, when the worker has claimed it, or when the
 * supervisor gives up on it ({@link #drop}).
 *
 * <p>Nothing read from a region is trusted: a slot naming another connection or in a state the worker may not write,
 * a done counter going backwards or past the claims seen, is a protocol error, handled like a garbage frame (the
 * worker is abandoned; what it had not claimed goes to other workers).
 */
public final class Dispatcher {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");

    /** How often one connection may come back from workers that lost it or died before it is given up. */
    static final int MAX_TRANSIENT_RETURNS = 1000;
    /** Frames read from one worker per wakeup, so a chatty worker cannot starve the others. */
    private static final int MAX_FRAMES_PER_WAKEUP = 64;

    /** What the dispatcher asks of the worker pool when a worker's reports concern its lifecycle. */
    public interface Lifecycle {
        /** The worker reported READY. */
        void ready(WorkerProcess w);

        /** The worker can no longer be used: its channel failed or closed, or it broke the protocol. */
        void abandon(WorkerProcess w, String reason);

        /** A DRAINING worker finished its last connection. */
        void drained(WorkerProcess w);

        /** The worker was just assigned its --max-requests-th connection. */
        void recycle(WorkerProcess w);
    }

    private final List<WorkerProcess> workers;
    private final int concurrency;
    private final int prefetch;
    private final int queueSize;
    private final IntSupplier targetWorkers;
    private final Timers timers;
    private final SupervisorMetrics metrics;
    private Lifecycle lifecycle;
    private final LeastBusyPolicy policy = new LeastBusyPolicy();
    private final HandoffSender sender;
    private final ArrayDeque<PendingConnection> queue = new ArrayDeque<>();
    private final PendingConnection.Pool pool = new PendingConnection.Pool(4096);
    private final long[] idScratch = new long[FrameCodec.MAX_IDS_PER_FRAME];
    private int idCount;
    private final LongConsumer collectId = id -> idScratch[idCount++] = id;
    /** Set once the supervisor stops for good: what comes back from workers is dropped instead of queued. */
    private boolean closed;
    private ParkedSet parked;
    /** A parked connection the client spoke on again: queued like one just accepted (or closed when stopping). */
    private final Consumer<PendingConnection> resume = this::resumeParked;

    /**
     * @param workers       the pool's workers (read only here; the pool adds and removes them)
     * @param targetWorkers the pool's target worker count: a REJECTED connection may come back about twice that
     */
    public Dispatcher(List<WorkerProcess> workers, int concurrency, int prefetch, int queueSize,
                      IntSupplier targetWorkers, Timers timers, SupervisorMetrics metrics) {
        this.workers = workers;
        this.concurrency = concurrency;
        this.prefetch = prefetch;
        this.queueSize = queueSize;
        this.targetWorkers = targetWorkers;
        this.timers = timers;
        this.metrics = metrics;
        this.sender = new HandoffSender(timers);
    }

    /**
     * Wiring: where connections that workers park go; without it (unit tests) they are closed. Resumed ones come
     * back to the tail of the queue, like connections just accepted.
     */
    public void parked(ParkedSet set) {
        this.parked = set;
    }

    /** Wiring: the pool, which is built after the dispatcher because it gives outboxes back to it. */
    public void lifecycle(Lifecycle l) {
        this.lifecycle = l;
    }

    // ------------------------------------------------------------------------------------------------ the queue

    /** A (recycled) connection object for a socket just accepted; {@link #enqueue} it or {@link #release} it. */
    public PendingConnection take(long id, int fd, long acceptedNanos, long acceptedEpochMicros) {
        return pool.take(id, fd, acceptedNanos, acceptedEpochMicros);
    }

    private void resumeParked(PendingConnection c) {
        // The handoff timer measures from here: the wait while parked is the client's, not the supervisor's.
        c.acceptedNanos = timers.clock().nanoTime();
        if (closed) {
            drop(c);
        } else {
            queue.add(c);
        }
    }

    /** The consumer that queues resumed connections, for {@link ParkedSet#onReady}. */
    public Consumer<PendingConnection> resumer() {
        return resume;
    }

    /** Recycles a connection whose descriptor the caller closed before it was queued. */
    public void release(PendingConnection c) {
        pool.release(c);
    }

    public void enqueue(PendingConnection c) {
        queue.add(c);
    }

    public int queued() {
        return queue.size();
    }

    /** Connections the loop may still take: the bounded queue's room plus the workers' free slots. */
    public int room() {
        return queueSize + freeCapacity() - queue.size();
    }

    private int freeCapacity() {
        int free = 0;
        for (int i = 0; i < workers.size(); i++) {
            WorkerProcess w = workers.get(i);
            if (w.available()) {
                free += Math.max(0, LeastBusyPolicy.limit(w, concurrency, prefetch) - w.inFlight());
            }
        }
        return free;
    }

    public int totalInFlight() {
        int n = 0;
        for (WorkerProcess w : workers) {
            n += w.inFlight();
        }
        return n;
    }

    /**
     * Assigns queued connections to workers' outboxes while the policy finds one with room; then, with sending ahead
     * ({@code --prefetch}), gives each worker that is free a connection waiting unclaimed at a busy one
     * ({@link #revokeForFreeWorkers}).
     */
    public void dispatch() {
        assign();
        if (prefetch > 0 && queue.isEmpty()) {
            revokeForFreeWorkers();
        }
    }

    private void assign() {
        while (!queue.isEmpty()) {
            int i = policy.pick(workers, concurrency, prefetch);
            if (i < 0) {
                return;
            }
            WorkerProcess w = workers.get(i);
            w.outbox().add(queue.poll());
            if (w.assignOne() && !w.retiring()) {
                lifecycle.recycle(w);
            }
        }
    }

    /**
     * Revocable sending ahead: a connection sent ahead to a worker whose handlers are all busy must not wait there
     * while another worker is free. For each worker with a free handler slot and nothing on its way to it, the oldest
     * connection waiting unclaimed at a busy worker is revoked (compare-and-set OFFERED to REVOKED in that worker's
     * claim slot: if the worker claimed it first, it keeps it) and our own copy goes to the free worker, flagged
     * ELSEWHERE (the busy worker closes its copy unread only when it reaches the entry, so the new one shuts the
     * socket down when done, or the client would see no FIN). The busy worker is sent nothing ahead until one of its
     * connections finishes, so a long request does not attract a stream of entries only to lose them.
     */
    private void revokeForFreeWorkers() {
        for (int i = 0; i < workers.size(); i++) {
            WorkerProcess free = workers.get(i);
            if (!free.available() || !free.outbox().isEmpty() || !free.unacked().isEmpty()
                    || free.held().size() >= concurrency) {
                continue;
            }
            PendingConnection c = revokeOldestWaiting(free);
            if (c == null) {
                return;
            }
            c.elsewhere = true;
            free.outbox().add(c);
            metrics.prefetchReturned.inc();
            metrics.redispatched.inc();
            if (free.assignOne() && !free.retiring()) {
                lifecycle.recycle(free);
            }
        }
    }

    /** The oldest connection waiting unclaimed at a worker other than {@code free} whose slots are all taken. */
    private PendingConnection revokeOldestWaiting(WorkerProcess free) {
        WorkerProcess victim = null;
        PendingConnection oldest = null;
        for (int i = 0; i < workers.size(); i++) {
            WorkerProcess w = workers.get(i);
            if (w == free || !w.hasChannel() || w.held().size() < concurrency) {
                continue; // a worker with a free slot claims what it was sent by itself
            }
            PendingConnection c = w.unacked().peekFirst();
            if (c != null && (oldest == null || c.acceptedNanos - oldest.acceptedNanos < 0)) {
                victim = w;
                oldest = c;
            }
        }
        if (oldest == null) {
            return null;
        }
        if (!victim.region().revoke(oldest.entry, oldest.id)) {
            // It claimed (or declined) it a moment ago: read that now; the next dispatch looks again.
            collect(victim);
            return null;
        }
        victim.unacked().pollFirst();
        victim.revoked(oldest.entry);
        victim.prefetchReturned();
        LOG.debug("{} was sent ahead to {}, whose handlers are all busy; serving it elsewhere", oldest, victim);
        return oldest;
    }

    // ------------------------------------------------------------------------------------------------ sending

    /**
     * Sends what waits in each worker's outbox, several handoffs per message (see {@link HandoffSender}); a worker
     * whose channel is full keeps the rest for POLLOUT.
     */
    public void flushAll() {
        for (int i = 0; i < workers.size(); i++) {
            WorkerProcess w = workers.get(i);
            if (!w.outbox().isEmpty()) {
                sender.flush(w, lifecycle);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ reports

    /** Reads what the worker sent (called when poll found its channel readable, hung up or failed). */
    public void receiveFrom(WorkerProcess w) {
        // Claims first: a frame reporting entries it declined must find the entries it claimed before them resolved.
        collect(w);
        for (int i = 0; i < MAX_FRAMES_PER_WAKEUP && w.hasChannel(); i++) {
            ControlChannel channel = w.channel();
            int length;
            try {
                length = channel.receive(true);
            } catch (NativeException e) {
                lifecycle.abandon(w, "its channel failed: " + e.getMessage());
                return;
            }
            if (length == ControlChannel.WOULD_BLOCK) {
                return;
            }
            if (length == ControlChannel.END_OF_STREAM) {
                lifecycle.abandon(w, "it closed its channel");
                return;
            }
            try {
                if (channel.receivedDescriptorCount() > 0 && (length < FrameCodec.HEADER_BYTES
                        || (channel.receiveBuffer().get(3) & 0xFF) != FrameType.PARKED.code)) {
                    throw new FrameException("a worker sent descriptors with a frame other than PARKED");
                }
                onFrame(w, channel.receiveBuffer(), length);
            } catch (FrameException e) {
                // Descriptors that came with a bad frame are ours and unused: a valid PARKED took its one before
                // anything could throw.
                channel.closeReceivedDescriptors();
                LOG.error("{} sent an invalid frame; killing it: {}", w, e.getMessage());
                lifecycle.abandon(w, "protocol error");
                return;
            }
        }
    }

    private void onFrame(WorkerProcess w, ByteBuffer buf, int length) throws FrameException {
        FrameType type = FrameCodec.readHeader(buf, length, true);
        long now = timers.clock().nanoTime();
        w.frameReceived(now);
        switch (type) {
            case READY:
                FrameCodec.readReady(buf, length);
                lifecycle.ready(w);
                break;
            case BOOT_FAILED:
                w.bootFailed(FrameCodec.readBootFailed(buf, length));
                break;
            case WAKE:
                // It claimed or finished something since we asked: the loop reads its region after receiving.
                FrameCodec.readWake(length);
                break;
            case REJECTED:
            case LOST: {
                int n = readIdList(buf, length);
                List<PendingConnection> back = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    // Checked before any is removed: a bad one leaves them all to giveBack.
                    findDeclined(w, idScratch[i], type);
                }
                for (int i = 0; i < n; i++) {
                    back.add(takeUnacked(w, idScratch[i], type));
                }
                if (type == FrameType.LOST) {
                    LOG.warn("{} lost {} descriptor(s) in transit (its descriptor table is full?); sending them again",
                            w, n);
                }
                requeueFront(back, type != FrameType.REJECTED);
                break;
            }
            case PARKED:
                onParked(w, buf, length, now);
                break;
            case PROXY_REFUSED:
                metrics.proxyRefused.inc(FrameCodec.readProxyRefused(buf, length));
                break;
            default:
                throw new FrameException("unexpected frame type " + type);
        }
    }

    /** The worker claimed a connection (removed from its unacked queue by the caller): it holds its own copy now. */
    private void claimed(WorkerProcess w, PendingConnection c, long now) {
        // Close ours at once, or the worker's close sends no FIN.
        Native.closeQuietly(c.fd);
        c.fd = -1;
        w.tookOne(c.id, now);
        metrics.handoff.update(now - c.acceptedNanos, TimeUnit.NANOSECONDS);
        pool.release(c);
    }

    // ------------------------------------------------------------------------------------------------ the regions

    /**
     * Reads every worker's region: its claims (our copies of those connections are closed, in one pass) and its done
     * count (capacity freed). Called whenever the loop wakes, before dispatch, and again before it sleeps.
     *
     * @return true if anything moved
     */
    public boolean collectAll() {
        boolean moved = false;
        for (int i = 0; i < workers.size(); i++) {
            moved |= collect(workers.get(i));
        }
        return moved;
    }

    /**
     * Before the loop sleeps, the eventcount: asks for a WAKE frame from each worker it needs to hear from (it holds
     * copies of connections sent to it; or it serves connections whose done would let queued ones in, or that a
     * drain waits for), withdraws the request from the others, then reads every region again. A worker stores its
     * claim or done before it reads the request, and we store the request before we read, so no claim or done can
     * fall between the two unseen.
     *
     * @param draining true while the supervisor waits for every connection to finish
     * @return true if something moved meanwhile: then the loop must not sleep
     */
    public boolean prepareToSleep(boolean draining) {
        boolean capacityWanted = draining || !queue.isEmpty();
        for (int i = 0; i < workers.size(); i++) {
            WorkerProcess w = workers.get(i);
            if (w.hasChannel()) {
                w.region().wakeRequest(!w.unacked().isEmpty() || (!w.held().isEmpty()
                        && (capacityWanted || w.state() == WorkerProcess.State.DRAINING)));
            }
        }
        return collectAll();
    }

    private boolean collect(WorkerProcess w) {
        if (!w.hasChannel() || w.state() == WorkerProcess.State.BOOTING) {
            return false;
        }
        try {
            return readRegion(w);
        } catch (FrameException e) {
            LOG.error("{} wrote an invalid value in the region it shares with the supervisor; killing it: {}", w,
                    e.getMessage());
            lifecycle.abandon(w, "protocol error");
            return true;
        }
    }

    private boolean readRegion(WorkerProcess w) throws FrameException {
        SharedRegion r = w.region();
        // The done count first: a connection counted done was claimed before, so the scan below sees its claim.
        long done = r.done();
        boolean moved = false;
        ArrayDeque<PendingConnection> unacked = w.unacked();
        if (!unacked.isEmpty()) {
            long now = timers.clock().nanoTime();
            for (Iterator<PendingConnection> it = unacked.iterator(); it.hasNext(); ) {
                PendingConnection c = it.next();
                long v = r.slot(c.entry);
                int state = checkSlot(c, v);
                if (state == SharedRegion.CLAIMED) {
                    it.remove();
                    w.settled(c.entry);
                    claimed(w, c, now);
                    moved = true;
                } else if (state == SharedRegion.DECLINED) {
                    w.settled(c.entry); // its REJECTED or LOST frame follows
                } else if (state == SharedRegion.REVOKED) {
                    throw new FrameException("the claim slot of entry " + c.entry + " holds " + SharedRegion.describe(v)
                            + ", a state only the supervisor writes, for a connection it did not revoke");
                }
            }
        }
        long seen = w.doneSeen();
        if (done != seen) {
            if (done < seen) {
                throw new FrameException("its done count went back from " + seen + " to " + done);
            }
            if (done > w.taken()) {
                throw new FrameException("its done count " + done + " exceeds the " + w.taken()
                        + " connection(s) it claimed");
            }
            w.doneSeen(done);
            w.finished(done - seen);
            moved = true;
            if (w.state() == WorkerProcess.State.DRAINING && w.inFlight() == 0) {
                lifecycle.drained(w);
            }
        }
        return moved;
    }

    /** The state of connection {@code c}'s claim slot, whose value is {@code v}; a slot naming another is an error. */
    private static int checkSlot(PendingConnection c, long v) throws FrameException {
        if (SharedRegion.idOf(v) != (c.id & SharedRegion.ID_MASK)) {
            throw new FrameException("the claim slot of entry " + c.entry + " holds " + SharedRegion.describe(v)
                    + ", not connection " + c.id);
        }
        return SharedRegion.stateOf(v);
    }

    /** Checks that a REJECTED or LOST report names an entry sent to {@code w} that it DECLINED. */
    private static void findDeclined(WorkerProcess w, long id, FrameType type) throws FrameException {
        for (PendingConnection c : w.unacked()) {
            if (c.id == id) {
                long v = w.region().slot(c.entry);
                if (checkSlot(c, v) != SharedRegion.DECLINED) {
                    throw new FrameException(type + " for connection " + id + ", whose claim slot holds "
                            + SharedRegion.describe(v) + ", not DECLINED");
                }
                return;
            }
        }
        throw new FrameException(type + " for connection " + id + ", which was not sent to it");
    }

    /**
     * The worker finished a connection and gave it back to be parked (PARKED: DONE, plus the descriptor). Everything
     * is checked before the descriptor is taken, so a bad frame leaves it to {@link #receiveFrom} to close.
     */
    private void onParked(WorkerProcess w, ByteBuffer buf, int length, long now) throws FrameException {
        FrameCodec.checkParked(buf, length);
        long id = FrameCodec.parkedId(buf);
        ControlChannel channel = w.channel();
        if (channel.receivedDescriptorCount() != 1) {
            throw new FrameException("PARKED for connection " + id + " carried " + channel.receivedDescriptorCount()
                    + " descriptors, not 1");
        }
        // It counts the connection done in its region (after this frame): capacity is freed there, as for any other.
        // From here the descriptor is ours (the supervisor's only copy once the worker closes its own).
        // Known gap: a connection revoked from a busy worker (ELSEWHERE) and then parked comes back here with
        // elsewhere = false, as PARKED carries no such flag. When the supervisor ends it (idle timeout, --max-parked,
        // stop) it shuts the socket down, so the client sees the end at once (ParkedSet.close, drop). Only when a
        // later worker ends it with a plain close does the FIN wait until the busy worker reaches its revoked copy
        // and closes it (when its running request ends, or it dies).
        PendingConnection c = pool.take(id, channel.receivedDescriptor(0), now, FrameCodec.parkedAcceptedAt(buf));
        c.peerLength = FrameCodec.parkedPeer(buf, c.peer);
        int n = FrameCodec.parkedUnreadLength(buf);
        if (n > 0 && (c.unread == null || c.unread.length < n)) {
            c.unread = new byte[n];
        }
        if (n > 0) {
            FrameCodec.parkedUnread(buf, c.unread);
        }
        c.unreadLength = n;
        if (parked != null) {
            parked.park(c, now, resume);
        } else {
            drop(c);
        }
    }

    /**
     * Removes a connection the worker reported on from its unacked queue, checking FIFO order: the worker reports in
     * the order it received, so the report must name the oldest connection sent to it. One out of order is logged
     * and counted ({@code prefork.handoff.reordered}, which must stay 0); one never sent to it is a protocol error.
     */
    private PendingConnection takeUnacked(WorkerProcess w, long id, FrameType type) throws FrameException {
        ArrayDeque<PendingConnection> unacked = w.unacked();
        PendingConnection head = unacked.peekFirst();
        if (head != null && head.id == id) {
            return unacked.pollFirst();
        }
        // Not the oldest: a FIFO violation (or a report for something never sent). Find it to keep going.
        for (Iterator<PendingConnection> it = unacked.iterator(); it.hasNext(); ) {
            PendingConnection c = it.next();
            if (c.id == id) {
                it.remove();
                metrics.reordered.inc();
                LOG.error("handoffs to {} arrived out of order: {} for connection {} while {} was sent earlier",
                        w, type, id, head.id);
                return c;
            }
        }
        throw new FrameException(type + " for connection " + id + ", which was not sent to it");
    }

    /** Decodes an id list into {@link #idScratch}; returns the count. */
    private int readIdList(ByteBuffer buf, int length) throws FrameException {
        idCount = 0;
        FrameCodec.readIds(buf, length, collectId);
        return idCount;
    }

    // ------------------------------------------------------------------------------------------------ giving back

    /**
     * Gives a worker's connections that it has not taken back to the queue, at its head: its outbox (never sent),
     * and with {@code sentToo} also those sent and not claimed (the worker is gone, so it never will): its region,
     * which outlives it, says which it claimed, and those die with it (our copies are closed), however it died.
     * Returns how many went back.
     */
    public int giveBack(WorkerProcess w, boolean sentToo) {
        List<PendingConnection> back = new ArrayList<>(w.outbox().size() + (sentToo ? w.unacked().size() : 0));
        if (sentToo) {
            long now = timers.clock().nanoTime();
            for (PendingConnection c : w.unacked()) {
                if (w.region().slot(c.entry) == SharedRegion.slotValue(c.id, SharedRegion.CLAIMED)) {
                    claimed(w, c, now);
                } else {
                    back.add(c);
                }
            }
            w.unacked().clear();
        }
        back.addAll(w.outbox());
        w.outbox().clear();
        requeueFront(back, true);
        return back.size();
    }

    /**
     * Puts connections back at the head of the queue, oldest first, so they are served before newer ones.
     *
     * @param passing true when the worker could not take them for a passing reason (its descriptor table was
     *     full, it died): such returns are counted against a much higher limit than a worker's explicit REJECTED
     */
    private void requeueFront(List<PendingConnection> back, boolean passing) {
        back.sort(Comparator.comparingLong(c -> c.id));
        int limit = passing ? MAX_TRANSIENT_RETURNS : 2 * Math.max(1, targetWorkers.getAsInt()) + 3;
        for (int i = back.size() - 1; i >= 0; i--) {
            PendingConnection c = back.get(i);
            if (closed || ++c.returns > limit) {
                if (c.returns > limit) {
                    LOG.warn("{} was handed back by workers {} times; closing it", c, c.returns - 1);
                }
                drop(c);
                continue;
            }
            queue.addFirst(c);
            metrics.redispatched.inc();
        }
    }

    /**
     * The supervisor stops for good: closes every queued connection, and from now on every one that comes back from
     * a worker.
     */
    public void close() {
        closed = true;
        while (!queue.isEmpty()) {
            drop(queue.poll());
        }
    }

    /** Closes every connection a worker was given and has not taken: the loop's last step. */
    public void dropAll(WorkerProcess w) {
        for (PendingConnection c : w.unacked()) {
            drop(c);
        }
        for (PendingConnection c : w.outbox()) {
            drop(c);
        }
        w.unacked().clear();
        w.outbox().clear();
    }

    private void drop(PendingConnection c) {
        if (c.fd >= 0 && (c.resumed || c.elsewhere)) {
            // Another process may still hold a copy (see onParked's known gap): end the connection, not just ours.
            Native.shutdown(c.fd);
        }
        if (c.fd >= 0) {
            Native.closeQuietly(c.fd);
            c.fd = -1;
        }
        metrics.dropped.inc();
        pool.release(c);
    }
}
