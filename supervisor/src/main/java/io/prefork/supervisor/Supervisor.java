package io.prefork.supervisor;

import com.codahale.metrics.MetricRegistry;
import io.prefork.internal.nativeio.Bootstrap;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.nativeio.TcpListener;
import io.prefork.supervisor.internal.loop.SupervisorLoop;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.process.WorkerClassCheck;
import io.prefork.supervisor.internal.process.WorkerLauncher;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running prefork supervisor: a listening socket, N worker JVMs, and the loop that hands each accepted connection
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
 * <p>Threads: {@code prefork-loop} owns all state; {@code prefork-bootstrap} hands new workers their channel. Both
 * end when the supervisor terminates, after every worker has been reaped.
 */
public final class Supervisor implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");

    private final SupervisorConfig config;
    private final InetSocketAddress listenAddress;
    private final SupervisorLoop loop;
    private final MetricRegistry registry;
    private final Bootstrap.Server bootServer;

    private Supervisor(SupervisorConfig config, InetSocketAddress listenAddress, SupervisorLoop loop,
                       MetricRegistry registry, Bootstrap.Server bootServer) {
        this.config = config;
        this.listenAddress = listenAddress;
        this.loop = loop;
        this.registry = registry;
        this.bootServer = bootServer;
    }

    /**
     * Checks the worker class, binds the listening socket and starts the workers. Returns once listening; use
     * {@link #ready()} to wait for the workers.
     *
     * @throws StartupException with {@link ExitCodes#USAGE} for a bad worker class, {@link ExitCodes#LISTEN_FAILED}
     *     when the address cannot be bound
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
        TcpListener tcp;
        try {
            tcp = TcpListener.open(config.listen(), config.backlog());
        } catch (NativeException e) {
            throw new StartupException(ExitCodes.LISTEN_FAILED, listenProblem(config.listen(), e), e);
        }
        Bootstrap.Server boot;
        try {
            boot = Bootstrap.Server.open();
        } catch (IOException e) {
            tcp.close();
            throw new StartupException(ExitCodes.INTERNAL, "cannot create the private endpoint workers connect to "
                    + "(in " + System.getProperty("java.io.tmpdir") + "): " + e.getMessage(), e);
        }
        MetricRegistry registry = new MetricRegistry();
        WorkerLauncher launcher = new WorkerLauncher(WorkerLauncher.currentJava(), WorkerLauncher.ownClasspath(),
                config.workerClasspath(), config.workerJvmOptions(), config.workerClass(), config.concurrency(),
                config.workerSettings());
        SupervisorLoop loop;
        try {
            loop = new SupervisorLoop(config, launcher, tcp, boot, new SupervisorMetrics(registry), listener);
        } catch (NativeException e) {
            tcp.close();
            boot.close();
            throw new StartupException(ExitCodes.INTERNAL, e.getMessage(), e);
        }
        Supervisor s = new Supervisor(config, tcp.boundAddress(), loop, registry, boot);
        Thread loopThread = new Thread(loop, "prefork-loop");
        loopThread.start();
        Thread bootThread = new Thread(s::acceptWorkers, "prefork-bootstrap");
        bootThread.setDaemon(true);
        bootThread.start();
        return s;
    }

    private void acceptWorkers() {
        while (true) {
            Bootstrap.Arrival a;
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

    private static String listenProblem(InetSocketAddress listen, NativeException e) {
        String where = "--listen " + TcpListener.format(listen);
        switch (e.errno()) {
            case Native.EADDRINUSE:
                return where + ": address already in use; stop the process using that port or choose another";
            case Native.EADDRNOTAVAIL:
                return where + ": not an address of this machine; use one of its addresses, 127.0.0.1 or 0.0.0.0";
            case Native.EACCES:
                return where + ": permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE";
            default:
                return where + ": " + e.getMessage();
        }
    }

    /** The address actually bound (with the real port when 0 was configured). */
    public InetSocketAddress listenAddress() {
        return listenAddress;
    }

    public SupervisorConfig config() {
        return config;
    }

    /** Completes with the listen address once every worker is ready; fails if the supervisor stops first. */
    public CompletableFuture<InetSocketAddress> ready() {
        return loop.ready;
    }

    /** Completes once the supervisor has stopped and reaped every worker. */
    public CompletableFuture<Termination> terminated() {
        return loop.terminated;
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
            return loop.terminated.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
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
