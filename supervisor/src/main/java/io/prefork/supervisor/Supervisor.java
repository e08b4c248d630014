package io.prefork.supervisor;

import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.jmx.JmxReporter;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.supervisor.internal.admin.AdminServer;
import io.prefork.supervisor.internal.loop.SupervisorLoop;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.nativeio.BindFailure;
import io.prefork.supervisor.internal.nativeio.BootstrapServer;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.supervisor.internal.process.JvmLauncher;
import io.prefork.supervisor.internal.process.WorkerClassCheck;
import io.prefork.supervisor.internal.process.WorkerLauncher;
import io.prefork.supervisor.internal.systemd.PidFile;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running prefork supervisor: its listening sockets, N worker JVMs, and the loop that hands each accepted connection
 * to the least busy worker. The command line ({@link Main}) is a thin layer over this class; it can equally be
 * embedded:
 *
 * <pre>{@code
 * SupervisorConfig config = SupervisorConfig.builder()
 *         .listen("127.0.0.1:0").workers(2)
 *         .workerClass("io.prefork.examples.HelloHttpWorker")
 *         .workerClasspath(List.of(Path.of("examples/target/prefork-examples.jar")))
 *         .build();
 * try (Supervisor s = Supervisor.start(config)) {
 *     s.ready().get(60, SECONDS);            // every worker is serving
 *     ... s.listenAddress() ...
 * }                                          // close() = graceful stop, then wait
 * }</pre>
 *
 * <p>Threads: {@code prefork-loop} owns all state; {@code prefork-bootstrap} hands new workers their channel; with
 * {@code --admin}, the JDK HTTP server's dispatcher and two {@code prefork-admin-N} threads serve the admin endpoint.
 * All end when the supervisor terminates, after every worker has been reaped; {@link #terminated()} completes only
 * once the admin endpoint and the JMX MBeans are gone too.
 */
public final class Supervisor implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");

    /** The JMX domain of the metrics' MBeans ({@code prefork:name=prefork.workers,type=gauges} and so on). */
    public static final String JMX_DOMAIN = "prefork";
    /** After a failed start, how long to wait for the loop to stop the workers it already started. */
    private static final Duration ABORT_WAIT = Duration.ofSeconds(30);

    private final SupervisorConfig config;
    private final List<InetSocketAddress> listenAddresses;
    private final SupervisorLoop loop;
    private final MetricRegistry registry;
    private final AdminServer admin;
    private final JmxReporter jmx;
    /** {@code --pid}, or null; removed with the admin endpoint. */
    private final PidFile pidFile;
    /** The loop's termination, completed only after {@link #stopAdmin()} has run. */
    private final CompletableFuture<Termination> terminated;

    private Supervisor(SupervisorConfig config, List<InetSocketAddress> listenAddresses, SupervisorLoop loop,
                       MetricRegistry registry, AdminServer admin, JmxReporter jmx, PidFile pidFile) {
        this.config = config;
        this.listenAddresses = listenAddresses;
        this.loop = loop;
        this.registry = registry;
        this.admin = admin;
        this.jmx = jmx;
        this.pidFile = pidFile;
        // Runs on the loop thread as it ends (or here, if it already has). A derived future, not a plain callback on
        // loop.terminated: whoever waits for termination (close(), Main) must find the admin port closed and the
        // MBeans unregistered, not race with their removal.
        this.terminated = loop.terminated().whenComplete((t, e) -> stopAdmin());
    }

    /**
     * Checks the worker class, binds the listening sockets, starts the workers, registers the JMX MBeans
     * ({@link SupervisorConfig#jmx()}) and binds the admin endpoint ({@link SupervisorConfig#admin()}). Returns once
     * listening; use {@link #ready()} to wait for the workers.
     *
     * @throws StartupException with {@link ExitCodes#USAGE} for a bad worker class, {@link ExitCodes#LISTEN_FAILED}
     *     when a listen or the admin address cannot be bound (after a failed admin bind, the workers already started
     *     have been stopped and every socket closed)
     */
    public static Supervisor start(SupervisorConfig config) throws StartupException {
        return start(config, SupervisorListener.NONE);
    }

    /**
     * Like {@link #start(SupervisorConfig)}, with a listener for lifecycle events (called on the loop thread: it
     * must not block).
     */
    public static Supervisor start(SupervisorConfig config, SupervisorListener listener) throws StartupException {
        try {
            Native.checkPlatform();
        } catch (UnsupportedOperationException e) {
            throw new StartupException(ExitCodes.USAGE, e.getMessage(), e);
        }
        try {
            WorkerClassCheck.check(config.workerClass(), config.workerClasspath());
        } catch (ConfigException e) {
            throw new StartupException(ExitCodes.USAGE, e.getMessage(), e);
        }
        List<TcpListener> tcp = openListeners(config);
        BootstrapServer boot;
        try {
            boot = BootstrapServer.open();
        } catch (IOException e) {
            closeAll(tcp);
            throw new StartupException(ExitCodes.INTERNAL, "cannot create the private endpoint workers connect to "
                    + "(in " + System.getProperty("java.io.tmpdir") + "): " + e.getMessage(), e);
        }
        MetricRegistry registry = new MetricRegistry();
        StringBuilder runtimeNote = new StringBuilder();
        List<String> runtime = WorkerLauncher.runtimeClasspath(WorkerLauncher.ownClasspath(), runtimeNote);
        if (runtimeNote.length() > 0) {
            LOG.info("worker runtime classpath: {}", runtimeNote);
        }
        WorkerLauncher launcher = new WorkerLauncher(WorkerLauncher.currentJava(), runtime,
                config.workerClasspath(), config.workerJvmOptions(), config.workerClass(), config.concurrency(),
                config.prefetch() > 0 ? config.prefetchTimeout().toMillis() : 0, config.workerSettings());
        // Class data sharing for the workers' own classes, kept in a cache directory; system property
        // prefork.cdsCache names another directory, or "off".
        String cds = System.getProperty("prefork.cdsCache", "");
        if (!cds.equals("off")) {
            launcher.withClassDataArchive(cds.isEmpty() ? WorkerLauncher.defaultCacheDir() : java.nio.file.Path.of(cds));
        }
        SupervisorLoop loop;
        try {
            loop = new SupervisorLoop(config, new JvmLauncher(launcher), tcp, boot, new SupervisorMetrics(registry),
                    listener);
        } catch (NativeException e) {
            closeAll(tcp);
            boot.close();
            throw new StartupException(ExitCodes.INTERNAL, e.getMessage(), e);
        }
        // The admin endpoint and JMX come up before any worker is started, so a bad --admin costs nothing to undo:
        // no process to stop, only descriptors to close.
        JmxReporter jmx = null;
        AdminServer admin = null;
        try {
            if (config.jmx()) {
                jmx = JmxReporter.forRegistry(registry).inDomain(JMX_DOMAIN).build();
                jmx.start();
            }
            if (config.admin() != null) {
                admin = AdminServer.start(config.admin(), loop::status, registry);
            }
        } catch (IOException | RuntimeException e) {
            if (jmx != null) {
                jmx.stop();
            }
            loop.discard();
            closeAll(tcp);
            boot.close();
            if (e instanceof IOException) {
                throw new StartupException(ExitCodes.LISTEN_FAILED, adminProblem(config.admin(), (IOException) e), e);
            }
            throw new StartupException(ExitCodes.INTERNAL, "cannot start the admin endpoint or the JMX MBeans: " + e, e);
        }
        // Once it listens (the listeners are bound), and before any worker starts, so a failure costs nothing either.
        PidFile pidFile = null;
        if (config.pidFile() != null) {
            try {
                pidFile = PidFile.write(config.pidFile(), ProcessHandle.current().pid());
            } catch (IOException e) {
                if (admin != null) {
                    admin.close();
                }
                if (jmx != null) {
                    jmx.stop();
                }
                loop.discard();
                closeAll(tcp);
                boot.close();
                throw new StartupException(ExitCodes.USAGE, e.getMessage(), e);
            }
        }
        // From here on the loop owns tcp and boot (it closes both as it ends).
        Thread loopThread = new Thread(loop, "prefork-loop");
        loopThread.start();
        Thread bootThread = new Thread(() -> acceptWorkers(boot, loop), "prefork-bootstrap");
        bootThread.setDaemon(true);
        bootThread.start();
        return new Supervisor(config, loop.boundAddresses(), loop, registry, admin, jmx, pidFile);
    }

    /** Binds every {@code --listen} address, in order; on the first failure closes those already bound. */
    private static List<TcpListener> openListeners(SupervisorConfig config) throws StartupException {
        List<TcpListener> open = new ArrayList<>(config.listen().size());
        for (InetSocketAddress address : config.listen()) {
            try {
                open.add(TcpListener.open(address, config.backlog()));
            } catch (NativeException e) {
                closeAll(open);
                throw new StartupException(ExitCodes.LISTEN_FAILED, listenProblem(address, config.listen(), e), e);
            }
        }
        return open;
    }

    private static void closeAll(List<TcpListener> listeners) {
        for (TcpListener t : listeners) {
            t.close();
        }
    }

    /** Stops the admin endpoint and unregisters the MBeans; runs once, when the loop has terminated. */
    private void stopAdmin() {
        try {
            if (admin != null) {
                admin.close();
            }
        } catch (RuntimeException e) {
            LOG.warn("stopping the admin endpoint failed", e);
        }
        try {
            if (jmx != null) {
                jmx.stop();
            }
        } catch (RuntimeException e) {
            LOG.warn("unregistering the JMX MBeans failed", e);
        }
        if (pidFile != null) {
            pidFile.remove();
        }
    }

    private static String adminProblem(InetSocketAddress admin, IOException e) {
        String where = "--admin " + TcpListener.format(admin);
        switch (BindFailure.of(e)) {
            case IN_USE:
                return where + ": address already in use; stop the process using that port or choose another port";
            case NOT_LOCAL:
                return where + ": not an address of this machine; use 127.0.0.1 (or, with --admin-allow-remote, one "
                        + "of this machine's addresses)";
            case DENIED:
                return where + ": permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE, choose a "
                        + "higher port";
            default:
                return where + ": cannot listen (" + e.getMessage() + "); choose another address or port";
        }
    }

    private static void acceptWorkers(BootstrapServer bootServer, SupervisorLoop loop) {
        while (true) {
            BootstrapServer.Arrival a;
            try {
                a = bootServer.accept(5000);
            } catch (IOException e) {
                LOG.error("bootstrap endpoint failed: {}; stopping", e.getMessage());
                loop.requestStopNow();
                return;
            }
            if (a == null) {
                return; // closed: the supervisor is stopping
            }
            loop.arrived(a);
        }
    }

    private static String listenProblem(InetSocketAddress listen, List<InetSocketAddress> all, NativeException e) {
        String where = "--listen " + TcpListener.format(listen);
        switch (BindFailure.of(e)) {
            case IN_USE:
                for (InetSocketAddress before : all.subList(0, all.indexOf(listen))) {
                    if (before.getPort() == listen.getPort() && listen.getPort() != 0
                            && (before.getAddress().isAnyLocalAddress() || listen.getAddress().isAnyLocalAddress())) {
                        // Linux: a wildcard bind takes the port on every address ([::] on IPv4 too, by default).
                        return where + ": address already in use, by --listen " + TcpListener.format(before)
                                + " given before it (a wildcard address takes the port on every address, and [::] "
                                + "on IPv4 too); give only one of them";
                    }
                }
                return where + ": address already in use; stop the process using that port or choose another";
            case NOT_LOCAL:
                return where + ": not an address of this machine; use one of its addresses, 127.0.0.1 or 0.0.0.0";
            case DENIED:
                return where + ": permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE";
            default:
                return where + ": " + e.getMessage();
        }
    }

    /** The first listen address as bound (with the real port when 0 was configured). */
    public InetSocketAddress listenAddress() {
        return listenAddresses.get(0);
    }

    /** Every listen address as bound (real ports where 0 was configured), in the order of {@link SupervisorConfig#listen()}. */
    public List<InetSocketAddress> listenAddresses() {
        return listenAddresses;
    }

    /**
     * The address the admin endpoint ({@code --admin}) is bound to, with the real port when 0 was configured; null
     * when there is none. It stops answering when the supervisor terminates.
     */
    public InetSocketAddress adminAddress() {
        return admin == null ? null : admin.address();
    }

    public SupervisorConfig config() {
        return config;
    }

    /**
     * Completes with the bound listen addresses once every worker is ready; fails if the supervisor stops first. Each
     * call returns a future of its own: completing or cancelling it affects nothing but that future.
     */
    public CompletableFuture<List<InetSocketAddress>> ready() {
        return copyOf(loop.ready());
    }

    /**
     * Completes once the supervisor has stopped and reaped every worker, and its admin endpoint and MBeans are gone.
     * A future derived from the loop's (see the constructor), so completing it cannot reach the loop.
     */
    public CompletableFuture<Termination> terminated() {
        return terminated;
    }

    /**
     * A future completed as {@code source} is, with the same exception (not wrapped, as {@link CompletableFuture#copy}
     * would wrap it): the loop's own future stays out of reach of a caller that completes or cancels its copy. Once
     * {@code source} is done the copy is completed at once, with nothing left registered on {@code source}; a caller
     * that polls {@link #ready()} adds one small callback per call only until the supervisor is ready.
     */
    private static <T> CompletableFuture<T> copyOf(CompletableFuture<T> source) {
        CompletableFuture<T> copy = new CompletableFuture<>();
        source.whenComplete((value, failure) -> {
            if (failure != null) {
                copy.completeExceptionally(failure);
            } else {
                copy.complete(value);
            }
        });
        return copy;
    }

    /** The Dropwizard registry: connections accepted, handoff latency, restarts, queue depth. */
    public MetricRegistry metrics() {
        return registry;
    }

    /** Graceful stop (as SIGTERM): stop accepting, finish in-flight connections up to the graceful timeout. */
    public void stop() {
        loop.requestStop();
    }

    /** Quick stop: workers get SIGTERM now, SIGKILL after a few seconds. */
    public void stopNow() {
        loop.requestStopNow();
    }

    /**
     * Rolling reload (SIGHUP): every worker is replaced by a fresh JVM (so new code on the worker classpath takes
     * effect), one at a time; each replacement is ready before the worker it replaces stops taking connections.
     */
    public void reload() {
        loop.requestReload();
    }

    /** One more worker (SIGTTIN). */
    public void addWorker() {
        loop.requestAddWorker();
    }

    /** One fewer worker (SIGTTOU): the oldest is drained, then stopped. */
    public void removeWorker() {
        loop.requestRemoveWorker();
    }

    /** A consistent snapshot of the supervisor and its workers. */
    public CompletableFuture<SupervisorStatus> status() {
        return loop.status();
    }

    /** Waits for termination. */
    public Termination awaitTermination(Duration timeout) throws TimeoutException, InterruptedException {
        try {
            return terminated.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** Graceful stop, then waits for termination (at most the graceful timeout plus the kill timeout). */
    @Override
    public void close() {
        stop();
        try {
            awaitTermination(config.gracefulTimeout().plusSeconds(30));
        } catch (TimeoutException e) {
            stopNow();
        } catch (InterruptedException e) {
            stopNow();
            Thread.currentThread().interrupt();
        }
    }
}
