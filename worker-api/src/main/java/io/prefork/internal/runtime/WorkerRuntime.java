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
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The worker side of the handoff: receives descriptors from the supervisor, wraps them, acknowledges them and runs
 * the user's {@link Worker#handle} on up to {@code concurrency} threads.
 *
 * <p>Threads: the thread that calls {@link #run} receives (it is the only one that touches the receive side of the
 * channel); handler threads and the heartbeat thread send, serialised by {@link #sendLock}. The runtime never holds
 * more than {@code concurrency} connections because the supervisor never sends more, so the handler queue is
 * bounded by the supervisor, not here.
 *
 * <p>Ordering of reports for one connection: ACCEPTED is sent before the handler is started, so DONE can never
 * overtake it. ACCEPTED is sent as soon as the descriptor is wrapped, because the supervisor holds its own copy of
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
    private final Object sendLock = new Object();
    /** Notified whenever a handler finishes, so a receive paused on a full descriptor table can retry. */
    private final Object slotFreed = new Object();
    private final AtomicInteger held = new AtomicInteger();
    private final AtomicBoolean stopCalled = new AtomicBoolean();
    private volatile boolean stopping;
    private volatile Worker worker;
    private ThreadPoolExecutor handlers;
    /** Concurrency 1: connections are served on the receiving thread (see onHandoff). */
    private boolean inline;

    // Receive-thread scratch, reused for every frame.
    private final FrameCodec.HandoffReader reader = new FrameCodec.HandoffReader();
    private final long[] acceptedIds = new long[FrameCodec.MAX_FDS_PER_FRAME];
    private final ConnectionImpl[] acceptedConnections = new ConnectionImpl[FrameCodec.MAX_FDS_PER_FRAME];
    private final long[] rejectedIds = new long[FrameCodec.MAX_FDS_PER_FRAME];
    private final long[] lostIds = new long[FrameCodec.MAX_FDS_PER_FRAME];

    WorkerRuntime(ControlChannel channel, ChannelWrapper wrapper, int index, int concurrency, Map<String, String> settings) {
        this.channel = channel;
        this.wrapper = wrapper;
        this.context = new ContextImpl(index, ProcessHandle.current().pid(), concurrency, Map.copyOf(settings));
    }

    /** Boots the worker, then receives until the supervisor closes the channel; returns the exit code. */
    int run(String className) {
        ignoreInterrupts();
        // Initialise the logging backend now: its first use opens configuration files, which would fail later
        // if handlers had filled the descriptor table.
        LOG.isLoggable(Level.INFO);
        try {
            worker = instantiate(className);
            worker.start(context);
        } catch (Throwable t) {
            String message = bootFailure(className, t);
            System.err.println("prefork worker " + context.index + " (pid " + context.pid + "): " + message);
            send(buf -> FrameCodec.encodeBootFailed(buf, message));
            return WorkerExit.BOOT_FAILED;
        }
        inline = context.concurrency == 1;
        if (!inline) {
            AtomicInteger n = new AtomicInteger();
            // The supervisor never has more than `concurrency` connections in flight here, so a bounded array
            // queue of that size never fills (a connection waits in it only between a handler's DONE and its next
            // take) and, unlike a linked queue, allocates nothing per connection.
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

    /**
     * Receives until end-of-stream. Around every receive runs the close-dup sentinel: one descriptor slot is kept
     * reserved and released just before recvmsg, so an arriving descriptor finds a free slot even when handlers have
     * filled the table; after the receive the slot is reserved again, and if that fails (the table is full) receiving
     * pauses until a handler finishes and frees one. It is not airtight in a JVM (another thread may take the slot
     * in between), so a descriptor the kernel drops anyway (MSG_CTRUNC) is reported LOST and the supervisor, which
     * still holds its copy, sends that connection again.
     */
    private int receiveLoop() {
        int reserve = reserveOrWait();
        while (true) {
            int length;
            try {
                Native.closeQuietly(reserve);
                reserve = -1;
                length = channel.receive(false);
                reserve = reserveOrWait();
            } catch (NativeException e) {
                LOG.log(Level.ERROR, "prefork worker: receiving from the supervisor failed: " + e.getMessage());
                stopOnce();
                return WorkerExit.PROTOCOL_ERROR;
            }
            if (length == ControlChannel.END_OF_STREAM) {
                // The supervisor closed our channel or died: no one can send us work or hear our reports.
                Native.closeQuietly(reserve);
                stopOnce();
                return WorkerExit.OK;
            }
            try {
                FrameType type = FrameCodec.readHeader(channel.receiveBuffer(), length, false);
                if (type != FrameType.HANDOFF) {
                    throw new FrameException("unexpected frame type " + type + " from the supervisor");
                }
                onHandoff(channel.receiveBuffer(), length);
            } catch (FrameException e) {
                channel.closeReceivedDescriptors();
                LOG.log(Level.ERROR, "prefork worker: invalid frame from the supervisor, stopping: " + e.getMessage());
                stopOnce();
                return WorkerExit.PROTOCOL_ERROR;
            }
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

        int accepted = 0;
        int rejected = 0;
        int lost = 0;
        reader.reset(buf, length);
        for (int i = 0; i < count; i++) {
            reader.next();
            long id = reader.id();
            if (i >= fds) {
                // MSG_CTRUNC: the kernel dropped this descriptor (our table was full). The supervisor still has
                // its copy and will give the connection to a worker that can take it.
                lostIds[lost++] = id;
                continue;
            }
            int fd = channel.receivedDescriptor(i);
            if (stopping) {
                Native.closeQuietly(fd);
                rejectedIds[rejected++] = id;
                continue;
            }
            try {
                InetSocketAddress peer = reader.peerAddress();
                SocketChannel ch = wrapper.wrap(fd, reader.peerIsIpv6(), peer);
                // The JDK read the local address (getsockname) when it built the channel: reuse that, no copy.
                InetSocketAddress local = (InetSocketAddress) ch.getLocalAddress();
                acceptedConnections[accepted] = new ConnectionImpl(this, id, ch, peer, local,
                        reader.acceptedEpochMicros());
                acceptedIds[accepted++] = id;
            } catch (IOException | RuntimeException e) {
                LOG.log(Level.WARNING, "prefork worker: could not wrap connection " + id + ", rejecting it: " + e);
                rejectedIds[rejected++] = id; // wrap() closed the descriptor
            }
        }
        if (accepted > 0) {
            held.addAndGet(accepted);
            final int a = accepted;
            sendIds(FrameType.ACCEPTED, acceptedIds, a);
            for (int i = 0; i < accepted; i++) {
                ConnectionImpl c = acceptedConnections[i];
                acceptedConnections[i] = null;
                if (inline) {
                    // Concurrency 1: the supervisor sends nothing more until this one is DONE, so the receiving
                    // thread may as well serve it, saving a thread handoff (a wakeup and a context switch) per
                    // connection. The heartbeat thread still notices a dead supervisor meanwhile.
                    c.run();
                    continue;
                }
                try {
                    handlers.execute(c);
                } catch (RejectedExecutionException e) {
                    // Only while stopping (the pool is shut down), or if the supervisor broke its concurrency
                    // promise: the connection was already ACCEPTED, so close it and report it done.
                    LOG.log(Level.WARNING, "prefork worker: no handler thread for connection " + c.id + ": " + e);
                    finish(c);
                }
            }
        }
        if (rejected > 0) {
            final int r = rejected;
            sendIds(FrameType.REJECTED, rejectedIds, r);
        }
        if (lost > 0) {
            final int l = lost;
            LOG.log(Level.WARNING, "prefork worker: " + l + " descriptor(s) dropped by the kernel (descriptor table full?);"
                    + " the supervisor will send those connections elsewhere");
            sendIds(FrameType.LOST, lostIds, l);
        }
    }

    private void serve(ConnectionImpl c) {
        try {
            worker.handle(c);
        } catch (Throwable t) {
            LOG.log(Level.WARNING, "prefork worker: handler failed on connection " + c.id, t);
        } finally {
            finish(c);
        }
    }

    /** Closes the connection (if the handler did not), frees its slot and reports it DONE. */
    private void finish(ConnectionImpl c) {
        try {
            c.channel.close();
        } catch (IOException ignored) {
            // The descriptor is released even when close reports an error.
        }
        held.decrementAndGet();
        synchronized (slotFreed) {
            slotFreed.notifyAll();
        }
        sendId(FrameType.DONE, c.id);
    }

    /**
     * Sends a heartbeat every second. A heartbeat the kernel refuses because the supervisor's end is gone (EPIPE,
     * ECONNRESET) means the supervisor died: exit, even if the receiving thread is busy in a handler and has not
     * seen end-of-stream yet, so no worker outlives its supervisor by more than about a second.
     */
    private void heartbeats() {
        try {
            while (!stopping) {
                Thread.sleep(HEARTBEAT_INTERVAL_MS); // a period, not a wait for a condition
                int e = send(b -> FrameCodec.encodeHeartbeat(b, held.get()));
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

    static String bootFailure(String className, Throwable t) {
        if (t instanceof ClassNotFoundException) {
            return "worker class '" + className + "' was not found on the worker classpath (--worker-classpath)";
        }
        if (t instanceof NoSuchMethodException) {
            return "worker class '" + className + "' has no public no-argument constructor";
        }
        if (t instanceof ClassCastException) {
            return "worker class '" + className + "' does not implement " + Worker.class.getName();
        }
        Throwable cause = t instanceof java.lang.reflect.InvocationTargetException && t.getCause() != null ? t.getCause() : t;
        StringWriter trace = new StringWriter();
        cause.printStackTrace(new PrintWriter(trace));
        String where = t == cause ? ".start() threw " : " constructor threw ";
        return "worker class '" + className + "'" + where + cause + "\n" + trace;
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
        final WorkerRuntime runtime;
        final long id;
        final SocketChannel channel;
        final InetSocketAddress remote;
        final InetSocketAddress local;
        final long acceptedEpochMicros;

        ConnectionImpl(WorkerRuntime runtime, long id, SocketChannel channel, InetSocketAddress remote,
                       InetSocketAddress local, long acceptedEpochMicros) {
            this.runtime = runtime;
            this.id = id;
            this.channel = channel;
            this.remote = remote;
            this.local = local;
            this.acceptedEpochMicros = acceptedEpochMicros;
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
