package io.prefork.internal.runtime;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.internal.wire.SharedRegion;
import java.lang.System.Logger.Level;

/**
 * The worker's heartbeat thread: every second it increments the heartbeat counter in the region shared with the
 * supervisor (no message, so no wake-up of the supervisor: its watchdog reads the counter once a second anyway) and
 * sends a PROXY_REFUSED with the connections the PROXY protocol check refused since the last one, if any. It wakes
 * once a second and for nothing else: a connection sent ahead and waiting behind a busy handler is the supervisor's
 * to revoke, not this thread's to give back.
 *
 * <p>Once a second it also looks whether the supervisor's end of the channel is gone (POLLHUP, or a refused send):
 * then the supervisor died, and the worker stops and asks the main thread to exit, even if the receiving thread is
 * busy in a handler and has not seen end-of-stream yet, so no worker outlives its supervisor by more than about a
 * second.
 */
final class Heartbeat implements Runnable {
    static final long INTERVAL_MS = 1000;

    private static final System.Logger LOG = System.getLogger("io.prefork.worker");

    private final WorkerRuntime runtime;
    private final SharedRegion region;
    private final ControlChannel channel;
    private final Reports reports;
    private final ExitRequests exits;

    Heartbeat(WorkerRuntime runtime, SharedRegion region, ControlChannel channel, Reports reports, ExitRequests exits) {
        this.runtime = runtime;
        this.region = region;
        this.channel = channel;
        this.reports = reports;
        this.exits = exits;
    }

    @Override
    public void run() {
        try {
            while (!runtime.stopping()) {
                Thread.sleep(INTERVAL_MS); // a period, not a wait for a condition
                region.beat();
                int e = 0;
                int refused = runtime.takeProxyRefusedCount();
                if (refused > 0) {
                    e = reports.send(b -> FrameCodec.encodeProxyRefused(b, refused));
                }
                if (e == Native.EPIPE || e == Native.ECONNRESET || supervisorGone()) {
                    LOG.log(Level.INFO, "prefork worker: the supervisor is gone; exiting");
                    runtime.stopOnce();
                    exits.post(ExitReason.SUPERVISOR_GONE);
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private boolean supervisorGone() {
        try {
            return channel.peerClosed();
        } catch (NativeException e) {
            LOG.log(Level.WARNING, "prefork worker: cannot check the channel to the supervisor: " + e.getMessage());
            return false;
        }
    }
}
