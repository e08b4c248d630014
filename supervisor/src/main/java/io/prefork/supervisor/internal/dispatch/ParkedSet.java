package io.prefork.supervisor.internal.dispatch;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.nativeio.Epoll;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keep-alive connections parked between requests: a handler said the connection is idle ({@code Connection.park})
 * and its worker gave the descriptor back (PARKED). They wait here, watched by one {@link Epoll} whose descriptor is
 * the only slot they take in the loop's poll set, so ten thousand parked connections cost the loop nothing until
 * one of them becomes readable. Then it is resumed: handed to the dispatcher's queue like a newly accepted
 * connection, with its id, marked resumed, carrying the bytes its last handler left unread.
 *
 * <p><b>Ownership.</b> While parked the supervisor holds the only copy of the descriptor (the worker closed its own
 * once its PARKED message was sent), and this set owns it: it is closed exactly once, here (peer closed, idle longer
 * than {@code --keep-alive}, beyond {@code --max-parked}, the supervisor stopping), or ownership passes back to a
 * {@link PendingConnection} in the dispatcher's queue on resume.
 *
 * <p>Ordered by parking time (a {@link LinkedHashMap} keyed by descriptor, re-inserted on every park), so the idle
 * timeout and the bound look only at the oldest. Called on the loop thread only.
 */
public final class ParkedSet {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");
    /** Ready sockets handled per wakeup; the rest stay ready (level-triggered) for the next. */
    static final int MAX_EVENTS = 256;

    private final Epoll epoll;
    private final long keepAliveNanos;
    private final int maxParked;
    private final Consumer<PendingConnection> release;
    private final LinkedHashMap<Integer, PendingConnection> byFd = new LinkedHashMap<>();
    /** Set once the supervisor stops: what workers park from then on is closed at once. */
    private boolean closing;

    private final SupervisorMetrics metrics;

    /**
     * @param release recycles a connection object once this set has closed its descriptor
     */
    public ParkedSet(long keepAliveNanos, int maxParked, SupervisorMetrics metrics,
                     Consumer<PendingConnection> release) throws NativeException {
        this.metrics = metrics;
        this.epoll = new Epoll(MAX_EVENTS);
        this.keepAliveNanos = keepAliveNanos;
        this.maxParked = maxParked;
        this.release = release;
    }

    /** The descriptor to watch for POLLIN in the loop's poll set. */
    public int fd() {
        return epoll.fd();
    }

    public int size() {
        return byFd.size();
    }

    /**
     * Takes ownership of a connection a worker parked. One that carries unread bytes is not parked: they may hold a
     * whole pipelined request, which no readiness would announce, so it goes back to {@code resume} at once.
     */
    public void park(PendingConnection c, long now, Consumer<PendingConnection> resume) {
        metrics.parked.inc();
        if (c.unreadLength > 0 && !closing) {
            metrics.parkedResumed.inc();
            c.resumed = true;
            resume.accept(c);
            return;
        }
        if (closing) {
            close(c);
            return;
        }
        if (maxParked == 0) {
            metrics.parkedEvicted.inc();
            close(c);
            return;
        }
        if (byFd.size() >= maxParked) {
            // The bound: the longest idle goes (it is the least likely to speak again).
            Iterator<PendingConnection> oldest = byFd.values().iterator();
            PendingConnection o = oldest.next();
            oldest.remove();
            metrics.parkedEvicted.inc();
            close(o);
        }
        try {
            epoll.add(c.fd, Epoll.EPOLLIN | Epoll.EPOLLRDHUP);
        } catch (NativeException e) {
            LOG.warn("cannot watch parked {}; closing it: {}", c, e.getMessage());
            close(c);
            return;
        }
        c.parkedNanos = now;
        byFd.put(c.fd, c);
    }

    /**
     * Called when the epoll descriptor is readable: each ready connection with bytes waiting is resumed (passed to
     * {@code resume}, which owns it from then on), at most {@code room} of them, and each one the peer closed is
     * closed.
     *
     * <p>{@code room} is the dispatcher's ({@link Dispatcher#room()}: {@code --queue-size} plus the workers' free
     * slots, less what is queued), so that a resumed connection is bounded like an accepted one. Those beyond it stay
     * parked, watched and ready: epoll is level-triggered, so they are reported again; the loop stops polling this
     * set's descriptor while there is no room at all (as it stops polling the listeners), and takes them, oldest
     * events first, as room frees. Meanwhile they are still subject to {@code --keep-alive} and {@code --max-parked}.
     *
     * @return how many were resumed
     */
    public int onReady(Consumer<PendingConnection> resume, int room) throws NativeException {
        if (room <= 0) {
            return 0;
        }
        int resumed = 0;
        int n = epoll.poll(0);
        for (int i = 0; i < n && resumed < room; i++) {
            int fd = epoll.readyFd(i);
            PendingConnection c = byFd.get(fd);
            if (c == null) {
                continue;
            }
            int state = epoll.peek(fd);
            if (state == Epoll.PEEK_NOTHING) {
                continue;
            }
            byFd.remove(fd);
            if (state == Epoll.PEEK_CLOSED) {
                metrics.parkedPeerClosed.inc();
                close(c);
                continue;
            }
            epoll.remove(fd);
            metrics.parkedResumed.inc();
            c.resumed = true;
            c.returns = 0;
            resume.accept(c);
            resumed++;
        }
        return resumed;
    }

    /** Closes what has been parked for {@code --keep-alive} or longer; returns how many. */
    public int expire(long now) {
        int n = 0;
        Iterator<PendingConnection> it = byFd.values().iterator();
        while (it.hasNext()) {
            PendingConnection c = it.next();
            if (now - c.parkedNanos < keepAliveNanos) {
                break;
            }
            it.remove();
            metrics.parkedExpired.inc();
            close(c);
            n++;
        }
        return n;
    }

    /**
     * The supervisor stops (gracefully too): an idle connection has nothing in flight to finish, so every parked
     * one is closed now, and every one a worker parks from now on.
     */
    public void closeAll() {
        closing = true;
        for (PendingConnection c : byFd.values()) {
            close(c);
        }
        byFd.clear();
    }

    /** The loop's last step: {@link #closeAll} and the epoll descriptor. */
    public void close() {
        closeAll();
        epoll.close();
    }

    private void close(PendingConnection c) {
        // Usually the only copy, but not always: a connection once revoked from a busy worker (ELSEWHERE) may still
        // sit, unclaimed, in that worker's channel, and PARKED does not say so. shutdown acts on the socket, not on
        // this descriptor, so the client sees the end now whoever else holds a copy; close then frees ours (and takes
        // it out of the epoll set).
        Native.shutdown(c.fd);
        Native.closeQuietly(c.fd);
        c.fd = -1;
        release.accept(c);
    }
}
