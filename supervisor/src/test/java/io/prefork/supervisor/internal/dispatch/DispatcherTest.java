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
import io.prefork.internal.wire.SharedRegion;
import io.prefork.supervisor.internal.OpenSockets;
import io.prefork.supervisor.internal.loop.ManualClock;
import io.prefork.supervisor.internal.loop.Timers;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.nativeio.Memfd;
import io.prefork.supervisor.internal.process.WorkerProcess;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
    /** Per worker: its region's memfd, the test's own mapping (the worker's view), id -> entry number received. */
    private final List<Integer> regionFds = new ArrayList<>();
    private final List<SharedRegion> workerViews = new ArrayList<>();
    private final List<Map<Long, Long>> entriesReceived = new ArrayList<>();
    private final long[] entryCounts = new long[8];
    /** Ids received with the ELSEWHERE flag (revoked from another worker). */
    private final List<Long> flaggedElsewhere = new ArrayList<>();
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
            decline(0, FrameType.REJECTED, id);
            dispatcher.receiveFrom(workers.get(0));
            assertEquals(1, dispatcher.queued(), "back in the queue after rejection " + i);
        }
        dispatchAndSend();
        receiveIds(0);
        decline(0, FrameType.REJECTED, id);
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
            decline(0, FrameType.LOST, id);
            dispatcher.receiveFrom(workers.get(0));
            assertEquals(1, dispatcher.queued());
        }
        dispatchAndSend();
        receiveIds(0);
        decline(0, FrameType.LOST, id);
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
    void claimsAreReadFromTheRegionAndAReportForAConnectionNotDeclinedIsAProtocolError() throws Exception {
        create(2, 0); // concurrency 2: both go to the one worker, in one message
        worker();
        long first = connection();
        long second = connection();
        dispatchAndSend();
        assertEquals(List.of(first, second), receiveIds(0), "one HANDOFF carries both, in order");

        claim(0, second);
        assertTrue(dispatcher.collectAll());
        assertEquals(List.of(), lifecycle.abandoned);
        assertEquals(1, workers.get(0).held().size());
        assertFalse(dispatcher.collectAll(), "nothing new");
        claim(0, first);
        dispatcher.collectAll();
        assertEquals(2, workers.get(0).held().size());
        assertEquals(0, metrics.reordered.getCount());

        report(0, FrameType.REJECTED, 999);
        dispatcher.receiveFrom(workers.get(0));
        assertEquals(List.of("protocol error"), lifecycle.abandoned, "a report for a connection never sent");
    }

    @Test
    void aRejectionOfAnEntryNotDeclinedInItsSlotIsAProtocolErrorAndLeaksNothing() throws Exception {
        create(1, 0);
        worker();
        long id = connection();
        dispatchAndSend();
        receiveIds(0);
        report(0, FrameType.REJECTED, id); // its slot still says OFFERED
        dispatcher.receiveFrom(workers.get(0));
        assertEquals(List.of("protocol error"), lifecycle.abandoned);
        assertEquals(1, workers.get(0).unacked().size(), "left for giveBack, which the pool calls on abandon");
    }

    @Test
    void leastBusyFirstThenOneSentAheadToEach() throws Exception {
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
        long fifth = connection();
        dispatchAndSend();
        assertEquals(2, a.inFlight());
        assertEquals(2, b.inFlight(), "one prefetched to each");
        assertEquals(1, dispatcher.queued(), "no more than --prefetch ahead: the fifth waits in the supervisor");
        List<Long> sent = new ArrayList<>(receiveIds(0));
        sent.addAll(receiveIds(1));
        assertTrue(sent.containsAll(List.of(third, fourth)) && !sent.contains(fifth), sent.toString());
    }

    @Test
    void aDrainingWorkersLastDoneIsReportedAndItsOutboxGoesBackToTheHeadOfTheQueue() throws Exception {
        create(2, 0);
        WorkerProcess w = worker();
        long first = connection();
        dispatchAndSend();
        receiveIds(0);
        claim(0, first);
        dispatcher.collectAll();
        long queuedEarlier = connection();
        dispatcher.dispatch(); // assigned to w's outbox, not sent
        long newer = connection();
        w.draining("test");
        assertEquals(1, dispatcher.giveBack(w, false));
        assertEquals(2, dispatcher.queued());
        done(0);
        dispatcher.collectAll();
        assertEquals(List.of(w), lifecycle.drained);

        worker();
        dispatchAndSend();
        assertEquals(List.of(queuedEarlier, newer), receiveIds(1), "what was given back goes first");
    }

    @Test
    void aClaimReadFromTheRegionClosesTheSupervisorsCopy() throws Exception {
        create(1, 0);
        worker();
        long id = connectionWithClient(c -> clientHolder[0] = c);
        ControlChannel client = clientHolder[0];
        dispatchAndSend();
        receiveIds(0); // the worker's copy: closed at once, as if its handler were done
        assertEquals(ControlChannel.WOULD_BLOCK, client.receive(true), "the supervisor still holds its copy");
        assertFalse(dispatcher.collectAll(), "nothing claimed yet");
        assertEquals(ControlChannel.WOULD_BLOCK, client.receive(true));
        claim(0, id);
        assertTrue(dispatcher.collectAll());
        assertEquals(ControlChannel.END_OF_STREAM, client.receive(true), "every copy closed: the client sees the end");
        assertEquals(1, workers.get(0).held().size());
        assertEquals(1, workers.get(0).inFlight(), "claimed and not done");
        done(0);
        dispatcher.collectAll();
        assertEquals(0, workers.get(0).inFlight());
        assertEquals(List.of(), lifecycle.abandoned);
    }

    @Test
    void aDoneCountPastTheClaimsSeenIsAProtocolError() throws Exception {
        create(1, 0);
        worker();
        long id = connection();
        dispatchAndSend();
        receiveIds(0);
        claim(0, id);
        done(0);
        dispatcher.collectAll();
        assertEquals(List.of(), lifecycle.abandoned, "one claim, one done");
        done(0);
        dispatcher.collectAll();
        assertEquals(List.of("protocol error"), lifecycle.abandoned, "two done, one claimed");
    }

    @Test
    void aDoneCountGoingBackwardsIsAProtocolError() throws Exception {
        create(1, 0);
        worker();
        long id = connection();
        dispatchAndSend();
        receiveIds(0);
        claim(0, id);
        done(0);
        dispatcher.collectAll();
        raw(0).putLong(SharedRegion.DONE_OFFSET, 0);
        dispatcher.collectAll();
        assertEquals(List.of("protocol error"), lifecycle.abandoned);
    }

    @Test
    void aSlotNamingAnotherConnectionOrRevokedByTheWorkerIsAProtocolError() throws Exception {
        create(1, 0);
        worker();
        worker();
        long a = connection();
        long b = connection();
        dispatchAndSend();
        receiveIds(0);
        receiveIds(1);
        long entryA = entriesReceived.get(0).get(a);
        raw(0).putLong(SharedRegion.SLOTS_OFFSET + 8 * (int) entryA, SharedRegion.slotValue(a + 100,
                SharedRegion.CLAIMED));
        assertTrue(dispatcher.collectAll());
        assertEquals(List.of("protocol error"), lifecycle.abandoned, "a slot naming another connection");
        long entryB = entriesReceived.get(1).get(b);
        raw(1).putLong(SharedRegion.SLOTS_OFFSET + 8 * (int) entryB, SharedRegion.slotValue(b,
                SharedRegion.REVOKED));
        dispatcher.collectAll();
        assertEquals(List.of("protocol error", "protocol error"), lifecycle.abandoned,
                "REVOKED is the supervisor's to write");
    }

    @Test
    void aDeadWorkersClaimedConnectionsDieWithItAndItsUnclaimedOnesGoBackFirst() throws Exception {
        create(1, 2); // concurrency 1, prefetch 2: three sent to the one worker
        WorkerProcess w = worker();
        long claimedId = connectionWithClient(c -> clientHolder[0] = c);
        ControlChannel client = clientHolder[0];
        long second = connection();
        long third = connection();
        dispatchAndSend();
        assertEquals(List.of(claimedId, second, third), receiveIds(0));
        // It claims the first and dies before we read the region: the claim is there, in memory that outlived it.
        claim(0, claimedId);
        w.dead();
        assertEquals(2, dispatcher.giveBack(w, true), "only the unclaimed ones are served again");
        assertEquals(ControlChannel.END_OF_STREAM, client.receive(true), "the claimed one died with the worker");
        assertEquals(1, w.held().size());
        WorkerProcess other = worker();
        dispatchAndSend();
        assertEquals(List.of(second, third), receiveIds(1), "given back in their order, to the live worker");
        assertEquals(2, other.inFlight());
    }

    @Test
    void theSupervisorAsksForAWakeOnlyFromWorkersItMustHearFromAndSeesWhatCameBefore() throws Exception {
        create(1, 0);
        WorkerProcess a = worker();
        WorkerProcess b = worker();
        long id = connection();
        dispatchAndSend();
        int to = a.inFlight() == 1 ? 0 : 1;
        WorkerProcess busy = workers.get(to);
        WorkerProcess idle = busy == a ? b : a;
        receiveIds(to);
        assertFalse(dispatcher.prepareToSleep(false), "nothing moved: sleep");
        assertTrue(busy.region().wakeRequested(), "we hold a copy of what it was sent: wake us at its claim");
        assertFalse(idle.region().wakeRequested(), "nothing to hear from the idle one");

        claim(to, id);
        assertTrue(workerViews.get(to).takeWakeRequest(), "the claiming worker takes the request, once");
        assertFalse(workerViews.get(to).takeWakeRequest());
        assertTrue(dispatcher.prepareToSleep(false), "the claim is seen before sleeping: do not sleep");
        assertFalse(dispatcher.prepareToSleep(false), "the next time round, nothing moved");
        assertFalse(busy.region().wakeRequested(), "it holds only claimed ones and nothing waits for its capacity");

        connection(); // the idle worker takes this one
        dispatchAndSend();
        receiveIds(1 - to);
        long waiting = connection(); // now every worker is busy: it waits in the queue for a done
        dispatchAndSend();
        assertEquals(1, dispatcher.queued());
        dispatcher.prepareToSleep(false);
        assertTrue(busy.region().wakeRequested(), "a done would let the queued one in");
        done(to);
        assertTrue(dispatcher.prepareToSleep(false));
        dispatchAndSend();
        assertEquals(List.of(waiting), receiveIds(to));
    }

    /**
     * Revocable sending ahead: a connection sent ahead to a busy worker goes to a worker that frees first, the busy
     * one finds it REVOKED when it reaches it, and its slot is not reused until the busy worker has passed it.
     */
    @Test
    void aConnectionSentAheadToABusyWorkerIsRevokedAndSentToOneThatFreesFirst() throws Exception {
        create(1, 1);
        WorkerProcess a = worker();
        WorkerProcess b = worker();
        long first = connection();
        long second = connection();
        dispatchAndSend();
        int toA = receiveIds(0).get(0) == first ? 0 : 1;
        receiveIds(1);
        claim(0, toA == 0 ? first : second);
        claim(1, toA == 0 ? second : first);
        dispatcher.collectAll();
        long ahead = connection();
        dispatchAndSend();
        int busy = receiveIds(0).contains(ahead) ? 0 : 1;
        int freed = 1 - busy;
        WorkerProcess busyWorker = workers.get(busy);
        long entry = entriesReceived.get(busy).get(ahead);
        assertEquals(1, busyWorker.unacked().size(), "sent ahead, unclaimed");

        done(freed);
        dispatcher.collectAll();
        dispatchAndSend();
        assertEquals(List.of(ahead), receiveIds(freed), "our copy went to the worker that freed");
        assertEquals(List.of(ahead), flaggedElsewhere, "flagged: the busy worker may still hold a copy");
        assertEquals(SharedRegion.slotValue(ahead, SharedRegion.REVOKED),
                workerViews.get(busy).settle(entry, ahead, SharedRegion.CLAIMED), "the busy worker learns it lost it");
        assertEquals(0, busyWorker.unacked().size());
        assertFalse(busyWorker.mayPrefetch(), "nothing more sent ahead to it until one of its connections is done");
        assertEquals(entry, busyWorker.oldestUnsettled(), "its slot stays reserved until the worker passes it");
        assertEquals(1, metrics.prefetchReturned.getCount());
        claim(freed, ahead);
        dispatcher.collectAll();
        assertEquals(List.of(), lifecycle.abandoned);
        assertEquals(1, workers.get(freed).inFlight(), "the revoked one, now claimed by the worker that freed");
        assertEquals(1, busyWorker.inFlight(), "its long one; the revoked one no longer counts");
        assertEquals(2, a.inFlight() + b.inFlight());
        done(busy);
        dispatcher.collectAll();
        assertTrue(busyWorker.mayPrefetch(), "one of its connections is done: it may take one ahead again");
    }

    @Test
    void aRevokeThatLosesTheRaceToAClaimLeavesTheConnectionWithTheWorkerThatClaimedIt() throws Exception {
        create(1, 1);
        worker();
        worker();
        long first = connection();
        long second = connection();
        dispatchAndSend();
        List<Long> to0 = receiveIds(0);
        List<Long> to1 = receiveIds(1);
        claim(0, to0.get(0));
        claim(1, to1.get(0));
        dispatcher.collectAll();
        long ahead = connection();
        dispatchAndSend();
        int busy = receiveIds(0).contains(ahead) ? 0 : 1;
        receiveIds(1 - busy);
        done(1 - busy);
        dispatcher.collectAll(); // the other worker is free now
        done(busy);
        claim(busy, ahead); // the busy worker finished too, and claimed the one waiting, before we looked again
        // To the supervisor it still looks busy: it tries to revoke, and loses.
        dispatcher.dispatch();
        dispatcher.flushAll();
        assertEquals(List.of(), receiveIds(1 - busy), "nothing revoked: the claim won");
        assertEquals(0, metrics.prefetchReturned.getCount());
        dispatcher.collectAll();
        assertEquals(List.of(), lifecycle.abandoned);
        assertTrue(first != second);
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

    /** A READY worker whose channel's other end, and a second mapping of whose region, the test holds. */
    private WorkerProcess worker() throws Exception {
        ControlChannel[] pair = ControlChannel.pair();
        WorkerProcess w = new WorkerProcess(workers.size() + 1, workers.size(), "token", pair[0], -1, Long.MAX_VALUE,
                clock.nanoTime());
        int fd = Memfd.create("dispatcher-test");
        regionFds.add(fd);
        w.region(SharedRegion.create(fd, SharedRegion.MIN_SLOTS), -1);
        workerViews.add(SharedRegion.attach(fd));
        entriesReceived.add(new HashMap<>());
        w.booting();
        w.ready(clock.nanoTime());
        workers.add(w);
        workerEnds.add(pair[1]);
        return w;
    }

    private final ControlChannel[] clientHolder = new ControlChannel[1];
    private final List<ControlChannel> clients = new ArrayList<>();

    /** A queued connection whose other end (the client's) the test keeps, to see when every copy is closed. */
    private long connectionWithClient(java.util.function.Consumer<ControlChannel> client) throws NativeException {
        int[] sv = Native.seqpacketPair();
        ControlChannel end = new ControlChannel(sv[1]);
        clients.add(end);
        client.accept(end);
        long id = nextId++;
        PendingConnection c = dispatcher.take(id, sv[0], clock.nanoTime(), 0);
        System.arraycopy(ADDRESS, 0, c.peer, 0, ADDRESS.length);
        c.peerLength = ADDRESS.length;
        dispatcher.enqueue(c);
        return id;
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
            Map<Long, Long> entries = entriesReceived.get(n);
            for (int i = 0; i < count; i++) {
                reader.next();
                ids.add(reader.id());
                entries.put(reader.id(), entryCounts[n]++);
                if (reader.elsewhere()) {
                    flaggedElsewhere.add(reader.id());
                }
            }
            reader.finish();
        }
        return ids;
    }

    /** Worker {@code n} claims connection {@code id} in its region, as a worker's runtime does. */
    private void claim(int n, long id) {
        long entry = entriesReceived.get(n).get(id);
        assertEquals(SharedRegion.slotValue(id, SharedRegion.OFFERED),
                workerViews.get(n).settle(entry, id, SharedRegion.CLAIMED), "offered before it was sent");
    }

    /** Worker {@code n} declines connection {@code id} in its region and reports {@code type} for it. */
    private void decline(int n, FrameType type, long id) throws NativeException {
        long entry = entriesReceived.get(n).get(id);
        assertEquals(SharedRegion.slotValue(id, SharedRegion.OFFERED),
                workerViews.get(n).settle(entry, id, SharedRegion.DECLINED));
        report(n, type, id);
    }

    /** Worker {@code n} counts one connection done. */
    private void done(int n) {
        workerViews.get(n).doneOne();
    }

    /** A plain view of worker {@code n}'s region, to write what a worker must not. */
    private MappedByteBuffer raw(int n) throws IOException {
        try (FileChannel ch = FileChannel.open(Path.of("/proc/self/fd/" + regionFds.get(n)), StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_WRITE, 0, SharedRegion.bytes(SharedRegion.MIN_SLOTS));
            b.order(ByteOrder.nativeOrder());
            return b;
        }
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
        for (int fd : regionFds) {
            Native.closeQuietly(fd);
        }
        regionFds.clear();
        for (ControlChannel c : clients) {
            c.close();
        }
        clients.clear();
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
            if (w.state() != WorkerProcess.State.DEAD) {
                w.dead(); // as the pool does: nothing more is read from it
            }
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
