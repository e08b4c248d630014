package io.prefork.supervisor;

import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.jmx.JmxReporter;
import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.nativeio.Syscalls;
import io.prefork.internal.proxy.AllowList;
import io.prefork.internal.proxy.ProxyMode;
import io.prefork.internal.proxy.ProxyProtocol;
import io.prefork.supervisor.internal.admin.AdminServer;
import io.prefork.supervisor.internal.loop.SupervisorLoop;
import io.prefork.supervisor.internal.metrics.SupervisorMetrics;
import io.prefork.supervisor.internal.nativeio.BindFailure;
import io.prefork.supervisor.internal.nativeio.BootstrapServer;
import io.prefork.supervisor.internal.nativeio.Privileges;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.supervisor.internal.process.JvmLauncher;
import io.prefork.supervisor.internal.process.WorkerClassCheck;
import io.prefork.supervisor.internal.process.WorkerLauncher;
import io.prefork.supervisor.internal.systemd.PidFile;
import io.prefork.supervisor.internal.upgrade.Upgrader;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
    /**
     * The admin endpoint, or null. Set later than construction only for an upgrade's new supervisor whose fixed
     * {@code --admin} port the old one still holds ({@link #bindAdminLater}); guarded by {@code this}.
     */
    private AdminServer admin;
    /** Set once the loop has terminated and {@link #stopAdmin()} ran: an admin bound later is closed at once. */
    private boolean adminStopped;
    /** The old supervisor's admin socket, handed over in an upgrade, until {@link #serveHandedOverAdmin}; or -1. */
    private int handedOverAdminFd = -1;
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
        return start(config, listener, -1);
    }

    /**
     * Like {@link #start(SupervisorConfig, SupervisorListener)}, for an upgrade's new supervisor: {@code adminFd} is
     * the old one's admin socket (or -1), served instead of binding {@code --admin}; owned here from the call on.
     */
    static Supervisor start(SupervisorConfig config, SupervisorListener listener, int adminFd)
            throws StartupException {
        int[] unused = {adminFd}; // set to -1 once passed on to AdminServer.adopt, which owns it from then on
        try {
            return startOwning(config, listener, unused);
        } finally {
            Native.closeQuietly(unused[0]); // not served (no --admin, or a failure before): not leaked either
        }
    }

    private static Supervisor startOwning(SupervisorConfig config, SupervisorListener listener, int[] adminFd)
            throws StartupException {
        // The supervisor binds libc with jnr-ffi for its own calls anyway; its control channels on FFM as well would
        // load about 390 more classes at start on JDK 22+ (FFM's linker and the method handles it spins, counted with
        // -Xlog:class+load). So jnr-ffi here, unless -Dprefork.native says otherwise; workers choose for themselves.
        if (System.getProperty(Syscalls.BACKEND_PROPERTY) == null) {
            System.setProperty(Syscalls.BACKEND_PROPERTY, "jnr");
        }
        try {
            Native.checkPlatform();
        } catch (UnsupportedOperationException e) {
            throw new StartupException(ExitCodes.USAGE, e.getMessage(), e);
        }
        if (config.prefetchTimeoutGiven()) {
            LOG.warn("--prefetch-timeout is deprecated and ignored: connections sent ahead are revoked and served by "
                    + "the first worker that frees");
        }
        try {
            WorkerClassCheck.check(config.workerClass(), config.workerClasspath(), config.workerJava() != null);
        } catch (ConfigException e) {
            throw new StartupException(ExitCodes.USAGE, e.getMessage(), e);
        }
        // First: with --drop-privileges, "needs root" is about the supervisor's own switch.
        boolean switchSelf = switchesUser(config);
        if (config.workerUid() >= 0 && config.workerUid() != Native.uid()) {
            if (Native.uid() != 0) {
                throw new StartupException(ExitCodes.USAGE, "--user " + config.user() + ": running workers as "
                        + "another user needs root, and this supervisor runs as uid " + Native.uid() + "; start it as "
                        + "root, or leave --user out", null);
            }
            if (!config.dropPrivileges()
                    && !java.nio.file.Files.isExecutable(java.nio.file.Path.of(WorkerLauncher.SETPRIV))) {
                throw new StartupException(ExitCodes.USAGE, "--user " + config.user() + ": " + WorkerLauncher.SETPRIV
                        + " is missing; it runs the workers as that user: install util-linux (Debian: apt-get "
                        + "install util-linux)", null);
            }
        }
        List<TcpListener> tcp = openListeners(config);
        BootstrapServer boot;
        try {
            boot = BootstrapServer.open(config.workerUid(), config.workerGid());
        } catch (IOException e) {
            closeAll(tcp);
            throw new StartupException(ExitCodes.INTERNAL, "cannot create the private endpoint workers connect to "
                    + "(in " + System.getProperty("java.io.tmpdir") + "): " + e.getMessage(), e);
        }
        MetricRegistry registry = new MetricRegistry();
        StringBuilder runtimeNote = new StringBuilder();
        List<String> own = WorkerLauncher.ownClasspath();
        List<String> runtime = WorkerLauncher.runtimeClasspath(own, runtimeNote);
        if (runtimeNote.length() > 0 && own.size() == 1) {
            // Run from the supervisor jar without its sibling: fixable, and the note says how.
            LOG.warn("worker runtime classpath: {}", runtimeNote);
        } else if (runtimeNote.length() > 0) {
            // Embedded, or tests from class directories: this JVM's classpath is the only one there is.
            LOG.debug("worker runtime classpath: {}", runtimeNote);
        }
        Path java = config.workerJava() != null ? config.workerJava() : WorkerLauncher.currentJava();
        WorkerLauncher launcher = new WorkerLauncher(java, runtime,
                config.workerClasspath(), config.workerJvmOptions(), config.workerClass(), config.concurrency(),
                config.workerSettings(),
                new ProxyProtocol(ProxyMode.parse(config.proxyProtocol()), AllowList.parse(config.proxyAllowFrom())));
        if (config.workerUid() >= 0 && !config.dropPrivileges()) {
            // With --drop-privileges the workers are started by the switched supervisor, and inherit its user.
            launcher.runAs(config.workerUid(), config.workerGid());
        }
        // Class data sharing for the workers' own classes, kept in a cache directory; system property
        // prefork.cdsCache names another directory, or "off". Not for workers run as another user (--user): the
        // cache is this user's, which that user may neither read nor write.
        String cds = System.getProperty("prefork.cdsCache", "");
        if (!cds.equals("off") && config.workerUid() < 0) {
            Path cache = cds.isEmpty() ? WorkerLauncher.defaultCacheDir() : Path.of(cds);
            launcher.withClassDataArchive(cache);
            launcher.withSharedJffiLibrary(cache); // the same cache, for workers on jnr-ffi (JDK 17-21)
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
            // An upgrade's new supervisor that was handed the old one's admin socket serves it once ready
            // (serveHandedOverAdmin): until then the old one answers there, /ready included, as the one serving.
            if (config.admin() != null && adminFd[0] < 0) {
                try {
                    admin = AdminServer.start(config.admin(), loop::status, registry);
                } catch (IOException e) {
                    // An upgrade: the old supervisor answers on this port (503 on /ready while it drains) until it
                    // exits; this one takes it over then.
                    if (!upgrade(config) || BindFailure.of(e) != BindFailure.IN_USE) {
                        throw e;
                    }
                    LOG.info("upgrade: --admin {} is still the old supervisor's; this one binds it once that one "
                            + "exits", TcpListener.format(config.admin()));
                }
            }
        } catch (IOException | RuntimeException e) {
            undoStart(null, jmx, loop, tcp, boot);
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
                undoStart(admin, jmx, loop, tcp, boot);
                throw new StartupException(ExitCodes.USAGE, e.getMessage(), e);
            }
        }
        if (switchSelf) {
            // Last, once everything that needs root is done (binding, the bootstrap directory given to the user, the
            // pid file) and before any thread of ours starts a worker: every worker is then the user's child.
            try {
                if (pidFile != null) {
                    pidFile.giveTo(config.workerUid(), config.workerGid());
                }
                Privileges.switchTo(config.user(), config.workerUid(), config.workerGid());
            } catch (IOException e) {
                if (pidFile != null) {
                    pidFile.remove();
                }
                undoStart(admin, jmx, loop, tcp, boot);
                throw new StartupException(ExitCodes.PRIVILEGES_FAILED, "--drop-privileges: cannot switch the "
                        + "supervisor to --user " + config.user() + " (uid " + config.workerUid() + ", gid "
                        + config.workerGid() + "): " + e.getMessage() + "; run it where it has CAP_SETUID and "
                        + "CAP_SETGID (root), or leave --drop-privileges out", e);
            }
            LOG.info("--drop-privileges: the supervisor now runs as {} (uid {}, gid {})", config.user(),
                    config.workerUid(), config.workerGid());
        }
        // From here on the loop owns tcp and boot (it closes both as it ends).
        Thread loopThread = new Thread(loop, "prefork-loop");
        loopThread.start();
        Thread bootThread = new Thread(() -> acceptWorkers(boot, loop), "prefork-bootstrap");
        bootThread.setDaemon(true);
        bootThread.start();
        Supervisor supervisor = new Supervisor(config, loop.boundAddresses(), loop, registry, admin, jmx, pidFile);
        if (config.admin() != null && adminFd[0] >= 0) {
            synchronized (supervisor) {
                supervisor.handedOverAdminFd = adminFd[0];
            }
            adminFd[0] = -1;
        } else if (config.admin() != null && admin == null) {
            supervisor.bindAdminLater();
        }
        return supervisor;
    }

    /**
     * {@code --drop-privileges}: whether this supervisor is to switch to {@code --user} after binding (false when it
     * already runs as that user and group, as the new supervisor of an upgrade, started by a switched one, does).
     *
     * @throws StartupException with {@link ExitCodes#USAGE} when it cannot: not root, or a {@code --pid} file in a
     *     directory that user could not remove it from
     */
    private static boolean switchesUser(SupervisorConfig config) throws StartupException {
        if (!config.dropPrivileges()) {
            return false;
        }
        try {
            if (Privileges.runsAs(config.workerUid(), config.workerGid())) {
                return false;
            }
            if (Native.uid() != 0) {
                throw new StartupException(ExitCodes.USAGE, "--drop-privileges: switching this supervisor to --user "
                        + config.user() + " needs root, and it runs as uid " + Native.uid() + "; start it as root, or "
                        + "leave --drop-privileges out", null);
            }
            if (config.pidFile() != null
                    && !PidFile.directoryWritableBy(config.pidFile(), config.workerUid(), config.workerGid())) {
                Path dir = config.pidFile().toAbsolutePath().getParent();
                throw new StartupException(ExitCodes.USAGE, "--pid " + config.pidFile() + ": with --drop-privileges "
                        + "the supervisor removes it as --user " + config.user() + " on exit, but its directory "
                        + dir + " is not writable by that user; give the directory to it (chown " + config.user()
                        + " " + dir + "; under systemd: RuntimeDirectory=) or choose another --pid", null);
            }
        } catch (IOException e) {
            throw new StartupException(ExitCodes.INTERNAL, "--drop-privileges: cannot check this process's "
                    + "credentials or --pid's directory: " + e.getMessage(), e);
        }
        return true;
    }

    private static boolean upgrade(SupervisorConfig config) {
        return !config.inheritedListeners().isEmpty() && config.inheritedFrom().equals(SupervisorConfig.FROM_UPGRADE);
    }

    /** How often an upgrade's new supervisor tries the old one's admin port again. */
    private static final long ADMIN_RETRY_MS = 100;

    /**
     * Binds {@code --admin} as soon as the old supervisor of an upgrade has let go of it, trying every
     * {@value #ADMIN_RETRY_MS} ms on a daemon thread, until bound or this supervisor terminates.
     */
    private void bindAdminLater() {
        Thread t = new Thread(() -> {
            while (!terminated.isDone()) {
                try {
                    Thread.sleep(ADMIN_RETRY_MS); // a poll: nothing announces that another process freed a port
                    AdminServer bound = AdminServer.start(config.admin(), loop::status, registry);
                    synchronized (this) {
                        if (adminStopped) {
                            bound.close();
                        } else {
                            admin = bound;
                            LOG.info("admin endpoint on {}", TcpListener.format(bound.address()));
                        }
                    }
                    return;
                } catch (IOException e) {
                    if (BindFailure.of(e) != BindFailure.IN_USE) {
                        LOG.error("cannot bind --admin {} after the upgrade: {}; no admin endpoint",
                                TcpListener.format(config.admin()), e.getMessage());
                        return;
                    }
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "prefork-admin-bind");
        t.setDaemon(true);
        t.start();
    }

    /**
     * Takes the inherited listeners (socket activation), or else binds every {@code --listen} address, in order; on
     * the first failure closes those already taken or bound.
     */
    private static List<TcpListener> openListeners(SupervisorConfig config) throws StartupException {
        if (!config.inheritedListeners().isEmpty()) {
            return inheritListeners(config);
        }
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

    private static List<TcpListener> inheritListeners(SupervisorConfig config) throws StartupException {
        boolean upgrade = config.inheritedFrom().equals(SupervisorConfig.FROM_UPGRADE);
        if (!config.listen().isEmpty() && !upgrade) {
            LOG.warn("--listen {} ignored: the service manager passed {} listening socket(s) (LISTEN_FDS), which are "
                    + "served instead", TcpListener.format(config.listen()), config.inheritedListeners().size());
        }
        List<TcpListener> open = new ArrayList<>(config.inheritedListeners().size());
        for (Map.Entry<Integer, String> e : config.inheritedListeners().entrySet()) {
            int fd = e.getKey();
            String which = (upgrade ? "upgrade" : "socket activation") + ": descriptor " + fd
                    + (e.getValue().isEmpty() ? "" : " (LISTEN_FDNAMES \"" + e.getValue() + "\")");
            try {
                open.add(TcpListener.inherit(fd));
            } catch (TcpListener.NotAListener wrong) {
                closeAll(open);
                throw new StartupException(ExitCodes.INHERITED_SOCKET_INVALID, which + " " + wrong.getMessage()
                        + "; Prefork serves listening TCP sockets only: in the .socket unit use ListenStream= with an "
                        + "address or port (not a path) and Accept=no (the default)", wrong);
            } catch (NativeException failed) {
                closeAll(open);
                throw new StartupException(ExitCodes.INHERITED_SOCKET_INVALID, which + ": cannot check it ("
                        + failed.getMessage() + ")", failed);
            }
        }
        LOG.info("{}: serving {} inherited listening socket(s): {}", upgrade ? "upgrade" : "socket activation",
                open.size(),
                TcpListener.format(open.stream().map(TcpListener::boundAddress).toList()));
        return open;
    }

    /**
     * Releases what a start that fails after the loop exists had set up, in the reverse order of setting it up:
     * the admin endpoint (null if not started), the MBeans, the loop, the listeners, the bootstrap endpoint.
     */
    private static void undoStart(AdminServer admin, JmxReporter jmx, SupervisorLoop loop, List<TcpListener> tcp,
                                  BootstrapServer boot) {
        if (admin != null) {
            admin.close();
        }
        if (jmx != null) {
            jmx.stop();
        }
        loop.discard();
        closeAll(tcp);
        boot.close();
    }

    private static void closeAll(List<TcpListener> listeners) {
        for (TcpListener t : listeners) {
            t.close();
        }
    }

    /** Stops the admin endpoint and unregisters the MBeans; runs once, when the loop has terminated. */
    private void stopAdmin() {
        AdminServer admin;
        synchronized (this) {
            adminStopped = true;
            admin = this.admin;
            Native.closeQuietly(handedOverAdminFd); // a new supervisor that never became ready
            handedOverAdminFd = -1;
        }
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
    public synchronized InetSocketAddress adminAddress() {
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
        stop("stop()");
    }

    /** {@link #stop()}, logged as asked for by {@code via} (a signal, this API, the JVM's shutdown). */
    void stop(String via) {
        LOG.info("{}: graceful stop: no new connections; those in flight may finish (up to {} s, --graceful-timeout)",
                via, config.gracefulTimeout().toSeconds());
        loop.requestStop();
    }

    /** Quick stop: workers get SIGTERM now, SIGKILL after a few seconds. */
    public void stopNow() {
        stopNow("stopNow()");
    }

    /** {@link #stopNow()}, logged as asked for by {@code via} (a signal, this API, the JVM's shutdown). */
    void stopNow(String via) {
        LOG.info("{}: {}", via, "quick stop: workers get TERM now and KILL 5 s later; queued connections are closed");
        loop.requestStopNow();
    }

    /**
     * Rolling reload (SIGHUP): every worker is replaced by a fresh JVM (so new code on the worker classpath takes
     * effect), one at a time; each replacement is ready before the worker it replaces stops taking connections.
     */
    public void reload() {
        reload("reload()");
    }

    /** {@link #reload()}, logged as asked for by {@code via} (a signal, this API, the JVM's shutdown). */
    void reload(String via) {
        LOG.info("{}: {}", via, "rolling reload: every worker is replaced by a fresh JVM, one at a time");
        loop.requestReload();
    }

    /**
     * Upgrade (SIGUSR2, gunicorn's convention): starts a new supervisor with {@code command} (normally this one's, from
     * {@link io.prefork.supervisor.internal.upgrade.Upgrader#currentCommand}) and hands it the listening sockets; once
     * its workers are ready, this supervisor stops accepting, drains as a graceful stop does, and exits 0. If the new
     * one fails (exits, or is not ready within the boot timeout plus 30 s), it is stopped, the reason is logged, and
     * this one serves on. Ignored, with a log line, unless running and not already upgrading.
     */
    public void upgrade(List<String> command) {
        long self = ProcessHandle.current().pid();
        loop.requestUpgrade(fds -> Upgrader.start(command, fds, duplicateAdmin(), config.bootTimeout().plusSeconds(30),
                new Upgrader.Outcome() {
                    @Override
                    public void handedOver(long pid) {
                        loop.requestHandOver(pid);
                        // The new one serves the shared admin socket now: new admin connections go to it alone.
                        AdminServer a;
                        synchronized (Supervisor.this) {
                            a = admin;
                        }
                        if (a != null) {
                            a.stopAccepting();
                        }
                    }

                    @Override
                    public void failed(String reason) {
                        // The new one wrote its pid there as it started; scripts must find the one still serving.
                        if (config.pidFile() != null) {
                            try {
                                PidFile.write(config.pidFile(), self);
                            } catch (IOException e) {
                                LOG.warn("cannot restore the pid file after the failed upgrade: {}", e.getMessage());
                            }
                        }
                        loop.upgradeFailed(reason);
                    }
                }));
    }

    /**
     * An upgrade's new supervisor, now ready and about to tell the old one: starts serving the admin socket the old
     * one handed over ({@link AdminServer#adopt}), so that the port is answered by this one from here on, the old
     * one stopping accepting there once told. Falls back to binding {@code --admin} once the old one lets go of it
     * when the socket cannot be served. Does nothing without such a socket.
     */
    void serveHandedOverAdmin() {
        int fd;
        synchronized (this) {
            fd = handedOverAdminFd;
            handedOverAdminFd = -1;
            if (fd < 0 || adminStopped) {
                Native.closeQuietly(fd);
                return;
            }
        }
        try {
            AdminServer adopted = AdminServer.adopt(fd, loop::status, registry);
            synchronized (this) {
                if (adminStopped) {
                    adopted.close();
                    return;
                }
                admin = adopted;
            }
            LOG.info("upgrade: serving the old supervisor's admin socket {}; the old one stops accepting there",
                    TcpListener.format(adopted.address()));
        } catch (IOException e) {
            LOG.warn("upgrade: {}; binding --admin {} once the old supervisor lets go of it instead", e.getMessage(),
                    TcpListener.format(config.admin()));
            bindAdminLater();
        }
    }

    /**
     * A duplicate of the admin endpoint's socket for an upgrade's new supervisor, or -1 (none, or not found: the new
     * one then binds the port once this one lets go of it, as before the hand-over of the admin socket).
     */
    private int duplicateAdmin() {
        AdminServer a;
        synchronized (this) {
            a = admin;
        }
        if (a == null) {
            return -1;
        }
        try {
            return a.duplicateListener();
        } catch (IOException e) {
            LOG.warn("upgrade: the admin socket cannot be handed over ({}); the new supervisor binds --admin once this "
                    + "one exits", e.getMessage());
            return -1;
        }
    }

    /** One more worker (SIGTTIN). */
    public void addWorker() {
        addWorker("addWorker()");
    }

    /** {@link #addWorker()}, logged as asked for by {@code via} (a signal, this API, the JVM's shutdown). */
    void addWorker(String via) {
        LOG.info("{}: {}", via, "one more worker");
        loop.requestAddWorker();
    }

    /** One fewer worker (SIGTTOU): the oldest is drained, then stopped. */
    public void removeWorker() {
        removeWorker("removeWorker()");
    }

    /** {@link #removeWorker()}, logged as asked for by {@code via} (a signal, this API, the JVM's shutdown). */
    void removeWorker(String via) {
        LOG.info("{}: {}", via, "one fewer worker");
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
