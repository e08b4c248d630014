package io.prefork.internal.runtime;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.nativeio.Syscalls;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.FrameType;
import io.prefork.internal.wire.SharedRegion;
import io.prefork.internal.wire.WireAddress;
import io.prefork.worker.Worker;
import java.lang.System.Logger.Level;
import java.util.ArrayDeque;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The worker side of the handoff: boots the user's {@link Worker}, takes (claims) received connections as handler
 * slots free up and runs {@link Worker#handle} on up to {@code concurrency} threads. Its parts have files of their
 * own: {@link Receiver} (recvmsg, the descriptor sentinel, wrapping), {@link Reports} (sending and batching
 * reports), {@link Heartbeat}, and the public API's {@link WorkerConnection} and {@link WorkerContextImpl}.
 *
 * <p>Received is not taken. Every received entry goes into {@link #waiting}, in arrival order, and is taken only
 * when a slot is free: at most {@code concurrency} connections are ever taken at once. Without the supervisor's
 * {@code --prefetch} that is at once, because the supervisor never sends more than there are free slots; with it,
 * up to that many handoffs wait here, untaken, so that a handler finishing one connection starts the next with no
 * round trip through the supervisor. Until a connection is taken the supervisor keeps its copy, so if this worker
 * dies the connection is served elsewhere; and if another worker frees first, the supervisor revokes a waiting one
 * (its claim slot) and serves it there, and this worker closes its copy unread.
 *
 * <p>Reports go out in arrival order (the supervisor checks FIFO): {@link #pump} walks {@link #waiting} from the
 * head, and reports are added and flushed while holding {@link #state}, so two threads never interleave them.
 *
 * <p>Threads: the main thread boots the worker, then only waits for a reason to exit ({@link ExitRequests}). The
 * receiving thread runs {@link Receiver#run()}; at concurrency 1 it also serves (no thread handoff per connection).
 * Handler threads (concurrency above 1) serve, and after each connection take the next waiting one themselves. The
 * heartbeat thread counts heartbeats and watches for a dead supervisor.
 *
 * <p>Claims and dones are words in the shared region ({@link SharedRegion}), not messages: a connection is claimed
 * (compare-and-set of its slot) before its handler starts, so its done can never be counted before its claim; the
 * supervisor reads both when it wakes, and asks for a WAKE frame before it sleeps if it needs to hear of the next
 * one (it holds its own copy of the socket until it sees the claim, and while it does, a worker's close sends no FIN
 * to the client).
 *
 * <p>Logging goes through {@link System.Logger}, not a logging library: the runtime lives inside the user's JVM
 * and must not impose a logging binding on it; System.Logger routes to whatever the user's application installs.
 */
final class WorkerRuntime {
    private static final System.Logger LOG = System.getLogger("io.prefork.worker");

    private final WorkerStartup startup;
    /** The memory shared with the supervisor: heartbeat counter. */
    private final SharedRegion region;
    private final ControlChannel channel;
    private final WorkerContextImpl context;
    private final ExitRequests exits;
    private final Reports reports;
    private final Receiver receiver;
    /** Guards {@link #waiting}, {@link #taken} and the run of reports; reports go out holding it, so in order. */
    private final Object state = new Object();
    /** Received, not yet taken, in arrival order. */
    private final ArrayDeque<WorkerConnection> waiting = new ArrayDeque<>();
    /** Connections taken (claimed) and not yet done; written under {@link #state}. */
    private volatile int taken;
    /** Notified whenever a handler finishes, so a receive paused on a full descriptor table can retry. */
    private final Object slotFreed = new Object();
    private final AtomicBoolean stopCalled = new AtomicBoolean();
    private volatile boolean stopping;
    private volatile Worker worker;
    private ThreadPoolExecutor handlers;
    /** Concurrency 1: connections are served on the receiving thread (see {@link Receiver#run()}). */
    private final boolean inline;
    /** The PROXY protocol check before each handler, or null without --proxy-protocol. */
    private final ProxyGate proxyGate;
    /** Handler threads' one-slot pump scratch. */
    private final ThreadLocal<WorkerConnection[]> handlerScratch = ThreadLocal.withInitial(() -> new WorkerConnection[1]);

    WorkerRuntime(ControlChannel channel, SharedRegion region, ChannelWrapper wrapper, WorkerStartup startup,
                  ExitRequests exits) {
        this.startup = startup;
        this.region = region;
        this.channel = channel;
        this.context = new WorkerContextImpl(startup, ProcessHandle.current().pid());
        this.exits = exits;
        this.reports = new Reports(channel);
        this.receiver = new Receiver(channel, wrapper, this);
        this.inline = startup.concurrency() == 1;
        this.proxyGate = startup.proxy().enabled() ? new ProxyGate(startup.proxy()) : null;
    }

    /**
     * Boots the worker (on the calling thread, the main one) and, if it started, reports READY and starts the
     * receiving and heartbeat threads, which post to {@link ExitRequests} when the worker must exit.
     *
     * @return {@link ExitReason#BOOT_FAILED} if the worker did not start, else null
     */
    ExitReason start() {
        ignoreInterrupts();
        // Initialise the logging backend now: its first use opens configuration files, which would fail later
        // if handlers had filled the descriptor table.
        LOG.isLoggable(Level.INFO);
        String className = startup.workerClass();
        boolean inStart = false;
        try {
            worker = instantiate(className);
            inStart = true;
            worker.start(context);
        } catch (Throwable t) {
            String message = BootFailure.describe(className, t, inStart);
            System.err.println("prefork worker " + context.index() + " (pid " + context.pid() + "): " + message);
            reports.send(buf -> FrameCodec.encodeBootFailed(buf, message));
            return ExitReason.BOOT_FAILED;
        }
        if (!inline) {
            AtomicInteger n = new AtomicInteger();
            // Connections reach the pool only when a slot is free (see pump), so a bounded array queue of that size
            // never fills and, unlike a linked queue, allocates nothing per connection.
            handlers = new ThreadPoolExecutor(concurrency(), concurrency(), 0, TimeUnit.SECONDS,
                    new ArrayBlockingQueue<>(concurrency()), r -> daemon(r, "prefork-handler-" + n.incrementAndGet()));
            handlers.prestartAllCoreThreads();
        }
        Runtime.getRuntime().addShutdownHook(new Thread(this::stopOnce, "prefork-stop"));
        daemon(new Heartbeat(this, region, channel, reports, exits), "prefork-heartbeat").start();
        reports.send(buf -> FrameCodec.encodeReady(buf, context.pid()));
        daemon(() -> {
            ExitReason reason = ExitReason.CRASHED; // if run() throws: the thread's stack trace goes to stderr
            try {
                reason = receiver.run();
            } finally {
                exits.post(reason);
            }
        }, "prefork-receive").start();
        return null;
    }

    int concurrency() {
        return context.concurrency();
    }

    boolean inline() {
        return inline;
    }

    boolean stopping() {
        return stopping;
    }

    /** Connections refused by the PROXY protocol check since the last call (0 without --proxy-protocol). */
    int takeProxyRefusedCount() {
        return proxyGate == null ? 0 : proxyGate.takeRefusedCount();
    }

    /** Queues a received entry behind those already waiting; called by the receiver. */
    void enqueue(WorkerConnection c) {
        synchronized (state) {
            waiting.addLast(c);
        }
    }

    /**
     * Waits briefly for a handler to finish and free a descriptor: only a handler finishing frees descriptors here,
     * and it notifies; the timeout covers slots freed by anything else (user threads closing files).
     *
     * @return false if interrupted
     */
    boolean awaitSlotFreed() {
        synchronized (slotFreed) {
            try {
                slotFreed.wait(20);
                return true;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
    }

    /**
     * Takes connections from the head of {@link #waiting} while slots are free (at most {@code max}), settling each
     * entry's claim slot in the shared region in arrival order: CLAIMED for one taken (before its handler reads a
     * byte: from then on the supervisor may close its copy), or DECLINED and a LOST or REJECTED report for one that
     * cannot be served. An entry the supervisor REVOKED (to serve it elsewhere) is closed unread and reported
     * nowhere.
     *
     * @param out receives the taken connections, which the caller must start; null when taking none
     * @return how many were taken
     */
    int pump(int max, WorkerConnection[] out) {
        if (out != null) {
            max = Math.min(max, out.length);
        }
        int n = 0;
        String broken = null;
        synchronized (state) {
            while (!waiting.isEmpty()) {
                WorkerConnection c = waiting.peekFirst();
                FrameType report;
                boolean take = false;
                if (c.kind == WorkerConnection.Kind.LOST) {
                    report = FrameType.LOST;
                } else if (c.kind == WorkerConnection.Kind.REFUSED || stopping) {
                    report = FrameType.REJECTED;
                } else if (taken < concurrency() && n < max) {
                    report = null;
                    take = true;
                } else {
                    break;
                }
                waiting.pollFirst();
                long before = region.settle(c.entry, c.id, take ? SharedRegion.CLAIMED : SharedRegion.DECLINED);
                if (before != SharedRegion.slotValue(c.id, SharedRegion.OFFERED)) {
                    c.closeQuietly();
                    if (before != SharedRegion.slotValue(c.id, SharedRegion.REVOKED)) {
                        broken = "the claim slot of entry " + c.entry + " (connection " + c.id + ") holds "
                                + SharedRegion.describe(before) + ", not OFFERED or REVOKED for it";
                        break;
                    }
                    continue; // revoked: the supervisor serves it elsewhere
                }
                if (take) {
                    taken++;
                    out[n++] = c;
                } else {
                    c.closeQuietly();
                    reports.add(report, c.id);
                }
            }
            reports.flush();
        }
        if (broken != null) {
            LOG.log(Level.ERROR, "prefork worker: protocol error in the region shared with the supervisor, stopping: "
                    + broken);
            exits.post(ExitReason.PROTOCOL_ERROR);
            return n;
        }
        if (n > 0) {
            wakeSupervisorIfAsked();
        }
        return n;
    }

    /** After a claim or a done: the one message those may cost, if the supervisor is waiting to hear. */
    private void wakeSupervisorIfAsked() {
        if (region.takeWakeRequest()) {
            reports.sendWake();
        }
    }

    /** Starts the first {@code n} of {@code started}, taken by the receiving thread, on the handler pool. */
    void startOnPool(WorkerConnection[] started, int n) {
        for (int i = 0; i < n; i++) {
            WorkerConnection c = started[i];
            started[i] = null;
            try {
                handlers.execute(c);
            } catch (RejectedExecutionException e) {
                // Only while stopping (the pool is shut down): the connection was already claimed, so close it and
                // report it done.
                LOG.log(Level.WARNING, "prefork worker: no handler thread for connection " + c.id + ": " + e);
                finish(c);
            }
        }
    }

    /** Runs the user's handler on {@code c}, then (above concurrency 1) on whatever waits for this thread's slot. */
    void serve(WorkerConnection c) {
        WorkerConnection[] next = inline ? null : handlerScratch.get();
        while (c != null) {
            try {
                // The PROXY protocol header is read here, on the serving thread, after the claim: the supervisor has
                // already let go of the connection, and a slow peer holds only this slot, never the supervisor.
                // A resumed (parked) connection had its header read on its first handoff: the next bytes are the
                // client's next request.
                if (proxyGate == null || c.resumed || proxyGate.admit(c)) {
                    worker.handle(c);
                }
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
     * Closes the connection (if the handler did not), frees its slot and counts it done in the shared region; or, if
     * the handler asked to park it, first gives it back to the supervisor (PARKED), then counts it done too.
     */
    private void finish(WorkerConnection c) {
        boolean parked = false;
        if (c.parkRequested() && c.channel != null && c.channel.isOpen() && !stopping) {
            // PARKED carries the descriptor. Once sendmsg returns the kernel holds the file in flight and then the
            // supervisor holds it, so closing our channel below sends no FIN: the client sees nothing.
            // Under the PROXY protocol the client's address came from the header, which is not sent again: the
            // parked entry carries it instead of the balancer's, so the next handler still sees the client.
            byte[] echo = c.remote == c.peer ? c.peerWire : WireAddress.encode(c.remote);
            if (reports.sendParked(c.id, c.acceptedEpochMicros, echo, c.fd, c.parkUnread()) == 0) {
                parked = true;
            }
        }
        if (!parked && c.shutdownFd >= 0) {
            // Revoked from another worker that may still hold a copy: without this its copy would keep the client
            // from seeing FIN until that worker reached the entry.
            Syscalls.shutdown(c.shutdownFd);
        }
        try {
            c.closeQuietly();
        } finally {
            // Even when the close throws an Error (a JDK class that could not initialise): the slot and the done
            // count must not be lost with it, or the worker serves one connection fewer at a time for good.
            synchronized (state) {
                taken--;
            }
            synchronized (slotFreed) {
                slotFreed.notifyAll();
            }
            // Counted after the close: the supervisor's copy is long closed (it closed it on the claim), so the close
            // here is what the client sees, and the count only frees capacity.
            region.doneOne();
            wakeSupervisorIfAsked();
        }
    }

    /** Stops once, whichever comes first: channel closed, SIGTERM (shutdown hook), protocol error. */
    void stopOnce() {
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
        try {
            Syscalls.ignoreSignal(Native.SIGINT);
        } catch (NativeException e) {
            LOG.log(Level.WARNING, "prefork worker: cannot ignore SIGINT, so Ctrl-C stops this worker directly: "
                    + e.getMessage());
        }
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
}
