package io.prefork.supervisor.internal.systemd;

import io.prefork.supervisor.internal.nativeio.NotifySocket;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.supervisor.SupervisorListener;
import io.prefork.supervisor.SupervisorStatus;
import io.prefork.supervisor.Termination;
import io.prefork.supervisor.WorkerStatus;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells systemd (or any service manager speaking sd_notify(3)) what the supervisor is doing, when
 * {@code $NOTIFY_SOCKET} is set; otherwise does nothing. Modelled on gunicorn 23's {@code systemd.py} and arbiter:
 *
 * <ul>
 *   <li>{@code READY=1} and {@code MAINPID} when every initial worker is ready (the moment the ready line is
 *       printed), so {@code Type=notify} units are "active" only once connections are served;
 *   <li>{@code RELOADING=1} (with {@code MONOTONIC_USEC}, which {@code Type=notify-reload} needs since systemd 253)
 *       when a reload begins, and {@code READY=1} when every worker has been replaced;
 *   <li>{@code STOPPING=1} when a stop begins, graceful or quick;
 *   <li>{@code STATUS=} a one-line summary ({@code systemctl status} shows it), sent only when it changed, at most
 *       once per {@value #STATUS_PERIOD_MS} ms;
 *   <li>{@code WATCHDOG=1} every half {@code $WATCHDOG_USEC}, when set for us ({@code $WATCHDOG_PID} absent or our
 *       pid).
 * </ul>
 *
 * <p>The lifecycle messages are sent from the loop thread by the {@link SupervisorListener} callbacks (one
 * non-blocking datagram each). The periodic ones come from a daemon timer thread ({@code prefork-systemd}) that never
 * touches loop state: each tick it asks the loop for a snapshot ({@code Supervisor.status()}), which the loop answers
 * when it gets to it. A watchdog ping is sent only when the loop has answered the previous tick's question, and by
 * the loop thread itself as it answers: a stuck loop stops the pings, and systemd restarts a supervisor that no
 * longer accepts or dispatches, which is the point of a watchdog. A living timer thread alone would prove nothing.
 */
public final class SystemdNotifier implements SupervisorListener, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");
    /** The variables systemd sets for the service's main process: the supervisor's, not its workers'. */
    public static final List<String> VARIABLES = List.of("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID");
    static final long STATUS_PERIOD_MS = 1000;

    private final NotifySocket socket;
    private final long pid;
    /** Half of $WATCHDOG_USEC, in microseconds; 0 when there is no watchdog for us. */
    private final long watchdogPeriodUs;
    private final ScheduledExecutorService timer;
    /** The latest snapshot the loop answered the status sampler with; the next tick reads it. */
    private final AtomicReference<SupervisorStatus> latest = new AtomicReference<>();
    private volatile boolean stopping;
    /** After an upgrade's hand-over this process is no longer the service's main one: it says nothing more. */
    private volatile boolean handedOver;
    /** Timer thread only. */
    private String lastStatus;
    /** Timer thread only: the watchdog's outstanding question to the loop. */
    private CompletableFuture<?> probe;
    private boolean warnedStuck;

    private SystemdNotifier(NotifySocket socket, long pid, long watchdogPeriodUs) {
        this.socket = socket;
        this.pid = pid;
        this.watchdogPeriodUs = watchdogPeriodUs;
        this.timer = socket == null ? null : Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "prefork-systemd");
            t.setDaemon(true);
            return t;
        });
    }

    /** From this process's environment, for this process. */
    public static SystemdNotifier fromEnvironment() {
        return fromEnvironment(System.getenv(), ProcessHandle.current().pid());
    }

    /**
     * Reads {@code NOTIFY_SOCKET}, {@code WATCHDOG_USEC} and {@code WATCHDOG_PID} from {@code env}. Without
     * {@code NOTIFY_SOCKET}, or when its socket cannot be opened (logged), the notifier does nothing.
     */
    public static SystemdNotifier fromEnvironment(Map<String, String> env, long pid) {
        String notify = env.get("NOTIFY_SOCKET");
        if (notify == null || notify.isEmpty()) {
            return new SystemdNotifier(null, pid, 0);
        }
        NotifySocket socket;
        try {
            socket = NotifySocket.open(notify);
        } catch (IOException | RuntimeException e) {
            LOG.warn("not notifying the service manager: {}", e.getMessage());
            return new SystemdNotifier(null, pid, 0);
        }
        return new SystemdNotifier(socket, pid, watchdogPeriodUs(env, pid));
    }

    /** Half of {@code WATCHDOG_USEC} (sd_watchdog_enabled(3) recommends pinging at half the interval), or 0. */
    static long watchdogPeriodUs(Map<String, String> env, long pid) {
        String usec = env.get("WATCHDOG_USEC");
        if (usec == null || usec.isEmpty()) {
            return 0;
        }
        String forPid = env.get("WATCHDOG_PID");
        if (forPid != null && !forPid.isEmpty() && !forPid.strip().equals(Long.toString(pid))) {
            LOG.info("WATCHDOG_PID={} is not this process ({}): not pinging the watchdog", forPid, pid);
            return 0;
        }
        try {
            long us = Long.parseLong(usec.strip());
            if (us >= 2) {
                return us / 2;
            }
        } catch (NumberFormatException e) {
            // Falls through to the warning.
        }
        LOG.warn("WATCHDOG_USEC={} is not a positive number of microseconds: not pinging the watchdog", usec);
        return 0;
    }

    /** Whether {@code NOTIFY_SOCKET} was given and opened. */
    public boolean enabled() {
        return socket != null;
    }

    /** The watchdog ping period (half of {@code WATCHDOG_USEC}) in microseconds; 0 when there is no watchdog. */
    public long watchdogPeriodUs() {
        return watchdogPeriodUs;
    }

    /**
     * Starts the periodic messages (status, watchdog) for a started supervisor. Does nothing when not
     * {@link #enabled()}; {@link #onTerminated} (or {@link #close()}) stops them.
     *
     * @param status asks the loop for a snapshot ({@code Supervisor::status}): returns at once, completes on the loop
     */
    public void attach(Supplier<CompletableFuture<SupervisorStatus>> status) {
        if (socket == null) {
            return;
        }
        try {
            timer.scheduleWithFixedDelay(() -> sampleStatus(status), 0, STATUS_PERIOD_MS, TimeUnit.MILLISECONDS);
            if (watchdogPeriodUs > 0) {
                LOG.info("pinging the systemd watchdog every {} ms while the supervisor loop answers",
                        watchdogPeriodUs / 1000);
                timer.scheduleAtFixedRate(() -> pingWatchdog(status), 0, watchdogPeriodUs, TimeUnit.MICROSECONDS);
            }
        } catch (RejectedExecutionException alreadyClosed) {
            // The supervisor terminated between its start and this call (onTerminated closed us): nothing to report.
        }
    }

    private void sampleStatus(Supplier<CompletableFuture<SupervisorStatus>> status) {
        SupervisorStatus s = latest.get();
        if (s != null) {
            String line = statusLine(s);
            if (!line.equals(lastStatus) && send("STATUS=" + line)) {
                lastStatus = line;
            }
        }
        // Completed on the loop thread: only a store there; the next tick renders and sends.
        status.get().thenAccept(latest::set);
    }

    private void pingWatchdog(Supplier<CompletableFuture<SupervisorStatus>> status) {
        if (probe != null && !probe.isDone()) {
            if (!warnedStuck) {
                warnedStuck = true;
                LOG.warn("the supervisor loop has not answered for {} ms: not pinging the systemd watchdog until it "
                        + "does", watchdogPeriodUs / 1000);
            }
            return;
        }
        warnedStuck = false;
        // Runs on the loop thread as it answers (or here, once the loop has ended and answers at once).
        probe = status.get().thenRun(() -> send("WATCHDOG=1"));
    }

    /**
     * {@code running: 4/4 workers ready, 3 connections in flight, 0 queued}. What a person reading
     * {@code systemctl status} wants: is it serving, how busy is it.
     */
    static String statusLine(SupervisorStatus s) {
        int ready = 0;
        int inFlight = 0;
        for (WorkerStatus w : s.workers()) {
            if (w.state().equals("ready")) {
                ready++;
            }
            inFlight += w.inFlight();
        }
        return s.state() + ": " + ready + "/" + s.targetWorkers() + " workers ready, " + inFlight
                + (inFlight == 1 ? " connection" : " connections") + " in flight, " + s.queueDepth() + " queued";
    }

    private boolean send(String message) {
        return socket != null && !handedOver && socket.send(message);
    }

    // ---- SupervisorListener: on the loop thread, one non-blocking datagram each.

    @Override
    public void onReady(List<InetSocketAddress> addresses) {
        send("READY=1\nMAINPID=" + pid + "\nSTATUS=serving on " + TcpListener.format(addresses));
    }

    @Override
    public void onReloading() {
        if (!stopping) {
            // HotSpot on Linux reads System.nanoTime() from clock_gettime(CLOCK_MONOTONIC), unshifted: the clock
            // systemd compares MONOTONIC_USEC with to tell this reload from an earlier one.
            send("RELOADING=1\nMONOTONIC_USEC=" + System.nanoTime() / 1000 + "\nSTATUS=reloading");
        }
    }

    @Override
    public void onReloaded() {
        // A stop clears the reload; a replacement that becomes ready while draining must not say READY again.
        if (!stopping) {
            send("READY=1");
        }
    }

    /**
     * The service's main process is now the new supervisor: said by this one, still the main process, so that systemd
     * accepts it with the default {@code NotifyAccess=main}; from then on the new one's messages count. No
     * {@code STOPPING=1} follows: the service is not stopping, only this process.
     */
    @Override
    public void onHandOver(long newPid) {
        stopping = true;
        send("MAINPID=" + newPid + "\nSTATUS=upgraded: the new supervisor, pid " + newPid + ", serves; pid " + pid
                + " drains");
        // Its STATUS and WATCHDOG messages would be refused (NotifyAccess=main) or, worse, taken for the service's.
        handedOver = true;
    }

    @Override
    public void onStopping(boolean graceful) {
        stopping = true;
        send("STOPPING=1\nSTATUS=" + (graceful ? "stopping gracefully" : "stopping")); // not after a hand-over
    }

    @Override
    public void onTerminated(Termination termination) {
        close();
    }

    /** Stops the timer and closes the socket; idempotent, any thread, never blocks. */
    @Override
    public void close() {
        if (socket != null) {
            timer.shutdownNow();
            socket.close();
        }
    }
}
