package io.prefork.supervisor.internal.dispatch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.MetricRegistry;
import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.WireAddress;
import io.prefork.internal.wire.FrameException;
import io.prefork.internal.wire.FrameType;
import io.prefork.supervisor.internal.OpenSockets;
import io.prefork.supervisor.internal.loop.ManualClock;
import io.prefork.supervisor.internal.loop.Timers;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The dispatcher's rules, in-process: real SEQPACKET socket pairs stand for the workers' channels (the test plays
 * the worker on the other end), real descriptors stand for accepted connections, and a manual clock drives time.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class DispatcherTest {
    private static final byte[] ADDRESS = WireAddress.encode(new InetSocketAddress("127.0.0.1", 40000));

    private final ManualClock clock = new ManualClock();
    private final Timers timers = new Timers(clock);
    private final SupervisorMetrics metrics = new SupervisorMetrics(new MetricRegistry());
    private final List<WorkerProcess> workers = new ArrayList<>();
    private final List<ControlChannel> workerEnds = new ArrayList<>();
    private final Lifecycle lifecycle = new Lifecycle();
    private final FrameCodec.HandoffReader reader = new FrameCodec.HandoffReader();
    private Dispatcher dispatcher;
    private int target = 1;
    private long nextId = 1;
    private Set<String> socketsBefore;

    @BeforeEach
    void noteOpenSockets() {
        socketsBefore = OpenSockets.now();
    }

    @AfterEach
    void noDescriptorLeaks() {
        closeAll();
        assertEquals(Set.of(), OpenSockets.openedSince(socketsBefore), "sockets left open");
    }

    @Test
    void aConnectionRejectedTooOftenIsDroppedAndClosed() throws Exception {
        target = 1; // explicit rejections allowed: 2 * target + 3
        create(1, 0);
        worker();
        long id = connection();
        int limit = 2 * target + 3;
        for (int i = 1; i <= limit; i++) {
            dispatchAndSend();
            assertEquals(List.of(id), receiveIds(0));
            report(0, FrameType.REJECTED, id);
            dispatcher.receiveFrom(workers.get(0));
            assertEquals(1, dispatcher.queued(), "back in the queue after rejection " + i);
        }
        dispatchAndSend();
        receiveIds(0);
        report(0, FrameType.REJECTED, id);
        dispatcher.receiveFrom(workers.get(0));
        assertEquals(0, dispatcher.queued());
        assertEquals(1, metrics.dropped.getCount());
        assertEquals(limit, metrics.redispatched.getCount());
        assertEquals(List.of(), lifecycle.abandoned);
    }

    @Test
    void descriptorsLostInTransitAreSentAgainFarMoreOften() throws Exception {
        create(1, 0);
        worker();
        long id = connection();
        for (int i = 0; i < Dispatcher.MAX_TRANSIENT_RETURNS; i++) {
            dispatchAndSend();
            receiveIds(0);
            report(0, FrameType.LOST, id);
            dispatcher.receiveFrom(workers.get(0));
            assertEquals(1, dispatcher.queued());
        }
        dispatchAndSend();
        receiveIds(0);
        report(0, FrameType.LOST, id);
        dispatcher.receiveFrom(workers.get(0));
        assertEquals(0, dispatcher.queued(), "dropped after " + Dispatcher.MAX_TRANSIENT_RETURNS + " returns");
        assertEquals(1, metrics.dropped.getCount());
    }

    @Test
    void proxyRefusalsReportedByAWorkerAreCounted() throws Exception {
        create(1, 0);
        worker();
        ControlChannel end = workerEnds.get(0);
        assertTrue(end.send(FrameCodec.encodeProxyRefused(end.sendBuffer(), 3), new int[0], 0, false));
        dispatcher.receiveFrom(workers.get(0));
        assertTrue(end.send(FrameCodec.encodeProxyRefused(end.sendBuffer(), 2), new int[0], 0, false));
        dispatcher.receiveFrom(workers.get(0));
        assertEquals(5, metrics.proxyRefused.getCount(), "each frame carries the refusals since the previous one");
        assertEquals(List.of(), lifecycle.abandoned, "a normal report, not a protocol error");
    }

    @Test
    void aReportOutOfOrderIsCountedAndOneForAConnectionNeverSentIsAProtocolError() throws Exception {
        create(2, 0); // concurrency 2: both go to the one worker, in one message
        worker();
        long first = connection();
        long second = connection();
        dispatchAndSend();
        assertEquals(List.of(first, second), receiveIds(0), "one HANDOFF carries both, in order");

        report(0, FrameType.TAKEN, second);
        dispatcher.receiveFrom(workers.get(0));
        assertEquals(1, metrics.reordered.getCount(), "taken out of FIFO order");
        assertEquals(List.of(), lifecycle.abandoned, "out of order is logged and counted, not fatal");
        report(0, FrameType.TAKEN, first);
        dispatcher.receiveFrom(workers.get(0));
        assertEquals(1, metrics.reordered.getCount());
        assertEquals(2, workers.get(0).held().size());

        report(0, FrameType.REJECTED, 999);
        dispatcher.receiveFrom(workers.get(0));
        assertEquals(List.of("protocol error"), lifecycle.abandoned);
    }

    @Test
    void leastBusyFirstThenPrefetchOnlyToWorkersThatHaveNotGivenConnectionsBack() throws Exception {
        create(1, 1); // concurrency 1, prefetch 1
        WorkerProcess a = worker();
        WorkerProcess b = worker();
        connection();
        connection();
        dispatchAndSend();
        assertEquals(1, a.inFlight());
        assertEquals(1, b.inFlight(), "the idle worker before any prefetch");
        long third = connection();
        long fourth = connection();
        dispatchAndSend();
        assertEquals(2, a.inFlight());
        assertEquals(2, b.inFlight(), "one prefetched to each");
        receiveIds(0);
        List<Long> toB = receiveIds(1);

        // b's handlers stayed busy: it returns its prefetched one; from now on only a may take one ahead.
        report(1, FrameType.TAKEN, toB.get(0));
        dispatcher.receiveFrom(b);
        report(1, FrameType.RETURNED, toB.get(1));
        dispatcher.receiveFrom(b);
        assertFalse(b.mayPrefetch());
        assertEquals(1, dispatcher.queued());
        dispatchAndSend();
        assertEquals(1, dispatcher.queued(), "a is full with its prefetch, b may not prefetch");
        assertEquals(1, metrics.prefetchReturned.getCount());

        // One of b's connections finishes: b may take one ahead again.
        report(1, FrameType.DONE, toB.get(0));
        dispatcher.receiveFrom(b);
        assertTrue(b.mayPrefetch());
        dispatchAndSend();
        assertEquals(0, dispatcher.queued());
        assertEquals(1, b.inFlight());
        assertTrue(List.of(third, fourth).contains(receiveIds(1).get(0)));
    }

    @Test
    void aDrainingWorkersLastDoneIsReportedAndItsOutboxGoesBackToTheHeadOfTheQueue() throws Exception {
        create(2, 0);
        WorkerProcess w = worker();
        long first = connection();
        dispatchAndSend();
        receiveIds(0);
        report(0, FrameType.TAKEN, first);
        dispatcher.receiveFrom(w);
        long queuedEarlier = connection();
        dispatcher.dispatch(); // assigned to w's outbox, not sent
        long newer = connection();
        w.draining("test");
        assertEquals(1, dispatcher.giveBack(w, false));
        assertEquals(2, dispatcher.queued());
        report(0, FrameType.DONE, first);
        dispatcher.receiveFrom(w);
        assertEquals(List.of(w), lifecycle.drained);

        worker();
        dispatchAndSend();
        assertEquals(List.of(queuedEarlier, newer), receiveIds(1), "what was given back goes first");
    }

    // ------------------------------------------------------------------------------------------------ harness

    private void create(int concurrency, int prefetch) {
        dispatcher = newDispatcher(concurrency, prefetch);
    }

    private Dispatcher newDispatcher(int concurrency, int prefetch) {
        Dispatcher d = new Dispatcher(workers, concurrency, prefetch, 1024, () -> target, timers, metrics);
        d.lifecycle(lifecycle);
        return d;
    }

    /** A READY worker whose channel's other end the test holds. */
    private WorkerProcess worker() throws NativeException {
        ControlChannel[] pair = ControlChannel.pair();
        WorkerProcess w = new WorkerProcess(workers.size() + 1, workers.size(), "token", pair[0], -1, Long.MAX_VALUE,
                clock.nanoTime());
        w.booting();
        w.ready(clock.nanoTime());
        workers.add(w);
        workerEnds.add(pair[1]);
        return w;
    }

    /** A queued connection: a real descriptor (one end of a socket pair; the other is closed at once). */
    private long connection() throws NativeException {
        int[] sv = Native.seqpacketPair();
        Native.close(sv[1]);
        long id = nextId++;
        PendingConnection c = dispatcher.take(id, sv[0], clock.nanoTime(), 0);
        System.arraycopy(ADDRESS, 0, c.peer, 0, ADDRESS.length);
        c.peerLength = ADDRESS.length;
        dispatcher.enqueue(c);
        return id;
    }

    private void dispatchAndSend() {
        dispatcher.dispatch();
        dispatcher.flushAll();
    }

    /** What worker {@code n} was sent since last asked: the ids of every HANDOFF entry; the descriptors closed. */
    private List<Long> receiveIds(int n) throws NativeException, FrameException {
        ControlChannel end = workerEnds.get(n);
        List<Long> ids = new ArrayList<>();
        int length;
        while ((length = end.receive(true)) > 0) {
            ByteBuffer buf = end.receiveBuffer();
            assertEquals(FrameType.HANDOFF, FrameCodec.readHeader(buf, length, false));
            int count = FrameCodec.readHandoffCount(buf, length);
            assertEquals(count, end.receivedDescriptorCount(), "one descriptor per entry");
            end.closeReceivedDescriptors();
            reader.reset(buf, length);
            for (int i = 0; i < count; i++) {
                reader.next();
                ids.add(reader.id());
            }
            reader.finish();
        }
        return ids;
    }

    /** Worker {@code n} reports {@code type} for {@code id}. */
    private void report(int n, FrameType type, long id) throws NativeException {
        ControlChannel end = workerEnds.get(n);
        int length = FrameCodec.encodeId(end.sendBuffer(), type, id);
        assertTrue(end.send(length, new int[0], 0, false));
    }

    private void closeAll() {
        dispatcher.close();
        for (WorkerProcess w : workers) {
            dispatcher.dropAll(w);
            w.channel().close();
        }
        for (ControlChannel c : workerEnds) {
            c.close();
        }
        workers.clear();
        workerEnds.clear();
    }


    /** Records what the dispatcher asks of the pool. */
    private static final class Lifecycle implements Dispatcher.Lifecycle {
        final List<String> abandoned = new ArrayList<>();
        final List<WorkerProcess> drained = new ArrayList<>();

        @Override
        public void ready(WorkerProcess w) {
        }

        @Override
        public void abandon(WorkerProcess w, String reason) {
            abandoned.add(reason);
        }

        @Override
        public void drained(WorkerProcess w) {
            drained.add(w);
        }

        @Override
        public void recycle(WorkerProcess w) {
        }
    }
}
