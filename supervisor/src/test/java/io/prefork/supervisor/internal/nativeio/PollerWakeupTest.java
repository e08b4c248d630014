package io.prefork.supervisor.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.wire.FrameCodec;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** poll(2) over an eventfd wakeup, across threads. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class PollerWakeupTest {

    @Test
    void pollWithoutTimeoutReturnsAfterSignalFromAnotherThread() throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (Wakeup wakeup = new Wakeup()) {
            assertTrue(Native.isCloseOnExec(wakeup.fd()));
            assertTrue(!Native.isBlocking(wakeup.fd()), "an eventfd wakeup must never block its reader");
            Poller poller = new Poller(4);
            int slot = poller.add(wakeup.fd(), Native.POLLIN);
            // Nothing signalled yet: a zero-timeout poll finds nothing, so the wait below really waits for signal().
            assertEquals(0, poller.poll(0));
            CountDownLatch polling = new CountDownLatch(1);
            Future<Integer> ready = pool.submit(() -> {
                polling.countDown();
                return poller.poll(-1);
            });
            assertTrue(polling.await(10, TimeUnit.SECONDS));
            wakeup.signal();
            assertEquals(1, (int) ready.get(10, TimeUnit.SECONDS));
            assertTrue((poller.readyOps(slot) & Native.POLLIN) != 0, "readyOps " + poller.readyOps(slot));

            // Still readable until drained (level-triggered); after drain nothing is ready.
            assertEquals(1, poller.poll(0));
            wakeup.drain();
            assertEquals(0, poller.poll(0));
            assertEquals(0, poller.readyOps(slot));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void signalsCoalesceUntilDrained() throws NativeException {
        try (Wakeup wakeup = new Wakeup()) {
            Poller poller = new Poller(1);
            poller.add(wakeup.fd(), Native.POLLIN);
            for (int i = 0; i < 5; i++) {
                wakeup.signal();
            }
            assertEquals(1, poller.poll(0));
            wakeup.drain();
            assertEquals(0, poller.poll(0));
            // Draining an empty eventfd is harmless (EAGAIN, ignored).
            wakeup.drain();
            assertEquals(0, poller.poll(0));
        }
    }

    @Test
    void pollTimesOutWithZero() throws NativeException {
        try (Wakeup wakeup = new Wakeup()) {
            Poller poller = new Poller(2);
            int slot = poller.add(wakeup.fd(), Native.POLLIN);
            long start = System.nanoTime();
            assertEquals(0, poller.poll(50));
            long elapsedMs = (System.nanoTime() - start) / 1_000_000;
            assertTrue(elapsedMs >= 40, "returned after " + elapsedMs + " ms, before the 50 ms timeout");
            assertEquals(0, poller.readyOps(slot));
        }
    }

    @Test
    void pollSetGrowsAndReportsTheRightSlot() throws NativeException {
        Wakeup[] wakeups = new Wakeup[10];
        try {
            Poller poller = new Poller(1);
            int[] slots = new int[wakeups.length];
            for (int i = 0; i < wakeups.length; i++) {
                wakeups[i] = new Wakeup();
                slots[i] = poller.add(wakeups[i].fd(), Native.POLLIN);
                assertEquals(i, slots[i]);
            }
            wakeups[7].signal();
            assertEquals(1, poller.poll(1000));
            for (int i = 0; i < wakeups.length; i++) {
                assertEquals(i == 7 ? Native.POLLIN : 0, poller.readyOps(slots[i]), "slot " + i);
            }
            // clear() and rebuild with a different set: only what was added since counts.
            poller.clear();
            int only = poller.add(wakeups[2].fd(), Native.POLLIN);
            assertEquals(0, only);
            assertEquals(0, poller.poll(0));
            wakeups[2].signal();
            assertEquals(1, poller.poll(1000));
        } finally {
            for (Wakeup w : wakeups) {
                if (w != null) {
                    w.close();
                }
            }
        }
    }

    @Test
    void pollReportsAControlChannelPeerHangup() throws NativeException {
        ControlChannel[] pair = ControlChannel.pair();
        try {
            Poller poller = new Poller(2);
            int slot = poller.add(pair[0].fd(), Native.POLLIN);
            assertEquals(0, poller.poll(0));
            int n = FrameCodec.encodeProxyRefused(pair[1].sendBuffer(), 3);
            assertTrue(pair[1].send(n, null, 0, false));
            assertEquals(1, poller.poll(1000));
            assertEquals(Native.POLLIN, poller.readyOps(slot));
            assertEquals(n, pair[0].receive(true));
            pair[1].close();
            assertEquals(1, poller.poll(1000));
            assertNotEquals(0, poller.readyOps(slot) & (Native.POLLIN | Native.POLLHUP));
            assertEquals(ControlChannel.END_OF_STREAM, pair[0].receive(true));
        } finally {
            pair[0].close();
            pair[1].close();
        }
    }

    @Test
    void descriptorThatIsNotOpenIsReportedAsPollnval() throws NativeException {
        Poller poller = new Poller(2);
        // No process has a descriptor this high (RLIMIT_NOFILE is far lower), so it cannot be open.
        int slot = poller.add(Integer.MAX_VALUE, Native.POLLIN);
        // A negative descriptor is skipped by poll: never ready.
        int skipped = poller.add(-1, Native.POLLIN);
        assertEquals(1, poller.poll(0));
        assertEquals(Native.POLLNVAL, poller.readyOps(slot));
        assertEquals(0, poller.readyOps(skipped));
    }
}
