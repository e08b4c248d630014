package io.prefork.supervisor.internal.admin;

import com.codahale.metrics.MetricRegistry;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.prefork.supervisor.SupervisorStatus;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The supervisor's admin HTTP endpoint ({@code --admin}): {@code GET /} (an HTML status page), {@code GET /status}
 * (JSON), {@code GET /metrics} (Prometheus text), and two checks for balancers and orchestrators: {@code /health}
 * (liveness: the loop answers) and {@code /ready} (readiness: serving, with a ready worker, and not stopping). Served
 * by the JDK's own {@link HttpServer} from the supervisor process, so it answers while every worker is busy, and adds
 * no dependency.
 *
 * <p>The checks ask the loop for a snapshot, as the status page does, but wait at most {@link #CHECK_WAIT_MS} ms: a
 * probe has its own timeout (Kubernetes' default is 1 s), and an answer after it is worth nothing. {@code /health}
 * is 200 whenever the loop answers in time, draining included (killing a supervisor that is finishing its
 * connections would cut them); {@code /ready} turns 503 the moment a stop begins, so balancers stop sending before
 * the listeners close. Both answer {@code HEAD} too.
 *
 * <p>A daemon thread ({@code prefork-admin-sampler}) records {@link History} once a second for the page's plots.
 *
 * <p>Threads: the server's dispatcher thread accepts and parses; requests run on a fixed pool of
 * {@value #THREADS} daemon threads ({@code prefork-admin-N}). Handlers never touch the loop's state: a status
 * request posts a snapshot request to the loop ({@code Supervisor.status()}) and waits for it at most
 * {@link #STATUS_WAIT_MS} ms, answering 503 if the loop does not answer in time. {@code /metrics} reads only the
 * Dropwizard registry, so it answers even then.
 *
 * <p>Slow clients: the JDK server reads a request line and headers with a blocking read on a request thread, so a
 * client that sends part of a request and stalls holds one of the two threads, and by default (no
 * {@code sun.net.httpserver.maxReqTime}) for ever: two such clients would leave {@code /status} and {@code /metrics}
 * queued behind them. {@link #limitSlowClients()} bounds that with the JDK server's own timers: a request must be
 * complete {@value #MAX_REQUEST_SECONDS} s after its first byte (a connection that sends nothing is closed as many
 * seconds after it is accepted), and a connection idle between requests is closed after the JDK's default 30 s.
 *
 * <p>No authentication: the configuration keeps the address on loopback unless {@code --admin-allow-remote}. A
 * client that keeps opening stalled requests can still delay every other request by up to
 * {@value #MAX_REQUEST_SECONDS} s at a time: another reason not to expose it.
 */
public final class AdminServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");

    static final int THREADS = 2;
    /** How long a request waits for the loop's snapshot before answering 503. */
    static final long STATUS_WAIT_MS = 2000;
    /** How long {@code /health} and {@code /ready} wait for the loop before answering 503. */
    static final long CHECK_WAIT_MS = 1000;
    /** The plots: 5 minutes at 1 s. */
    static final long SAMPLE_PERIOD_MS = 1000;
    static final int SAMPLES = 300;
    /** Pending connections the kernel holds for the admin socket; a few scrapers and a browser at most. */
    private static final int BACKLOG = 16;
    /**
     * {@code sun.net.httpserver.maxReqTime}, in seconds (the JDK reads it as seconds, although the jdk.httpserver
     * module documentation says milliseconds): from a request's first byte until its headers (and body, none here)
     * are read, including any wait for a free request thread. Also the limit for a new connection's first byte. A
     * scraper, curl or a browser sends its whole request in one packet; 10 s leaves room for a slow remote link
     * while bounding how long a stalled client holds one of the {@value #THREADS} threads.
     */
    static final long MAX_REQUEST_SECONDS = 10;
    /**
     * {@code sun.net.httpserver.maxRspTime}, in seconds: from the end of the request until the response is written,
     * so it includes the handler, up to {@link #STATUS_WAIT_MS} ms of it waiting for the loop. Only a client that
     * stops reading a response larger than the socket buffers holds a thread here; 30 s is far above any honest
     * response and still bounds that.
     */
    static final long MAX_RESPONSE_SECONDS = 30;
    /**
     * {@code sun.net.httpserver.clockTick}, in milliseconds: how often the JDK checks for idle connections (those
     * that sent nothing yet, and keep-alive ones between requests). Its default, 10 s, would let a connection
     * outlive its limit by up to that much; a check a second costs nothing. The request and response limits are
     * checked every second already ({@code sun.net.httpserver.timerMillis}).
     */
    static final long IDLE_CHECK_MS = 1000;
    /**
     * {@code jdk.httpserver.maxConnections}: connections the endpoint keeps open at once; beyond that the JDK server
     * closes each new one as soon as it accepts it. Every open connection is a descriptor of the supervisor's, the
     * same table its listeners accept into, so a client that opens admin connections without end must not be able
     * to exhaust it. A few scrapers and a browser need far fewer.
     */
    public static final long MAX_CONNECTIONS = 32;

    private final HttpServer server;
    /** Read once, while bound, so it still answers after {@link #close()}. */
    private final InetSocketAddress address;
    private final ExecutorService executor;
    private final ScheduledExecutorService sampler;
    private final History history = new History(SAMPLES, SAMPLE_PERIOD_MS);
    private final Supplier<CompletableFuture<SupervisorStatus>> status;
    private final MetricRegistry registry;
    private final long supervisorPid = ProcessHandle.current().pid();
    private final AtomicBoolean closed = new AtomicBoolean();

    /** Set once a duplicate of the listening socket went to an upgrade's new supervisor. */
    private volatile boolean shared;
    /** Stops the server once the socket is the new supervisor's ({@link #stopAccepting}); null before. */
    private Thread handOverStop;
    /** How long, after {@link #stopAccepting}, connections this server accepted have to be answered. */
    static final int HAND_OVER_GRACE_SECONDS = 2;

    private AdminServer(HttpServer server, InetSocketAddress address, ExecutorService executor,
                        Supplier<CompletableFuture<SupervisorStatus>> status, MetricRegistry registry) {
        this.server = server;
        this.address = address;
        this.executor = executor;
        this.status = status;
        this.registry = registry;
        this.sampler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "prefork-admin-sampler");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Binds {@code address} and starts serving.
     *
     * @param status   asks the loop for a snapshot (returns at once; the future completes on the loop thread)
     * @param registry the supervisor's metrics
     * @throws IOException if the address cannot be bound ({@link java.net.BindException}: in use, not local,
     *                     permission denied); nothing is left open then
     */
    public static AdminServer start(InetSocketAddress address, Supplier<CompletableFuture<SupervisorStatus>> status,
                                    MetricRegistry registry) throws IOException {
        limitSlowClients(); // before the server exists: its limits are read when the first one is created
        HttpServer server = HttpServer.create(address, BACKLOG); // binds now
        return serve(server, server.getAddress(), status, registry);
    }

    /**
     * Serves the listening socket {@code inheritedFd} that the old supervisor of an upgrade handed over (a duplicate
     * of its own admin socket, on the address it is bound to): both serve the one socket and its one accept queue until
     * the old one exits, so the port answers throughout, and no connection waiting in the queue is reset when the
     * old one closes its copy. Ownership of {@code inheritedFd} passes here, also on failure (closed then).
     *
     * <p>The JDK's {@code HttpServer} always binds a socket of its own and has no way to take one: it is created
     * on an ephemeral port of the same address, its socket's descriptor is pointed at the inherited socket
     * ({@code dup2}, which closes the ephemeral one), and its selector registration is renewed, through its
     * private fields ({@code sun.net.httpserver.ServerImpl}: {@code schan}, {@code selector}, {@code listenerKey},
     * the same in JDK 17 and 25). That needs {@code --add-opens jdk.httpserver/sun.net.httpserver=ALL-UNNAMED}, which
     * the supervisor jar's manifest gives {@code java -jar}.
     *
     * @throws IOException naming what failed (the flag missing, above all); the caller binds the port itself then
     */
    public static AdminServer adopt(int inheritedFd, Supplier<CompletableFuture<SupervisorStatus>> status,
                                    MetricRegistry registry) throws IOException {
        limitSlowClients();
        HttpServer server;
        InetSocketAddress bound;
        try {
            bound = io.prefork.supervisor.internal.nativeio.TcpListener.localAddress(inheritedFd);
            server = HttpServer.create(new InetSocketAddress(bound.getAddress(), 0), BACKLOG);
        } catch (IOException | RuntimeException e) {
            io.prefork.internal.nativeio.Native.closeQuietly(inheritedFd);
            throw e;
        }
        boolean owned = true; // inheritedFd, until replace() makes it the server's
        try {
            Object impl = field(server, "server"); // sun.net.httpserver.HttpServerImpl -> ServerImpl
            java.nio.channels.ServerSocketChannel schan = (java.nio.channels.ServerSocketChannel) field(impl, "schan");
            java.nio.channels.Selector selector = (java.nio.channels.Selector) field(impl, "selector");
            java.nio.channels.SelectionKey key = (java.nio.channels.SelectionKey) field(impl, "listenerKey");
            int own = io.prefork.supervisor.internal.nativeio.AdminSocket.find(
                    (InetSocketAddress) schan.getLocalAddress());
            if (own < 0) {
                throw new IOException("the descriptor of the admin server's own socket was not found");
            }
            // Out of the selector's epoll set before the descriptor changes sockets (the dispatcher thread has not
            // started: nothing else selects yet), then in again with the inherited socket.
            key.cancel();
            selector.selectNow();
            io.prefork.supervisor.internal.nativeio.AdminSocket.replace(own, inheritedFd);
            owned = false;
            java.lang.reflect.Field listenerKey = impl.getClass().getDeclaredField("listenerKey");
            listenerKey.setAccessible(true);
            listenerKey.set(impl, schan.register(selector, java.nio.channels.SelectionKey.OP_ACCEPT));
        } catch (IOException | ReflectiveOperationException | RuntimeException e) {
            if (owned) {
                io.prefork.internal.nativeio.Native.closeQuietly(inheritedFd);
            }
            server.stop(0);
            throw new IOException("cannot serve the admin socket the old supervisor handed over ("
                    + (e instanceof java.lang.reflect.InaccessibleObjectException ? "run the supervisor with "
                    + "--add-opens jdk.httpserver/sun.net.httpserver=ALL-UNNAMED, as its jar's manifest does for "
                    + "java -jar" : e.toString()) + ")", e);
        }
        return serve(server, bound, status, registry);
    }

    private static Object field(Object o, String name) throws ReflectiveOperationException {
        java.lang.reflect.Field f = o.getClass().getDeclaredField(name);
        f.setAccessible(true);
        return f.get(o);
    }

    /**
     * A close-on-exec duplicate of the listening socket, for an upgrade's new supervisor ({@link #adopt}), owned
     * by the caller; -1 once closed. From then on {@link #close()} lets connections already accepted finish.
     */
    public int duplicateListener() throws IOException {
        if (closed.get()) {
            return -1;
        }
        int fd = io.prefork.supervisor.internal.nativeio.AdminSocket.find(address);
        if (fd < 0) {
            throw new IOException("the admin socket on " + address + " was not found among this process's "
                    + "descriptors");
        }
        int dup = io.prefork.supervisor.internal.nativeio.AdminSocket.duplicate(fd);
        shared = true;
        return dup;
    }

    /**
     * The upgrade's new supervisor serves the shared socket now ({@link #duplicateListener}): this server stops
     * accepting at once (its copy of the socket closed; the socket and its queue stay, the new one's), and answers
     * the connections it had accepted, for up to {@value #HAND_OVER_GRACE_SECONDS} s, from this supervisor's loop,
     * still running as it drains. Returns at once; does nothing unless the socket was shared.
     */
    public synchronized void stopAccepting() {
        if (!shared || closed.get() || handOverStop != null) {
            return;
        }
        handOverStop = new Thread(() -> server.stop(HAND_OVER_GRACE_SECONDS), "prefork-admin-handover");
        handOverStop.setDaemon(true);
        handOverStop.start();
    }

    private static AdminServer serve(HttpServer server, InetSocketAddress address,
                                     Supplier<CompletableFuture<SupervisorStatus>> status, MetricRegistry registry) {
        AtomicInteger n = new AtomicInteger();
        ExecutorService executor = Executors.newFixedThreadPool(THREADS, r -> {
            Thread t = new Thread(r, "prefork-admin-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        AdminServer admin = new AdminServer(server, address, executor, status, registry);
        try {
            server.setExecutor(executor);
            server.createContext("/", admin::handle);
            server.start();
            admin.sampler.scheduleAtFixedRate(new Sampler(admin.history, status, registry), 0, SAMPLE_PERIOD_MS,
                    TimeUnit.MILLISECONDS);
        } catch (RuntimeException e) {
            admin.close();
            throw e;
        }
        return admin;
    }

    /**
     * Sets the JDK server's time limits ({@link #MAX_REQUEST_SECONDS}, {@link #MAX_RESPONSE_SECONDS},
     * {@link #IDLE_CHECK_MS}) and its connection limit ({@link #MAX_CONNECTIONS}) as system properties, each only if
     * not set already, so {@code -D} on the command line wins ({@code -Dsun.net.httpserver.maxReqTime=0} turns the
     * request limit off, for instance).
     *
     * <p>They are JVM-wide, and read once: {@code sun.net.httpserver.ServerConfig} reads them in its static
     * initialiser, when the first {@code HttpServer} of the JVM is created (JDK 17 and 25 alike). So they also
     * apply to any other {@code HttpServer} an embedding application creates later; and if the application created
     * one before the supervisor's admin endpoint, they do not apply at all (the JDK defaults stay: no request or
     * response limit, idle connections checked every 10 s). The JDK server offers no per-server setting; these
     * properties are its documented configuration (the jdk.httpserver module summary lists them).
     */
    static void limitSlowClients() {
        setIfAbsent("sun.net.httpserver.maxReqTime", MAX_REQUEST_SECONDS);
        setIfAbsent("sun.net.httpserver.maxRspTime", MAX_RESPONSE_SECONDS);
        setIfAbsent("sun.net.httpserver.clockTick", IDLE_CHECK_MS);
        setIfAbsent("jdk.httpserver.maxConnections", MAX_CONNECTIONS);
    }

    private static void setIfAbsent(String property, long value) {
        // Two supervisors starting at once may both set it: to the same value.
        if (System.getProperty(property) == null) {
            System.setProperty(property, Long.toString(value));
        }
    }

    /** The bound address, with the real port when 0 was asked for. */
    public InetSocketAddress address() {
        return address;
    }

    /**
     * Stops serving: closes the listening socket and every open connection, waits for the dispatcher thread, and
     * ends the pool (interrupting a request still waiting for the loop). Idempotent; any thread.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        Thread stopping;
        synchronized (this) {
            stopping = handOverStop;
        }
        if (stopping != null) {
            try {
                stopping.join(TimeUnit.SECONDS.toMillis(HAND_OVER_GRACE_SECONDS + 5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        } else {
            // 0: do not wait for exchanges in progress; the supervisor has stopped, there is nothing left to report.
            server.stop(0);
        }
        executor.shutdownNow();
        sampler.shutdownNow();
        try {
            if (!executor.awaitTermination(5, TimeUnit.SECONDS) || !sampler.awaitTermination(5, TimeUnit.SECONDS)) {
                LOG.warn("admin endpoint: a request or sampler thread did not end within 5 s of stopping");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------------------------------------------ requests

    private void handle(HttpExchange ex) {
        try {
            String path = Objects.requireNonNullElse(ex.getRequestURI().getRawPath(), ""); // null: an opaque URI
            boolean check = path.equals("/health") || path.equals("/ready");
            if (!check && !path.equals("/") && !path.equals("/status") && !path.equals("/metrics")) {
                text(ex, 404, "not found: " + path + "; try /, /status, /metrics, /health or /ready\n");
                return;
            }
            String method = ex.getRequestMethod();
            if (!method.equals("GET") && !(check && method.equals("HEAD"))) {
                ex.getResponseHeaders().set("Allow", check ? "GET, HEAD" : "GET");
                text(ex, 405, "method " + method + " not allowed; " + path + " answers " + (check ? "GET and HEAD"
                        : "GET") + " only\n");
                return;
            }
            if (check) {
                check(ex, path.equals("/ready"), method.equals("HEAD"));
                return;
            }
            if (path.equals("/metrics")) {
                send(ex, 200, PrometheusText.CONTENT_TYPE,
                        PrometheusText.render(registry).getBytes(StandardCharsets.UTF_8));
                return;
            }
            SupervisorStatus s = snapshot(ex);
            if (s == null) {
                return; // 503 already sent
            }
            if (path.equals("/status")) {
                send(ex, 200, StatusJson.CONTENT_TYPE, StatusJson.render(s, supervisorPid));
            } else {
                send(ex, 200, StatusPage.CONTENT_TYPE, StatusPage.render(s, supervisorPid, Instant.now(),
                        history.copy()).getBytes(StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            // The client went away mid-response: nothing to tell it.
        } catch (RuntimeException e) {
            LOG.warn("admin endpoint: {} {} failed", ex.getRequestMethod(), ex.getRequestURI(), e);
            try {
                text(ex, 500, "internal error: " + e + "\n");
            } catch (IOException | RuntimeException ignored) {
                // Headers may already be out; closing the exchange below ends the response.
            }
        } finally {
            ex.close();
        }
    }

    /**
     * {@code /health} or {@code /ready}: 200 or 503 with a one-line reason (balancers log it; a person reads it with
     * curl). {@code Retry-After} is not sent: probes poll on their own schedule.
     */
    private void check(HttpExchange ex, boolean readiness, boolean head) throws IOException {
        long t0 = System.nanoTime();
        SupervisorStatus s;
        try {
            s = status.get().get(CHECK_WAIT_MS, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            s = null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            s = null;
        } catch (ExecutionException e) {
            s = null;
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        String verdict = s == null ? "the supervisor loop did not answer within " + CHECK_WAIT_MS + " ms (stuck, "
                + "overloaded or stopped)" : readiness ? Checks.notReady(s) : null;
        int code = verdict == null ? 200 : 503;
        String body = verdict != null ? (readiness ? "not ready: " : "unhealthy: ") + verdict + "\n"
                : readiness ? "ready: " + Checks.readySummary(s) + "\n"
                : "ok: the supervisor loop answered in " + ms + " ms (" + s.state() + ")\n";
        if (head) {
            ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
            ex.getResponseHeaders().set("Cache-Control", "no-store");
            ex.sendResponseHeaders(code, -1); // -1: no body
            return;
        }
        text(ex, code, body);
    }

    /** The loop's snapshot, or null after answering 503 because it did not come in time. */
    private SupervisorStatus snapshot(HttpExchange ex) throws IOException {
        CompletableFuture<SupervisorStatus> f = status.get();
        try {
            return f.get(STATUS_WAIT_MS, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            unavailable(ex, "the supervisor loop did not answer within " + STATUS_WAIT_MS + " ms (it is overloaded, "
                    + "stuck or stopping); /metrics does not need the loop and may still answer");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            unavailable(ex, "the admin endpoint is stopping");
        } catch (ExecutionException e) {
            unavailable(ex, "taking the snapshot failed: " + e.getCause());
        }
        return null;
    }

    private static void unavailable(HttpExchange ex, String why) throws IOException {
        ex.getResponseHeaders().set("Retry-After", "2");
        text(ex, 503, "status unavailable: " + why + "\n");
    }

    private static void text(HttpExchange ex, int code, String body) throws IOException {
        send(ex, code, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
    }

    private static void send(HttpExchange ex, int code, String contentType, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", contentType);
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
        ex.sendResponseHeaders(code, body.length); // every body here is non-empty, so this is its exact length
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }
}
