package io.prefork.supervisor.internal.accept;

import io.prefork.supervisor.internal.log.RateLimitedLog;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.supervisor.internal.nativeio.Poller;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.supervisor.internal.dispatch.Dispatcher;
import io.prefork.supervisor.internal.dispatch.PendingConnection;
import io.prefork.supervisor.internal.loop.Clock;
import io.prefork.supervisor.internal.loop.Timers;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Takes connections from the listening sockets (accept4) into the {@link Dispatcher}'s queue, and closes the
 * listeners at a graceful stop without resetting a connection the kernel already completed. Called on the loop
 * thread only.
 *
 * <p>It accepts only while there is room ({@link Dispatcher#room()}): what the supervisor has no room for waits in
 * the kernel's backlog, where TCP's own flow control applies. At most {@link #ACCEPT_BATCH} per wakeup, from all
 * listeners together, starting with a different listener each time so that a busy one cannot starve the others.
 */
public final class Acceptor {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");
    /** Out of descriptors, accepts pause and retry every 100 ms: one line per 10 s says so. */
    private final RateLimitedLog acceptPausedLog = new RateLimitedLog(LOG, 10, TimeUnit.SECONDS);

    /** Connections accepted per wakeup, from all listeners together, before the loop turns to the workers again. */
    static final int ACCEPT_BATCH = 128;
    /**
     * How long a graceful stop waits, at most, for TCP handshakes under way when it began: a few round trips on any
     * network a supervisor sits on, and a lost final ACK is recovered by the client's first retransmission (200 ms
     * minimum RTO on Linux).
     */
    static final long HANDSHAKE_SETTLE_NANOS = TimeUnit.SECONDS.toNanos(1);
    static final long HANDSHAKE_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);
    /** How long accepting pauses when the descriptor table is full (EMFILE/ENFILE). */
    static final long EMFILE_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    /** One per --listen address, in order; all share the queue and the workers. */
    private final List<TcpListener> listeners;
    private final Dispatcher dispatcher;
    private final Timers timers;
    private final Clock clock;
    private final SupervisorMetrics metrics;
    private final Duration gracefulTimeout;
    private boolean open = true;
    /** The listener looked at first in the next accept round, turning each time, so no busy one starves the others. */
    private int firstListener;
    private long acceptPausedUntil;
    private long nextConnectionId = 1;

    public Acceptor(List<TcpListener> listeners, Dispatcher dispatcher, Timers timers, SupervisorMetrics metrics,
                    Duration gracefulTimeout) {
        this.listeners = List.copyOf(listeners);
        this.dispatcher = dispatcher;
        this.timers = timers;
        this.clock = timers.clock();
        this.metrics = metrics;
        this.gracefulTimeout = gracefulTimeout;
    }

    /** True until the listeners are closed. */
    public boolean isOpen() {
        return open;
    }

    /**
     * Adds the listeners to {@code poller} when there is room to take more and accepting is not paused; returns how
     * many slots it added (0 or one per listener, in --listen order).
     */
    public int addTo(Poller poller) {
        if (!open || clock.nanoTime() < acceptPausedUntil || dispatcher.room() <= 0) {
            return 0;
        }
        for (int i = 0; i < listeners.size(); i++) {
            poller.add(listeners.get(i).fd(), Native.POLLIN);
        }
        return listeners.size();
    }

    /**
     * Accepts from the listeners the poll found readable (their slots start at {@code firstSlot}), at most
     * {@link #ACCEPT_BATCH} in all and never more than there is room for, starting with a different listener each
     * round.
     */
    public void acceptReady(Poller poller, int firstSlot) throws NativeException {
        int n = listeners.size();
        int first = firstListener;
        firstListener = (first + 1) % n;
        int budget = Math.min(ACCEPT_BATCH, dispatcher.room());
        for (int k = 0; k < n && budget > 0; k++) {
            int i = (first + k) % n;
            if ((poller.readyOps(firstSlot + i) & Native.POLLIN) != 0) {
                budget -= acceptBatch(listeners.get(i), budget);
            }
        }
    }

    /** Accepts up to {@code max} connections from {@code listener} into the queue; returns how many it queued. */
    private int acceptBatch(TcpListener listener, int max) throws NativeException {
        int queued = 0;
        for (int i = 0; i < max; i++) {
            int fd;
            try {
                fd = listener.accept();
            } catch (NativeException e) {
                if (e.errno() == Native.EMFILE || e.errno() == Native.ENFILE) {
                    // Out of descriptors: the connection stays in the kernel backlog. Pause instead of spinning.
                    acceptPausedLog.warn("cannot accept: {}; pausing accepts for 100 ms (raise the descriptor limit, "
                            + "ulimit -n)", e.getMessage());
                    acceptPausedUntil = clock.nanoTime() + EMFILE_PAUSE_NANOS;
                    return queued;
                }
                throw e;
            }
            if (fd < 0) {
                return queued;
            }
            PendingConnection c = dispatcher.take(nextConnectionId, fd, clock.nanoTime(),
                    System.currentTimeMillis() * 1000);
            c.peerLength = listener.copyLastPeerAddress(c.peer);
            nextConnectionId++;
            dispatcher.enqueue(c);
            queued++;
            metrics.accepted.mark();
        }
        return queued;
    }

    // ------------------------------------------------------------------------------------------------ closing

    /**
     * A graceful stop's way of closing the listeners. Connections whose handshake the kernel completed are in the
     * accept queues, and closing a listener resets them: they must be accepted first. But a handshake can complete
     * between the last accept that finds a queue empty and the close. So new handshakes are refused first
     * (TcpListener.refuseNewHandshakes), the ones under way are given a moment to finish, and only then is each
     * queue emptied and its listener closed.
     */
    public void closeGracefully() {
        for (TcpListener l : listeners) {
            try {
                l.refuseNewHandshakes();
            } catch (NativeException e) {
                LOG.warn("cannot refuse new connections on {} before closing it: {}; a connection that completes "
                        + "just as it closes may be reset", TcpListener.format(l.boundAddress()), e.getMessage());
            }
        }
        long now = clock.nanoTime();
        closeOnceHandshakesFinish(now, now + HANDSHAKE_SETTLE_NANOS);
    }

    /**
     * The second step of a graceful stop, after new handshakes were refused: once none is under way on any
     * listener's port, nothing can enter an accept queue any more, so each queue is emptied into the dispatch queue
     * and its listener closed. Polls every {@link #HANDSHAKE_POLL_NANOS} (on loopback the first look usually finds
     * none), at most until {@code deadline}: a client that never finishes its handshake must not hold the stop up,
     * and the kernel never accepted it. One case stays open: under a SYN flood the kernel answers with SYN cookies
     * and keeps no request socket, so a cookie ACK that arrives in the moment between the last accept and the close
     * is not seen coming; without a flood there are no cookies.
     */
    private void closeOnceHandshakesFinish(long began, long deadline) {
        if (!open) {
            return; // a harder stop closed them meanwhile
        }
        Set<Integer> ports = new HashSet<>();
        for (TcpListener l : listeners) {
            ports.add(l.boundAddress().getPort());
        }
        int unfinished = TcpListener.handshakesInProgress(ports);
        if (unfinished > 0 && clock.nanoTime() - deadline < 0) {
            timers.schedule(HANDSHAKE_POLL_NANOS, () -> closeOnceHandshakesFinish(began, deadline));
            return;
        }
        if (unfinished > 0) {
            LOG.warn("closing the listeners with {} TCP handshake(s) still unfinished after {} ms; those clients will "
                    + "be reset", unfinished, TimeUnit.NANOSECONDS.toMillis(HANDSHAKE_SETTLE_NANOS));
        }
        emptyAndClose(began);
    }

    /**
     * The last step of {@link #closeOnceHandshakesFinish}: accepts everything in the accept queues, then closes the
     * listeners. Out of descriptors (EMFILE), what is left in a queue would be reset by the close, so the listeners
     * stay open (new handshakes are still refused) and this runs again when the accept pause ends, by which time
     * connections the workers took have given their descriptors back. The graceful timeout bounds the wait.
     */
    private void emptyAndClose(long began) {
        if (!open) {
            return;
        }
        for (TcpListener l : listeners) {
            try {
                acceptBatch(l, Integer.MAX_VALUE);
            } catch (NativeException e) {
                LOG.warn("accepting the backlog of {} before stopping failed: {}", TcpListener.format(l.boundAddress()),
                        e.getMessage());
            }
            if (clock.nanoTime() - acceptPausedUntil < 0) {
                timers.schedule(acceptPausedUntil - clock.nanoTime(), () -> emptyAndClose(began));
                return;
            }
        }
        close();
        LOG.info("stopping gracefully: listeners closed after {} ms; {} connection(s) in flight, {} queued; "
                + "graceful timeout {} s", TimeUnit.NANOSECONDS.toMillis(clock.nanoTime() - began),
                dispatcher.totalInFlight(), dispatcher.queued(), gracefulTimeout.toSeconds());
    }

    /**
     * Duplicates of the open listeners' descriptors, in --listen order, close-on-exec and owned by the caller: for an
     * upgrade to hand to a new supervisor, while this acceptor goes on using (and may close) its own.
     */
    public List<Integer> duplicateListeners() throws NativeException {
        List<Integer> dups = new ArrayList<>(listeners.size());
        try {
            for (TcpListener l : listeners) {
                dups.add(Native.check(Native.LIBC.fcntl(l.fd(), Native.F_DUPFD_CLOEXEC, 3),
                        "fcntl(fd=" + l.fd() + ", F_DUPFD_CLOEXEC)"));
            }
        } catch (NativeException e) {
            for (int fd : dups) {
                Native.closeQuietly(fd);
            }
            throw e;
        }
        return dups;
    }

    /**
     * An upgrade's hand-over: the new supervisor accepts on the same sockets from now on, so ours are simply closed.
     * No handshake filter (it belongs to the socket, and would refuse the new supervisor's connections too) and no
     * emptying of the accept queues, which stay with the socket, for the new supervisor to accept.
     */
    public void handOver() {
        close();
        LOG.info("handed over: listeners closed here, the new supervisor accepts on them; {} connection(s) in "
                + "flight, {} queued; graceful timeout {} s", dispatcher.totalInFlight(), dispatcher.queued(),
                gracefulTimeout.toSeconds());
    }

    /** Closes every listener now (once; later calls do nothing). */
    public void close() {
        if (open) {
            open = false;
            for (TcpListener l : listeners) {
                l.close();
            }
        }
    }

    /** The listeners' bound addresses, in --listen order; any thread (they are fixed once bound). */
    public List<InetSocketAddress> boundAddresses() {
        List<InetSocketAddress> bound = new ArrayList<>(listeners.size());
        for (TcpListener l : listeners) {
            bound.add(l.boundAddress());
        }
        return List.copyOf(bound);
    }
}
