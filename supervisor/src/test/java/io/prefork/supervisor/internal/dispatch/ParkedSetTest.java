package io.prefork.supervisor.internal.dispatch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.MetricRegistry;
import io.prefork.internal.nativeio.Native;
import io.prefork.supervisor.internal.OpenSockets;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.testing.Poll;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The parked set with real loopback connections and a real epoll instance; time is passed in, so the idle timeout is
 * tested without waiting for it.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ParkedSetTest {
    private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

    static {
        // The JDK opens a socket of its own for the life of the JVM the first time it closes a java.net socket
        // (JDK 25's UnixDispatcher keeps one end of a socketpair for its pre-close trick): open it before the first
        // snapshot, or the first test here would be blamed for it.
        try (java.net.ServerSocket server = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
             Socket client = new Socket(server.getInetAddress(), server.getLocalPort());
             Socket accepted = server.accept()) {
            client.shutdownOutput();
            accepted.getInputStream().read();
        } catch (IOException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final SupervisorMetrics metrics = new SupervisorMetrics(new MetricRegistry());
    private final PendingConnection.Pool pool = new PendingConnection.Pool(16);
    private final List<Socket> clients = new ArrayList<>();
    private final List<PendingConnection> resumed = new ArrayList<>();
    private TcpListener listener;
    private ParkedSet parked;
    private Set<String> socketsBefore;
    private long nextId = 1;

    @BeforeEach
    void open() throws Exception {
        socketsBefore = OpenSockets.now();
        listener = TcpListener.open(new InetSocketAddress("127.0.0.1", 0), 16);
    }

    @AfterEach
    void noDescriptorLeaks() throws IOException {
        if (parked != null) {
            parked.close();
        }
        for (PendingConnection c : resumed) {
            Native.closeQuietly(c.fd);
        }
        for (Socket s : clients) {
            s.close();
        }
        listener.close();
        assertEquals(Set.of(), OpenSockets.openedSince(socketsBefore), "sockets left open");
    }

    private void create(long keepAliveNanos, int maxParked) throws Exception {
        parked = new ParkedSet(keepAliveNanos, maxParked, metrics, pool::release);
    }

    /** A real accepted connection as a worker would give it back: its id, descriptor and no unread bytes. */
    private PendingConnection connection() throws Exception {
        Socket client = new Socket("127.0.0.1", listener.boundAddress().getPort());
        client.setSoTimeout(10_000);
        clients.add(client);
        int fd = Poll.within(Duration.ofSeconds(10)).until("the connection accepted", listener::accept, f -> f >= 0);
        return pool.take(nextId++, fd, 0, 0);
    }

    private void awaitReady(String what, java.util.function.BooleanSupplier done) {
        Poll.within(Duration.ofSeconds(10)).until(what, () -> {
            try {
                parked.onReady(resumed::add, Integer.MAX_VALUE);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            return done.getAsBoolean();
        });
    }

    @Test
    void aReadableConnectionIsResumedWithItsIdAndAClosedOneIsClosedAndCounted() throws Exception {
        create(60 * SECOND, 100);
        PendingConnection a = connection();
        PendingConnection b = connection();
        parked.park(a, 0, resumed::add);
        parked.park(b, 0, resumed::add);
        assertEquals(2, parked.size());
        assertEquals(0, parked.onReady(resumed::add, Integer.MAX_VALUE));
        assertEquals(List.of(), resumed, "nothing is readable yet");

        clients.get(0).getOutputStream().write('G');
        awaitReady("connection 1 resumed", () -> resumed.size() == 1);
        PendingConnection r = resumed.get(0);
        assertEquals(1, r.id);
        assertTrue(r.resumed);
        assertTrue(r.fd >= 0, "the descriptor goes with it, open");
        assertEquals(1, parked.size());

        clients.get(1).close();
        awaitReady("connection 2 closed by its peer", () -> parked.size() == 0);
        assertEquals(1, metrics.parkedPeerClosed.getCount());
        assertEquals(1, metrics.parkedResumed.getCount());
        assertEquals(2, metrics.parked.getCount());
        assertEquals(1, resumed.size());
    }

    @Test
    void theIdleTimeoutClosesOnlyWhatHasBeenParkedThatLong() throws Exception {
        create(10 * SECOND, 100);
        parked.park(connection(), 0, resumed::add);
        parked.park(connection(), 5 * SECOND, resumed::add);
        assertEquals(0, parked.expire(10 * SECOND - 1));
        assertEquals(1, parked.expire(10 * SECOND));
        assertEquals(-1, clients.get(0).getInputStream().read(), "the client sees the close");
        assertEquals(1, parked.size());
        assertEquals(1, parked.expire(15 * SECOND));
        assertEquals(-1, clients.get(1).getInputStream().read());
        assertEquals(2, metrics.parkedExpired.getCount());
    }

    @Test
    void anIdledOutConnectionEndsForTheClientEvenWhileAnotherCopyIsHeldElsewhere() throws Exception {
        // A connection once revoked from a busy worker may still sit, unclaimed, in that worker's channel when it is
        // parked (PARKED cannot say so): the duplicate stands for that copy. Closing ours alone would send no FIN.
        create(10 * SECOND, 100);
        PendingConnection c = connection();
        int elsewhere = Native.reserveDescriptor(c.fd);
        try {
            parked.park(c, 0, resumed::add);
            assertEquals(1, parked.expire(10 * SECOND));
            assertEquals(-1, clients.get(0).getInputStream().read(), "the client sees the end at once");
        } finally {
            Native.closeQuietly(elsewhere);
        }
    }

    @Test
    void beyondTheBoundTheLongestIdleIsClosed() throws Exception {
        create(60 * SECOND, 2);
        parked.park(connection(), 0, resumed::add);
        parked.park(connection(), 1, resumed::add);
        parked.park(connection(), 2, resumed::add);
        assertEquals(2, parked.size());
        assertEquals(1, metrics.parkedEvicted.getCount());
        assertEquals(-1, clients.get(0).getInputStream().read(), "the first parked is the one closed");
    }

    @Test
    void unreadBytesAreResumedAtOnceAndStoppingClosesEverything() throws Exception {
        create(60 * SECOND, 100);
        PendingConnection c = connection();
        c.unread = "GET /".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        c.unreadLength = c.unread.length;
        parked.park(c, 0, resumed::add);
        assertEquals(List.of(c), resumed, "a pipelined request may be whole already: no readiness would tell");
        assertTrue(c.resumed);
        assertEquals(0, parked.size());

        parked.park(connection(), 0, resumed::add);
        parked.closeAll();
        assertEquals(-1, clients.get(1).getInputStream().read());
        parked.park(connection(), 0, resumed::add);
        assertEquals(0, parked.size(), "parked while stopping: closed at once");
        assertEquals(-1, clients.get(2).getInputStream().read());
    }

    @Test
    void noMoreAreResumedThanThereIsRoomAndTheRestStayParkedAndReady() throws Exception {
        create(60 * SECOND, 100);
        List<PendingConnection> cs = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            cs.add(connection());
        }
        // Readable before they are parked: epoll reports all of them at the first look.
        for (int i = 0; i < 3; i++) {
            clients.get(i).getOutputStream().write('G');
        }
        clients.get(3).close(); // a peer close takes no room
        for (PendingConnection c : cs) {
            parked.park(c, 0, resumed::add);
        }
        assertEquals(1, parked.onReady(resumed::add, 1), "three readable, room for one");
        assertEquals(1, resumed.size());
        assertEquals(0, parked.onReady(resumed::add, 0), "no room: none");
        assertEquals(1, resumed.size());
        awaitReady("the rest, readable all along, resumed once there is room", () -> resumed.size() == 3
                && parked.size() == 0);
        assertEquals(3, metrics.parkedResumed.getCount());
        assertEquals(1, metrics.parkedPeerClosed.getCount());
    }

    @Test
    void resumedConnectionsAreBoundedByTheDispatchersQueueSize() throws Exception {
        create(60 * SECOND, 100);
        io.prefork.supervisor.internal.loop.Timers timers =
                new io.prefork.supervisor.internal.loop.Timers(new io.prefork.supervisor.internal.loop.ManualClock());
        // No worker: the room is --queue-size (2) less what is queued.
        Dispatcher d = new Dispatcher(new ArrayList<>(), 1, 0, 2, () -> 1, timers, metrics);
        for (int i = 0; i < 3; i++) {
            parked.park(connection(), 0, resumed::add);
            clients.get(i).getOutputStream().write('G');
        }
        Poll.within(Duration.ofSeconds(10)).until("two resumed into the queue", () -> {
            try {
                parked.onReady(d.resumer(), d.room());
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            return d.queued() == 2;
        });
        assertEquals(0, d.room());
        assertEquals(0, parked.onReady(d.resumer(), d.room()));
        assertEquals(2, d.queued(), "never beyond --queue-size");
        assertEquals(1, parked.size(), "the third waits, parked, for room");
        d.close(); // closes the two queued
        Poll.within(Duration.ofSeconds(10)).until("the third resumed once room frees", () -> {
            try {
                parked.onReady(resumed::add, 1);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            return resumed.size() == 1;
        });
        assertEquals(0, parked.size());
    }
}
