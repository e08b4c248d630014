package io.prefork.supervisor.internal.dispatch;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.SharedRegion;
import io.prefork.supervisor.internal.loop.Timers;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link Dispatcher}'s sending half: HANDOFF frames of up to {@link FrameCodec#MAX_FDS_PER_FRAME} descriptors
 * (SCM_RIGHTS' per-message limit) from a worker's outbox into its unacked queue, never blocking. Each entry is
 * numbered and OFFERED in its claim slot in the worker's {@link SharedRegion} before the sendmsg. Called on the loop
 * thread only; its scratch arrays are reused for every send, so a handoff allocates nothing.
 */
final class HandoffSender {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");

    /** How long a worker's channel must stay full before the log says so. */
    static final long SEND_BLOCKED_WARN_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final Timers timers;
    private final int[] fdScratch = new int[FrameCodec.MAX_FDS_PER_FRAME];
    private final List<PendingConnection> batch = new ArrayList<>(FrameCodec.MAX_FDS_PER_FRAME);

    HandoffSender(Timers timers) {
        this.timers = timers;
    }

    /**
     * Sends what waits in a worker's outbox, several handoffs per message when several wait (one sendmsg, one
     * wakeup of the worker). A send that would block leaves the rest for POLLOUT: the acceptor never blocks on a
     * slow worker.
     */
    void flush(WorkerProcess w, Dispatcher.Lifecycle lifecycle) {
        if (!w.hasChannel() || w.state() == WorkerProcess.State.BOOTING) {
            return;
        }
        ControlChannel channel = w.channel();
        ByteBuffer buf = channel.sendBuffer();
        SharedRegion region = w.region();
        while (!w.outbox().isEmpty()) {
            batch.clear();
            int offset = FrameCodec.beginHandoff();
            long oldest = w.oldestUnsettled();
            for (PendingConnection c : w.outbox()) {
                // A resumed entry carries its unread bytes (up to MAX_UNREAD_BYTES), so entries differ in size.
                if (batch.size() == FrameCodec.MAX_FDS_PER_FRAME || offset + FrameCodec.handoffEntryBytes(
                        c.peerLength, c.resumed, c.unreadLength) > FrameCodec.MAX_FRAME_BYTES) {
                    break;
                }
                long entry = w.nextEntry();
                if (entry - oldest >= region.slots()) {
                    // Its slot is still the oldest unresolved entry's: wait for that one's claim or report. The ring
                    // is sized far above what may be in flight, so this is only ever a worker that reports nothing.
                    w.unsent(1);
                    break;
                }
                c.entry = entry;
                // Offered before the sendmsg: the worker may claim it the moment the message arrives.
                region.offer(entry, c.id);
                offset = FrameCodec.putHandoffEntry(buf, offset, c.id, c.acceptedEpochMicros, c.peer, c.peerLength,
                        c.resumed, c.elsewhere, c.unread, c.unreadLength);
                fdScratch[batch.size()] = c.fd;
                batch.add(c);
            }
            if (batch.isEmpty()) {
                return;
            }
            int length = FrameCodec.finishHandoff(buf, batch.size(), offset);
            boolean sent;
            try {
                sent = channel.send(length, fdScratch, batch.size(), true);
            } catch (NativeException e) {
                lifecycle.abandon(w, "sending to it failed: " + e.getMessage());
                return;
            }
            if (!sent) {
                // Never sent: the next send numbers them again (their slots are rewritten then).
                w.unsent(batch.size());
                // EAGAIN: the worker's socket buffer is full (it is slow or stopped). The rest waits in its outbox
                // until POLLOUT; the acceptor and the other workers carry on. A busy worker blocks briefly all the
                // time; only one blocked for a whole second is worth a line.
                if (w.sendBlockedSince() == 0) {
                    long episode = timers.clock().nanoTime();
                    w.sendBlockedSince(episode);
                    timers.schedule(SEND_BLOCKED_WARN_NANOS, () -> {
                        if (w.sendBlockedSince() == episode && w.state() != WorkerProcess.State.DEAD) {
                            w.sendBlockedWarned(true);
                            LOG.warn("{} has not read its channel for {} ms; {} handoff(s) wait in its outbox", w,
                                    TimeUnit.NANOSECONDS.toMillis(SEND_BLOCKED_WARN_NANOS), w.outbox().size());
                        }
                    });
                }
                return;
            }
            if (w.sendBlockedSince() != 0) {
                w.sendBlockedSince(0);
                if (w.sendBlockedWarned()) {
                    w.sendBlockedWarned(false);
                    LOG.info("{} is reading its channel again", w);
                }
            }
            for (PendingConnection c : batch) {
                w.outbox().poll();
                w.unacked().add(c);
            }
        }
    }
}
