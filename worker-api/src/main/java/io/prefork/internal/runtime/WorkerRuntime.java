package io.prefork.internal.runtime;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.nativeio.Signals;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.FrameException;
import io.prefork.internal.wire.FrameType;
import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The worker side of the handoff: receives descriptors from the supervisor, wraps them, takes them (ACCEPTED) as
 * handler slots free up and runs the user's {@link Worker#handle} on up to {@code concurrency} threads.
 *
 * <p>Received is not taken. Every received entry goes into {@link #waiting}, in arrival order, and is taken only
 * when a slot is free: at most {@code concurrency} connections are ever taken at once. Without the supervisor's
 * {@code --prefetch} that is at once, because the supervisor never sends more than there are free slots; with it,
 * up to that many handoffs wait here, untaken, so that a handler finishing one connection starts the next with no
 * round trip through the supervisor. Until a connection is taken the supervisor keeps its copy, so if this worker
 * dies the connection is served elsewhere; and if every slot stays busy for the prefetch timeout, the waiting ones
 * are given back (RETURNED) for another worker to serve.
 *
 * <p>Reports go out in arrival order (the supervisor checks FIFO): {@link #pump} walks {@link #waiting} from the
 * head, and reports are sent while holding {@link #state}, so two threads never interleave them out of order.
 *
 * <p>Threads: the thread that calls {@link #run} receives, holding {@link #receiveLock}; at concurrency 1 it also
 * serves (no thread handoff per connection). Handler threads (concurrency above 1) serve, and after each connection
 * take the next waiting one themselves. The heartbeat thread sends heartbeats and, with prefetch, gives back what
 * waits too long: it may receive too, but only when it can take {@link #receiveLock} without waiting (the receiving
 * thread is busy serving). Sends are serialised by {@link #sendLock}.
 *
 * <p>Ordering of reports for one connection: ACCEPTED is sent before the handler is started, so DONE can never
 * overtake it. ACCEPTED is sent as soon as the connection is taken, because the supervisor holds its own copy of
 * the socket until then, and while it does, a worker's close sends no FIN to the client.
 *
 * <p>Logging goes through {@link System.Logger}, not a logging library: the runtime lives inside the user's JVM
 * and must not impose a logging binding on it; System.Logger routes to whatever the user's application installs.
 */
final class WorkerRuntime {
    static final long HEARTBEAT_INTERVAL_MS = 1000;

    private static final System.Logger LOG = System.getLogger("io.prefork.worker");

    private final ControlChannel channel;
    private final ChannelWrapper wrapper;
    private final ContextImpl context;
    /** How long every slot may stay busy before waiting (prefetched) connections are given back; 0 = no prefetch. */
    private final long prefetchTimeoutNanos;
    private final Object sendLock = new Object();
    /** Held while receiving and decoding; the channel's receive buffers and {@link #reserve} belong to its holder. */
    private final ReentrantLock receiveLock = new ReentrantLock();
    /** Guards {@link #waiting} and {@link #taken}; reports are sent while holding it, so they stay in order. */
    private final Object state = new Object();
    /** Received, not yet taken, in arrival order. */
    private final ArrayDeque<ConnectionImpl> waiting = new ArrayDeque<>();
    /** Connections taken (ACCEPTED) and not yet done; written under {@link #state}, read by heartbeats. */
    private volatile int taken;
    /** System.nanoTime() of the last take, for the prefetch timeout. */
    private volatile long lastTakeNanos;
    /** Notified whenever a handler finishes, so a receive paused on a full descriptor table can retry. */
    private final Object slotFreed = new Object();
    private final AtomicBoolean stopCalled = new AtomicBoolean();
    private volatile boolean stopping;
    private volatile Worker worker;
    private ThreadPoolExecutor handlers;
    /** Concurrency 1: connections are served on the receiving thread (see receiveLoop). */
    private boolean inline;
    /**
     * Concurrency 1 with prefetch: the connection just finished, whose DONE waits to share a message with the next
     * connection's ACCEPTED (DONE_ACCEPTED) if one is already here; -1 if none. Receiving thread only.
     */
    private long pendingDone = -1;
    /** The descriptor slot kept free for the next receive (see receiveLoop); guarded by receiveLock. */
    private int reserve = -1;

    // Receive scratch (guarded by receiveLock), reused for every frame.
    private final FrameCodec.HandoffReader reader = new FrameCodec.HandoffReader();
    /** The receiving thread's connections to start, from pump. */
    private final ConnectionImpl[] started = new ConnectionImpl[FrameCodec.MAX_FDS_PER_FRAME];
    // Report scratch (guarded by state): one run of reports of one type, sent when the type changes.
    private final long[] reportIds = new long[FrameCodec.MAX_FDS_PER_FRAME];
    private FrameType reportType;
    private int reportCount;
    /** Handler threads' one-slot pump scratch. */
    private final ThreadLocal<ConnectionImpl[]> handlerScratch = ThreadLocal.withInitial(() -> new ConnectionImpl[1]);

    WorkerRuntime(ControlChannel channel, ChannelWrapper wrapper, int index, int concurrency, long prefetchTimeoutMs,
                  Map<String, String> settings) {
        this.channel = channel;
        this.wrapper = wrapper;
        this.context = new ContextImpl(index, ProcessHandle.current().pid(), concurrency, Map.copyOf(settings));
        this.prefetchTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(Math.max(0, prefetchTimeoutMs));
    }

    /** Boots the worker, then receives until the supervisor closes the channel; returns the exit code. */
    int run(String className) {
        ignoreInterrupts();
        // Initialise the logging backend now: its first use opens configuration files, which would fail later
        // if handlers had filled the descriptor table.
        LOG.isLoggable(Level.INFO);
        boolean inStart = false;
        try {
            worker = instantiate(className);
            inStart = true;
            worker.start(context);
        } catch (Throwable t) {
            String message = BootFailure.describe(className, t, inStart);
            System.err.println("prefork worker " + context.index + " (pid " + context.pid + "): " + message);
            send(buf -> FrameCodec.encodeBootFailed(buf, message));
            return WorkerExit.BOOT_FAILED;
        }
        inline = context.concurrency == 1;
        if (!inline) {
            AtomicInteger n = new AtomicInteger();
            // Connections reach the pool only when a slot is free (see pump), so a bounded array queue of that size
            // never fills and, unlike a linked queue, allocates nothing per connection.
            handlers = new ThreadPoolExecutor(context.concurrency, context.concurrency, 0, TimeUnit.SECONDS,
                    new ArrayBlockingQueue<>(context.concurrency),
                    r -> daemon(r, "prefork-handler-" + n.incrementAndGet()));
            handlers.prestartAllCoreThreads();
        }
        Runtime.getRuntime().addShutdownHook(new Thread(this::stopOnce, "prefork-stop"));
        daemon(this::heartbeats, "prefork-heartbeat").start();
        send(buf -> FrameCodec.encodeReady(buf, context.pid));
        return receiveLoop();
    }

    /** Receives, and (at concurrency 1) serves, until end-of-stream or a protocol error; returns the exit code. */
    private int receiveLoop() {
        receiveLock.lock();
        try {
            reserve = reserveOrWait();
        } finally {
            receiveLock.unlock();
        }
        while (true) {
            if (inline && pendingDone >= 0 && !hasWaiting()) {
                // A prefetched handoff may be here already: look without blocking, so that its ACCEPTED can go
                // out in the same message as the DONE of the connection just finished.
                int r;
                receiveLock.lock();
                try {
                    r = receiveOnce(true);
                } finally {
                    receiveLock.unlock();
                }
                if (r >= 0) {
                    flushPendingDone();
                    return r;
                }
            }
            if (inline && pump(1, started) == 1) {
                // Concurrency 1: serve on this thread, saving a thread handoff (a wakeup and a context switch) per
                // connection. The heartbeat thread notices a dead supervisor meanwhile, and gives back prefetched
                // connections if this one takes too long.
                ConnectionImpl c = started[0];
                started[0] = null;
                c.run();
                continue;
            }
            // Nothing to take: the supervisor must hear of the free slot before this thread blocks.
            flushPendingDone();
            int result;
            receiveLock.lock();
            try {
                if (inline && hasWaiting()) {
                    continue; // the heartbeat thread received something while we served: take it first
                }
                result = receiveOnce(false);
            } finally {
                receiveLock.unlock();
            }
            if (result != RECEIVED) {
                return result;
            }
            if (!inline) {
                startOnPool(pump(context.concurrency, started));
            }
        }
    }

    /** receiveOnce's result when a frame was received (exit codes are 0 or positive). */
    private static final int RECEIVED = -1;
    /** receiveOnce's result when nothing was queued (non-blocking receive only). */
    private static final int NOTHING = -2;

    /**
     * Receives one frame and queues its entries in {@link #waiting}; caller holds {@link #receiveLock}.
     *
     * <p>Around every receive runs the close-dup sentinel: one descriptor slot is kept reserved and released just
     * before recvmsg, so an arriving descriptor finds a free slot even when handlers have filled the table; after
     * the receive the slot is reserved again, and if that fails (the table is full) the blocking receiver pauses
     * until a handler finishes and frees one. It is not airtight in a JVM (another thread may take the slot in
     * between), so a descriptor the kernel drops anyway (MSG_CTRUNC) is reported LOST and the supervisor, which
     * still holds its copy, sends that connection again.
     *
     * @return {@link #RECEIVED}, {@link #NOTHING} (non-blocking, nothing queued), or the worker's exit code
     */
    private int receiveOnce(boolean dontWait) {
        int length;
        try {
            Native.closeQuietly(reserve);
            reserve = -1;
            length = channel.receive(dontWait);
            reserve = dontWait ? tryReserve() : reserveOrWait();
        } catch (NativeException e) {
            LOG.log(Level.ERROR, "prefork worker: receiving from the supervisor failed: " + e.getMessage());
            stopOnce();
            return WorkerExit.PROTOCOL_ERROR;
        }
        if (length == ControlChannel.WOULD_BLOCK) {
            return NOTHING;
        }
        if (length == ControlChannel.END_OF_STREAM) {
            // The supervisor closed our channel or died: no one can send us work or hear our reports.
            Native.closeQuietly(reserve);
            reserve = -1;
            stopOnce();
            return WorkerExit.OK;
        }
        try {
            FrameType type = FrameCodec.readHeader(channel.receiveBuffer(), length, false);
            if (type != FrameType.HANDOFF) {
                throw new FrameException("unexpected frame type " + type + " from the supervisor");
            }
            onHandoff(channel.receiveBuffer(), length);
            return RECEIVED;
        } catch (FrameException e) {
            channel.closeReceivedDescriptors();
            LOG.log(Level.ERROR, "prefork worker: invalid frame from the supervisor, stopping: " + e.getMessage());
            stopOnce();
            return WorkerExit.PROTOCOL_ERROR;
        }
    }

    /**
     * Reserves a descriptor slot, waiting for handlers to free one if the table is full. The frame just received
     * (if any) is processed only after this returns, so a pause here is a pause in receiving: the supervisor keeps
     * its copies, and what it sends meanwhile waits in the socket.
     */
    private int reserveOrWait() {
        int fd = tryReserve();
        while (fd == -1 && !stopping) {
            // Only a handler finishing frees descriptors here; it notifies slotFreed. The timeout covers slots
            // freed by anything else (user threads closing files).
            synchronized (slotFreed) {
                try {
                    slotFreed.wait(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return -1;
                }
            }
            fd = tryReserve();
        }
        return fd;
    }

    /** A reserved slot; -1 if the table is full; -2 if /dev/null cannot be opened at all (no sentinel then). */
    private int tryReserve() {
        try {
            return Native.reserveDescriptor(channel.fd());
        } catch (NativeException e) {
            LOG.log(Level.WARNING, "prefork worker: cannot reserve a descriptor slot, receiving without one: " + e.getMessage());
            return -2;
        }
    }

    /** Wraps every entry of a HANDOFF frame and queues it in {@link #waiting}; caller holds {@link #receiveLock}. */
    private void onHandoff(ByteBuffer buf, int length) throws FrameException {
        int count = FrameCodec.readHandoffCount(buf, length);
        int fds = channel.receivedDescriptorCount();
        if (fds > count) {
            throw new FrameException("HANDOFF of " + count + " entries carried " + fds + " descriptors");
        }
        // Validate the whole frame before acting on any entry, so a bad frame leaves nothing half-done.
        reader.reset(buf, length);
        for (int i = 0; i < count; i++) {
            reader.next();
        }
        reader.finish();

        int lost = 0;
        reader.reset(buf, length);
        for (int i = 0; i < count; i++) {
            reader.next();
            long id = reader.id();
            ConnectionImpl c;
            if (i >= fds) {
                // MSG_CTRUNC: the kernel dropped this descriptor (our table was full). The supervisor still has
                // its copy and will give the connection to a worker that can take it.
                c = new ConnectionImpl(this, id, ConnectionImpl.LOST);
                lost++;
            } else if (stopping) {
                Native.closeQuietly(channel.receivedDescriptor(i));
                c = new ConnectionImpl(this, id, ConnectionImpl.REFUSED);
            } else {
                int fd = channel.receivedDescriptor(i);
                try {
                    InetSocketAddress peer = reader.peerAddress();
                    SocketChannel ch = wrapper.wrap(fd, reader.peerIsIpv6(), peer);
                    // The JDK read the local address (getsockname) when it built the channel: reuse that, no copy.
                    InetSocketAddress local = (InetSocketAddress) ch.getLocalAddress();
                    c = new ConnectionImpl(this, id, ch, peer, local, reader.acceptedEpochMicros());
                } catch (IOException | RuntimeException e) {
                    LOG.log(Level.WARNING, "prefork worker: could not wrap connection " + id + ", rejecting it: " + e);
                    c = new ConnectionImpl(this, id, ConnectionImpl.REFUSED); // wrap() closed the descriptor
                }
            }
            synchronized (state) {
                waiting.addLast(c);
            }
        }
        if (lost > 0) {
            LOG.log(Level.WARNING, "prefork worker: " + lost + " descriptor(s) dropped by the kernel (descriptor table "
                    + "full?); the supervisor will send those connections elsewhere");
        }
    }

    private boolean hasWaiting() {
        synchronized (state) {
            return !waiting.isEmpty();
        }
    }

    /**
     * Takes connections from the head of {@link #waiting} while slots are free (at most {@code max}), reporting
     * each entry in arrival order: ACCEPTED for one taken, LOST or REJECTED for one that cannot be served, or, when
     * giving back, RETURNED for every one that could have been.
     *
     * @param out receives the taken connections, which the caller must start
     * @param giveBack true to take nothing and give every waiting connection back to the supervisor
     * @return how many were taken
     */
    private int pump(int max, ConnectionImpl[] out, boolean giveBack) {
        if (out != null) {
            max = Math.min(max, out.length);
        }
        int n = 0;
        synchronized (state) {
            while (!waiting.isEmpty()) {
                ConnectionImpl c = waiting.peekFirst();
                FrameType report;
                if (c.kind == ConnectionImpl.LOST) {
                    report = FrameType.LOST;
                } else if (c.kind == ConnectionImpl.REFUSED || stopping) {
                    c.closeQuietly();
                    report = FrameType.REJECTED;
                } else if (giveBack) {
                    c.closeQuietly();
                    report = FrameType.RETURNED;
                } else if (taken < context.concurrency && n < max) {
                    taken++;
                    lastTakeNanos = System.nanoTime();
                    out[n++] = c;
                    report = FrameType.ACCEPTED;
                } else {
                    break;
                }
                waiting.pollFirst();
                if (report == FrameType.ACCEPTED && pendingDone >= 0) {
                    // Only the receiving thread at concurrency 1 has a pending DONE, and only it takes there.
                    flushReports();
                    reportIds[0] = pendingDone;
                    reportIds[1] = c.id;
                    sendIds(FrameType.DONE_ACCEPTED, reportIds, 2);
                    pendingDone = -1;
                    continue;
                }
                report(report, c.id);
            }
            flushReports();
        }
        return n;
    }

    /** {@link #pump(int, ConnectionImpl[], boolean)} taking, not giving back. */
    private int pump(int max, ConnectionImpl[] out) {
        return pump(max, out, false);
    }

    /** Starts connections the receiving thread took (concurrency above 1) on the handler pool. */
    private void startOnPool(int n) {
        for (int i = 0; i < n; i++) {
            ConnectionImpl c = started[i];
            started[i] = null;
            try {
                handlers.execute(c);
            } catch (RejectedExecutionException e) {
                // Only while stopping (the pool is shut down): the connection was already ACCEPTED, so close it
                // and report it done.
                LOG.log(Level.WARNING, "prefork worker: no handler thread for connection " + c.id + ": " + e);
                finish(c);
            }
        }
    }

    /**
     * With prefetch: if every slot has been busy, with nothing taken, for the prefetch timeout, gives back what
     * waits (RETURNED), so the supervisor can serve it elsewhere instead of leaving it behind slow handlers. At
     * concurrency 1 the waiting handoff is usually still in the socket, because the receiving thread is the one
     * serving: then this receives it first, if it can take {@link #receiveLock} at once.
     */
    private void returnStale() {
        if (!staleNow()) {
            return;
        }
        if (receiveLock.tryLock()) {
            try {
                int r;
                do {
                    r = receiveOnce(true);
                } while (r == RECEIVED);
                if (r == WorkerExit.OK) {
                    // End of stream: the receiving thread sees it too when it comes back from its handler (it
                    // persists on the socket); stopping is already set.
                    return;
                }
                if (r >= 0) {
                    // A broken frame from the supervisor, consumed here: the receiving thread would not see it,
                    // so exit as it would have.
                    System.exit(r);
                }
            } finally {
                receiveLock.unlock();
            }
        }
        synchronized (state) {
            if (!staleNow()) {
                return; // a slot freed while we received: the handler thread takes what waits
            }
            int n = waiting.size();
            pump(0, null, true);
            if (n > 0) {
                LOG.log(Level.DEBUG, "prefork worker: gave back " + n + " waiting connection(s): every slot was busy"
                        + " for " + TimeUnit.NANOSECONDS.toMillis(prefetchTimeoutNanos) + " ms");
            }
        }
    }

    private boolean staleNow() {
        return taken >= context.concurrency && System.nanoTime() - lastTakeNanos >= prefetchTimeoutNanos;
    }

    /** Adds one report to the current run; a report of another type sends the run first. Caller holds state. */
    private void report(FrameType type, long id) {
        if (reportCount > 0 && (type != reportType || reportCount == reportIds.length)) {
            flushReports();
        }
        reportType = type;
        reportIds[reportCount++] = id;
    }

    /** Sends the current run of reports, if any. Caller holds state. */
    private void flushReports() {
        if (reportCount > 0) {
            sendIds(reportType, reportIds, reportCount);
            reportCount = 0;
        }
    }

    private void serve(ConnectionImpl c) {
        ConnectionImpl[] next = inline ? null : handlerScratch.get();
        while (c != null) {
            try {
                worker.handle(c);
            } catch (Throwable t) {
                HandlerFailure.log(LOG, c.id, t);
            } finally {
                finish(c);
            }
            c = null;
            // Concurrency above 1: this thread's slot is free again; take what waits here rather than through the
            // pool's queue (no wakeup of another thread).
            if (next != null && pump(1, next) == 1) {
                c = next[0];
                next[0] = null;
            }
        }
    }

    /**
     * Closes the connection (if the handler did not), frees its slot and reports it DONE: at once, or, on the
     * receiving thread at concurrency 1 with prefetch, together with the next ACCEPTED (see receiveLoop).
     */
    private void finish(ConnectionImpl c) {
        c.closeQuietly();
        synchronized (state) {
            taken--;
        }
        synchronized (slotFreed) {
            slotFreed.notifyAll();
        }
        if (inline && prefetchTimeoutNanos > 0) {
            pendingDone = c.id;
        } else {
            sendId(FrameType.DONE, c.id);
        }
    }

    private void flushPendingDone() {
        if (pendingDone >= 0) {
            sendId(FrameType.DONE, pendingDone);
            pendingDone = -1;
        }
    }

    /**
     * Sends a heartbeat every second and, with prefetch, checks every half prefetch timeout for connections waiting
     * behind busy handlers ({@link #returnStale}). A heartbeat the kernel refuses because the supervisor's end is
     * gone (EPIPE, ECONNRESET) means the supervisor died: exit, even if the receiving thread is busy in a handler and
     * has not seen end-of-stream yet, so no worker outlives its supervisor by more than about a second.
     */
    private void heartbeats() {
        long beat = TimeUnit.MILLISECONDS.toNanos(HEARTBEAT_INTERVAL_MS);
        long check = prefetchTimeoutNanos == 0 ? beat : Math.max(TimeUnit.MILLISECONDS.toNanos(1), prefetchTimeoutNanos / 2);
        long nextBeat = System.nanoTime() + beat;
        try {
            while (!stopping) {
                long now = System.nanoTime();
                long pause = Math.min(check, nextBeat - now);
                if (pause > 0) {
                    Thread.sleep(pause / 1_000_000, (int) (pause % 1_000_000)); // a period, not a wait for a condition
                }
                if (prefetchTimeoutNanos > 0) {
                    returnStale();
                }
                if (System.nanoTime() - nextBeat < 0) {
                    continue;
                }
                nextBeat += beat;
                int e = send(b -> FrameCodec.encodeHeartbeat(b, taken));
                if (e == Native.EPIPE || e == Native.ECONNRESET) {
                    LOG.log(Level.INFO, "prefork worker: the supervisor is gone; exiting");
                    stopOnce();
                    System.exit(WorkerExit.OK);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private interface Encoder {
        int encode(ByteBuffer dst);
    }

    /** Sends an id-list frame; no lambda, so nothing is allocated per report. */
    private void sendIds(FrameType type, long[] ids, int count) {
        synchronized (sendLock) {
            if (!channel.isClosed()) {
                transmit(FrameCodec.encodeIds(channel.sendBuffer(), type, ids, count));
            }
        }
    }

    private void sendId(FrameType type, long id) {
        synchronized (sendLock) {
            if (!channel.isClosed()) {
                transmit(FrameCodec.encodeId(channel.sendBuffer(), type, id));
            }
        }
    }

    /**
     * Sends the first {@code length} bytes of the send buffer; caller holds {@link #sendLock}.
     *
     * @return 0, or the errno of a failed send (the supervisor is gone; the receive loop will see it too)
     */
    private int transmit(int length) {
        try {
            channel.send(length, null, 0, false);
            return 0;
        } catch (NativeException e) {
            LOG.log(Level.DEBUG, "prefork worker: send to supervisor failed: " + e.getMessage());
            return e.errno();
        }
    }

    /** Encodes and sends one frame; returns 0 or the errno of a failed send (see {@link #transmit}). */
    private int send(Encoder encoder) {
        synchronized (sendLock) {
            if (channel.isClosed()) {
                return Native.EPIPE;
            }
            return transmit(encoder.encode(channel.sendBuffer()));
        }
    }

    /** Stops once, whichever comes first: channel closed, SIGTERM (shutdown hook), protocol error. */
    private void stopOnce() {
        if (!stopCalled.compareAndSet(false, true)) {
            return;
        }
        stopping = true;
        // What waits untaken goes back to the supervisor now (REJECTED), not when this JVM is gone.
        pump(0, null);
        Worker w = worker;
        if (w != null) {
            try {
                w.stop();
            } catch (Throwable t) {
                LOG.log(Level.WARNING, "prefork worker: " + w.getClass().getName() + ".stop() failed", t);
            }
        }
        if (handlers != null) {
            // Interrupting a thread blocked on a SocketChannel closes the channel, which unblocks it.
            handlers.shutdownNow();
            try {
                handlers.awaitTermination(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Ctrl-C in a terminal sends SIGINT to the whole foreground process group, workers included. The supervisor
     * decides how to stop (gracefully, draining connections), so a worker must not die on its own at that signal.
     */
    private static void ignoreInterrupts() {
        // False under -Xrs: then the JVM keeps its default handling, and Ctrl-C stops workers directly.
        Signals.ignore("INT");
    }

    private static Worker instantiate(String className) throws ReflectiveOperationException {
        Class<?> c = Class.forName(className, true, ClassLoader.getSystemClassLoader());
        if (!Worker.class.isAssignableFrom(c)) {
            throw new ClassCastException(className + " does not implement " + Worker.class.getName());
        }
        return (Worker) c.getConstructor().newInstance();
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    // --------------------------------------------------------------------------------------- public API objects

    private static final class ContextImpl implements WorkerContext {
        final int index;
        final long pid;
        final int concurrency;
        final Map<String, String> settings;

        ContextImpl(int index, long pid, int concurrency, Map<String, String> settings) {
            this.index = index;
            this.pid = pid;
            this.concurrency = concurrency;
            this.settings = settings;
        }

        @Override
        public int index() {
            return index;
        }

        @Override
        public long pid() {
            return pid;
        }

        @Override
        public int concurrency() {
            return concurrency;
        }

        @Override
        public Map<String, String> settings() {
            return settings;
        }
    }

    /** A connection as the user's handler sees it; also the task that serves it (no wrapper per connection). */
    private static final class ConnectionImpl implements Connection, Runnable {
        /** Kinds: a connection to serve; an entry whose descriptor the kernel dropped; one that cannot be served. */
        static final int SERVE = 0;
        static final int LOST = 1;
        static final int REFUSED = 2;

        final WorkerRuntime runtime;
        final int kind;
        final long id;
        final SocketChannel channel;
        final InetSocketAddress remote;
        final InetSocketAddress local;
        final long acceptedEpochMicros;

        ConnectionImpl(WorkerRuntime runtime, long id, SocketChannel channel, InetSocketAddress remote,
                       InetSocketAddress local, long acceptedEpochMicros) {
            this.runtime = runtime;
            this.kind = SERVE;
            this.id = id;
            this.channel = channel;
            this.remote = remote;
            this.local = local;
            this.acceptedEpochMicros = acceptedEpochMicros;
        }

        /** An entry with no channel to serve: {@link #LOST} or {@link #REFUSED}. */
        ConnectionImpl(WorkerRuntime runtime, long id, int kind) {
            this.runtime = runtime;
            this.kind = kind;
            this.id = id;
            this.channel = null;
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
        public InetSocketAddress localAddress() {
            return local;
        }

        @Override
        public Instant acceptedAt() {
            return Instant.ofEpochSecond(acceptedEpochMicros / 1_000_000, (acceptedEpochMicros % 1_000_000) * 1000);
        }

        @Override
        public String toString() {
            return "Connection(id=" + id + ", remote=" + remote + ")";
        }
    }
}
