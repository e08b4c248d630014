package io.prefork.supervisor;

import io.prefork.internal.proxy.AllowList;
import io.prefork.internal.proxy.ProxyMode;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.supervisor.internal.process.WorkerJava;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything a {@link Supervisor} needs, validated once by {@link Builder#build()} and immutable after (HikariCP's
 * "validate once and seal"). Every check throws a {@link ConfigException} naming the command-line setting, the
 * value and what to do.
 */
public final class SupervisorConfig {
    public static final int MAX_WORKERS = 1024;
    public static final int MAX_CONCURRENCY = 100_000;
    public static final int MAX_PREFETCH = 1024;
    public static final Duration MAX_PREFETCH_TIMEOUT = Duration.ofSeconds(60);
    public static final Duration MAX_KEEP_ALIVE = Duration.ofHours(24);
    public static final int MAX_PARKED = 1_000_000;
    /** Listening sockets, each one more descriptor in the loop's poll set. */
    public static final int MAX_LISTEN = 64;

    private final List<InetSocketAddress> listen;
    private final int workers;
    private final String workerClass;
    private final List<Path> workerClasspath;
    private final int concurrency;
    private final int prefetch;
    private final Duration prefetchTimeout;
    private final boolean prefetchTimeoutGiven;
    private final Duration keepAlive;
    private final int maxParked;
    private final Duration gracefulTimeout;
    private final Duration bootTimeout;
    private final List<String> workerJvmOptions;
    private final Map<String, String> workerSettings;
    private final int queueSize;
    private final int backlog;
    private final int maxRequests;
    private final int spareWorkers;
    private final int maxRequestsJitter;
    private final Duration timeout;
    private final Duration heartbeatTimeout;
    private final InetSocketAddress admin;
    private final boolean adminAllowRemote;
    private final boolean jmx;
    private final Path pidFile;
    private final Path workerJava;
    private final String proxyProtocol;
    private final String proxyAllowFrom;
    private final Map<Integer, String> inheritedListeners;
    private final String inheritedFrom;
    private final String user;
    private final String group;
    private final boolean dropPrivileges;
    private final int workerUid;
    private final int workerGid;

    private SupervisorConfig(Builder b) {
        this.listen = List.copyOf(b.listen);
        this.workers = b.workers;
        this.workerClass = b.workerClass;
        this.workerClasspath = List.copyOf(b.workerClasspath);
        this.concurrency = b.concurrency;
        this.prefetch = b.prefetch;
        this.prefetchTimeout = b.prefetchTimeout;
        this.prefetchTimeoutGiven = b.prefetchTimeoutGiven;
        this.keepAlive = b.keepAlive;
        this.maxParked = b.maxParked;
        this.gracefulTimeout = b.gracefulTimeout;
        this.bootTimeout = b.bootTimeout;
        this.workerJvmOptions = List.copyOf(b.workerJvmOptions);
        this.workerSettings = Map.copyOf(b.workerSettings);
        this.queueSize = b.queueSize;
        this.backlog = b.backlog;
        this.maxRequests = b.maxRequests;
        this.spareWorkers = b.spareWorkers;
        this.maxRequestsJitter = b.maxRequestsJitter;
        this.timeout = b.timeout;
        this.heartbeatTimeout = b.heartbeatTimeout;
        this.admin = b.admin;
        this.adminAllowRemote = b.adminAllowRemote;
        this.jmx = b.jmx;
        this.pidFile = b.pidFile;
        this.workerJava = b.resolvedWorkerJava;
        this.proxyProtocol = b.proxyProtocol;
        this.proxyAllowFrom = b.proxyAllowFrom;
        this.inheritedListeners = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(b.inheritedListeners));
        this.inheritedFrom = b.inheritedFrom;
        this.user = b.user;
        this.group = b.group;
        this.dropPrivileges = b.dropPrivileges;
        this.workerUid = b.workerUid;
        this.workerGid = b.workerGid;
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Where to listen, one socket per address, in the order given (at least one); port 0 means "any free port", and
     * {@link Supervisor#listenAddresses()} tells the ports actually bound.
     */
    public List<InetSocketAddress> listen() {
        return listen;
    }

    public int workers() {
        return workers;
    }

    public String workerClass() {
        return workerClass;
    }

    public List<Path> workerClasspath() {
        return workerClasspath;
    }

    public int concurrency() {
        return concurrency;
    }

    /** Connections that may wait, untaken, in a worker whose slots are all busy; 0 = none (wait in the supervisor). */
    public int prefetch() {
        return prefetch;
    }

    /**
     * Deprecated and ignored: a connection sent ahead is revoked and served by the first worker that frees, so no
     * worker gives anything back after a timeout. Kept so that config files and scripts that set it still start.
     */
    public Duration prefetchTimeout() {
        return prefetchTimeout;
    }

    /** Whether {@code --prefetch-timeout} was set, so that the supervisor can say at start that it is ignored. */
    public boolean prefetchTimeoutGiven() {
        return prefetchTimeoutGiven;
    }

    public Duration keepAlive() {
        return keepAlive;
    }

    /** The most parked connections held at once; 0 closes every connection a handler parks. */
    public int maxParked() {
        return maxParked;
    }

    public Duration gracefulTimeout() {
        return gracefulTimeout;
    }

    public Duration bootTimeout() {
        return bootTimeout;
    }

    public List<String> workerJvmOptions() {
        return workerJvmOptions;
    }

    /**
     * The {@code java} executable workers run on ({@code --worker-java}, resolved from a JDK home if one was given);
     * null for this JVM's own.
     */
    public Path workerJava() {
        return workerJava;
    }

    public Map<String, String> workerSettings() {
        return workerSettings;
    }

    public int queueSize() {
        return queueSize;
    }

    public int backlog() {
        return backlog;
    }

    /** Connections after which a worker is replaced (0: never). */
    public int maxRequests() {
        return maxRequests;
    }

    /**
     * Booted, ready workers kept outside the rotation ({@code --spare-workers}): one is promoted at once when a worker
     * dies, is recycled or reloaded, or TTIN adds one, and a new spare boots behind it.
     */
    public int spareWorkers() {
        return spareWorkers;
    }

    /** A random 0..this is added to {@link #maxRequests()} per worker, so workers do not all recycle at once. */
    public int maxRequestsJitter() {
        return maxRequestsJitter;
    }

    /** A connection held by a worker longer than this gets the worker killed and replaced (zero: never). */
    public Duration timeout() {
        return timeout;
    }

    /** A worker silent (no frame, heartbeats included) for this long is killed and replaced. */
    public Duration heartbeatTimeout() {
        return heartbeatTimeout;
    }

    /** Where the admin HTTP endpoint listens, or null for none. */
    public InetSocketAddress admin() {
        return admin;
    }

    /** Whether {@link #admin()} may be a non-loopback address. */
    public boolean adminAllowRemote() {
        return adminAllowRemote;
    }

    /** Whether the metrics are registered as JMX MBeans. */
    public boolean jmx() {
        return jmx;
    }

    /** Where the supervisor writes its pid once it listens ({@code --pid}), or null for nowhere. */
    public Path pidFile() {
        return pidFile;
    }

    /** {@code off}, {@code v1}, {@code v2} or {@code auto}: the PROXY protocol header each connection must begin with. */
    public String proxyProtocol() {
        return proxyProtocol;
    }

    /** The CIDR blocks of the balancers allowed to send a PROXY protocol header, comma-separated. */
    public String proxyAllowFrom() {
        return proxyAllowFrom;
    }

    /**
     * Listening sockets this process inherited (systemd socket activation), descriptor to name ("" for none), in
     * order; empty when it binds {@link #listen()} itself. When not empty, these are served and {@link #listen()} is
     * not bound.
     */
    public Map<Integer, String> inheritedListeners() {
        return inheritedListeners;
    }

    /** Who passed the {@link #inheritedListeners()}, for the log: {@link #FROM_SERVICE_MANAGER} or {@link #FROM_UPGRADE}. */
    public String inheritedFrom() {
        return inheritedFrom;
    }

    /** The user workers run as ({@code --user}), or null for the supervisor's own. */
    public String user() {
        return user;
    }

    /** The group workers run as ({@code --group}), or null for the user's primary group. */
    public String group() {
        return group;
    }

    /**
     * Whether the supervisor itself switches to {@link #user()} and {@link #group()} once its sockets, admin endpoint
     * and pid file are set up ({@code --drop-privileges}); its workers then inherit that user.
     */
    public boolean dropPrivileges() {
        return dropPrivileges;
    }

    /** The uid workers run as, resolved from {@link #user()}; -1 when they run as the supervisor's user. */
    public int workerUid() {
        return workerUid;
    }

    /** The gid workers run as, from {@link #group()} or the user's primary group; -1 without {@link #user()}. */
    public int workerGid() {
        return workerGid;
    }

    /** Socket activation: systemd (or its test tool) passed the sockets. */
    public static final String FROM_SERVICE_MANAGER = "the service manager (LISTEN_FDS)";
    /** An upgrade (USR2): the old supervisor passed them. */
    public static final String FROM_UPGRADE = "the old supervisor (upgrade)";

    /**
     * Parses {@code HOST:PORT}; an IPv6 literal goes in brackets ({@code [::1]:8080}).
     *
     * @throws ConfigException naming {@code --listen} if the text is malformed or the host does not resolve
     */
    public static InetSocketAddress parseListen(String text) {
        return parseAddress("--listen", text);
    }

    /**
     * Parses {@code HOST:PORT} for the named setting.
     *
     * @throws ConfigException naming {@code setting}
     */
    public static InetSocketAddress parseAddress(String setting, String text) {
        String hint = "expected HOST:PORT, e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080 (port 0 picks a free port)";
        if (text == null || text.isBlank()) {
            throw new ConfigException(setting, "''", hint);
        }
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new ConfigException(setting, text, hint);
        }
        String host = text.substring(0, colon);
        String portText = text.substring(colon + 1);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.contains(":")) {
            throw new ConfigException(setting, text, "put an IPv6 address in brackets, e.g. [::1]:8080");
        }
        if (host.isBlank()) {
            throw new ConfigException(setting, text, "the host is empty; " + hint);
        }
        int port;
        try {
            if (!portText.chars().allMatch(ch -> ch >= '0' && ch <= '9')) {
                throw new NumberFormatException(portText);
            }
            port = Integer.parseInt(portText);
        } catch (NumberFormatException e) {
            throw new ConfigException(setting, text, "the port '" + portText + "' is not a number; " + hint);
        }
        if (port < 0 || port > 65535) {
            throw new ConfigException(setting, text, "the port must be 0 to 65535");
        }
        try {
            return new InetSocketAddress(InetAddress.getByName(host), port);
        } catch (UnknownHostException e) {
            throw new ConfigException(setting, text, "the host '" + host + "' does not resolve; use an IP address "
                    + "or a name in /etc/hosts");
        }
    }

    private static String shownUser(String name) {
        return name.isBlank() ? "'" + name + "'" : name;
    }

    /** Collects settings; {@link #build()} validates them all. */
    public static final class Builder {
        private List<InetSocketAddress> listen = List.of();
        private int workers = Math.max(1, Runtime.getRuntime().availableProcessors());
        private String workerClass;
        private final List<Path> workerClasspath = new ArrayList<>();
        private int concurrency = 1;
        // 2: measured on the e2e bench, ~0.70-0.84x plain conn/s at 1.35-1.79x CPU against 0.44-0.65x / 2.1-2.6x
        // at 0; revocation keeps a connection sent ahead from waiting behind a long request.
        private int prefetch = 2;
        private Duration prefetchTimeout = Duration.ofMillis(100);
        private boolean prefetchTimeoutGiven;
        private Duration keepAlive = Duration.ofSeconds(15);
        private int maxParked = 10_000;
        private Duration gracefulTimeout = Duration.ofSeconds(30);
        private Duration bootTimeout = Duration.ofSeconds(60);
        private final List<String> workerJvmOptions = new ArrayList<>();
        private final Map<String, String> workerSettings = new LinkedHashMap<>();
        private int queueSize = 1024;
        private int backlog = 1024;
        private int maxRequests;
        private int spareWorkers;
        private int maxRequestsJitter;
        private Duration timeout = Duration.ZERO;
        private Duration heartbeatTimeout = Duration.ofSeconds(30);
        private InetSocketAddress admin;
        private boolean adminAllowRemote;
        private boolean jmx = true;
        private Path pidFile;
        private Path workerJava;
        private Path resolvedWorkerJava;
        private String proxyProtocol = ProxyMode.OFF.cliName();
        private String proxyAllowFrom = AllowList.DEFAULT;
        private Map<Integer, String> inheritedListeners = Map.of();
        private String inheritedFrom = FROM_SERVICE_MANAGER;
        private String user;
        private String group;
        private boolean dropPrivileges;
        private int workerUid = -1;
        private int workerGid = -1;

        private Builder() {
        }

        public Builder spareWorkers(int n) {
            this.spareWorkers = n;
            return this;
        }

        public Builder maxRequests(int n) {
            this.maxRequests = n;
            return this;
        }

        public Builder maxRequestsJitter(int n) {
            this.maxRequestsJitter = n;
            return this;
        }

        public Builder timeout(Duration d) {
            this.timeout = d;
            return this;
        }

        public Builder heartbeatTimeout(Duration d) {
            this.heartbeatTimeout = d;
            return this;
        }

        /** The admin endpoint's address, or null for none. */
        public Builder admin(InetSocketAddress address) {
            this.admin = address;
            return this;
        }

        /** {@code HOST:PORT}, as on the command line ({@code --admin}). */
        public Builder admin(String hostPort) {
            this.admin = parseAddress("--admin", hostPort);
            return this;
        }

        public Builder adminAllowRemote(boolean allow) {
            this.adminAllowRemote = allow;
            return this;
        }

        public Builder jmx(boolean enabled) {
            this.jmx = enabled;
            return this;
        }

        /** {@code off} (the default), {@code v1}, {@code v2} or {@code auto}: see {@code --proxy-protocol}. */
        public Builder proxyProtocol(String mode) {
            this.proxyProtocol = mode;
            return this;
        }

        /** Comma-separated CIDR blocks (default loopback): see {@code --proxy-allow-from}. */
        public Builder proxyAllowFrom(String cidrs) {
            this.proxyAllowFrom = cidrs;
            return this;
        }

        /** The pid file ({@code --pid}), or null for none. */
        public Builder pidFile(Path file) {
            this.pidFile = file;
            return this;
        }

        /**
         * Listening sockets this process inherited, to serve instead of binding {@link #listen}: descriptor to name
         * (for messages; "" for none), in order. The supervisor checks each is a listening TCP socket and then owns
         * it. {@code Main} takes them from systemd's {@code LISTEN_FDS}.
         */
        public Builder inheritedListeners(Map<Integer, String> fds) {
            this.inheritedListeners = new LinkedHashMap<>(fds);
            return this;
        }

        /** Like {@link #inheritedListeners(Map)}, saying who passed them ({@link #FROM_UPGRADE}...), for the log. */
        public Builder inheritedListeners(Map<Integer, String> fds, String from) {
            this.inheritedFrom = java.util.Objects.requireNonNull(from);
            return inheritedListeners(fds);
        }

        /** The user to run workers as ({@code --user}): a name or a uid; null for the supervisor's own. */
        public Builder user(String name) {
            this.user = name;
            return this;
        }

        /** With {@link #user}: the supervisor switches to that user too, after binding ({@code --drop-privileges}). */
        public Builder dropPrivileges(boolean drop) {
            this.dropPrivileges = drop;
            return this;
        }

        /** The group to run workers as ({@code --group}), with {@link #user}: a name or a gid. */
        public Builder group(String name) {
            this.group = name;
            return this;
        }

        /** The addresses to listen on, replacing any set before; one socket each. */
        public Builder listen(InetSocketAddress... addresses) {
            this.listen = List.of(addresses);
            return this;
        }

        /** {@code HOST:PORT} texts, as on the command line (one per {@code --listen}), replacing any set before. */
        public Builder listen(String... hostPorts) {
            return listen(Arrays.asList(hostPorts));
        }

        /** Like {@link #listen(String...)}. */
        public Builder listen(List<String> hostPorts) {
            List<InetSocketAddress> addresses = new ArrayList<>(hostPorts.size());
            for (String hostPort : hostPorts) {
                addresses.add(parseListen(hostPort));
            }
            this.listen = List.copyOf(addresses);
            return this;
        }

        public Builder workers(int n) {
            this.workers = n;
            return this;
        }

        public Builder workerClass(String className) {
            this.workerClass = className;
            return this;
        }

        public Builder workerClasspath(List<Path> entries) {
            this.workerClasspath.clear();
            this.workerClasspath.addAll(entries);
            return this;
        }

        public Builder concurrency(int k) {
            this.concurrency = k;
            return this;
        }

        public Builder prefetch(int n) {
            this.prefetch = n;
            return this;
        }

        /** Deprecated and ignored (see {@link SupervisorConfig#prefetchTimeout()}); still range-checked. */
        public Builder prefetchTimeout(Duration d) {
            this.prefetchTimeout = d;
            this.prefetchTimeoutGiven = true;
            return this;
        }

        /** How long a parked keep-alive connection may stay idle before it is closed. */
        public Builder keepAlive(Duration d) {
            this.keepAlive = d;
            return this;
        }

        public Builder maxParked(int n) {
            this.maxParked = n;
            return this;
        }

        public Builder gracefulTimeout(Duration d) {
            this.gracefulTimeout = d;
            return this;
        }

        public Builder bootTimeout(Duration d) {
            this.bootTimeout = d;
            return this;
        }

        /**
         * Runs the workers on another JVM: a {@code java} executable, or a JDK home (its {@code bin/java} is used);
         * null for this JVM's own (the default). Checked by {@link #build()}.
         */
        public Builder workerJava(Path javaOrHome) {
            this.workerJava = javaOrHome;
            return this;
        }

        public Builder workerJvmOptions(List<String> options) {
            this.workerJvmOptions.clear();
            this.workerJvmOptions.addAll(options);
            return this;
        }

        public Builder workerSettings(Map<String, String> settings) {
            this.workerSettings.clear();
            this.workerSettings.putAll(settings);
            return this;
        }

        public Builder queueSize(int n) {
            this.queueSize = n;
            return this;
        }

        public Builder backlog(int n) {
            this.backlog = n;
            return this;
        }

        /** Validates every setting and seals them. */
        public SupervisorConfig build() {
            if (listen.isEmpty() && inheritedListeners.isEmpty()) {
                throw new ConfigException("--listen", "(missing)", "say where to listen, e.g. --listen 127.0.0.1:8080, "
                        + "or start the supervisor with listening sockets from systemd (socket activation)");
            }
            if (inheritedListeners.size() > MAX_LISTEN) {
                throw new ConfigException("LISTEN_FDS", inheritedListeners.size() + " sockets", "at most " + MAX_LISTEN
                        + " listening sockets");
            }
            if (listen.size() > MAX_LISTEN) {
                throw new ConfigException("--listen", listen.size() + " addresses", "at most " + MAX_LISTEN
                        + " --listen addresses");
            }
            for (int i = 0; i < listen.size(); i++) {
                InetSocketAddress a = listen.get(i);
                // Port 0 twice is two free ports; the same fixed port twice could never both bind.
                if (a.getPort() != 0 && listen.subList(0, i).contains(a)) {
                    throw new ConfigException("--listen", TcpListener.format(a), "is given twice; give each address once");
                }
            }
            workerUid = -1;
            workerGid = -1;
            if (group != null && user == null) {
                throw new ConfigException("--group", group, "needs --user too: the group is for the workers' user");
            }
            if (dropPrivileges && user == null) {
                throw new ConfigException("--drop-privileges", "(without --user)", "needs --user: the user (and "
                        + "--group) the supervisor switches to after binding, e.g. --user nobody --drop-privileges");
            }
            if (user != null) {
                io.prefork.supervisor.internal.nativeio.Accounts.User u =
                        io.prefork.supervisor.internal.nativeio.Accounts.user(user);
                if (u == null || user.isBlank()) {
                    throw new ConfigException("--user", shownUser(user), "no such user on this machine; name an "
                            + "existing one (e.g. nobody) or create it (useradd --system NAME)");
                }
                workerUid = u.uid();
                workerGid = u.gid();
                if (group != null) {
                    workerGid = io.prefork.supervisor.internal.nativeio.Accounts.group(group);
                    if (workerGid < 0 || group.isBlank()) {
                        throw new ConfigException("--group", shownUser(group), "no such group on this machine; name "
                                + "an existing one (e.g. nogroup) or leave --group out for the user's own");
                    }
                }
            }
            if (workers < 1 || workers > MAX_WORKERS) {
                throw new ConfigException("--workers", workers, "must be 1 to " + MAX_WORKERS
                        + " (the number of worker processes)");
            }
            if (spareWorkers < 0 || spareWorkers > MAX_WORKERS) {
                throw new ConfigException("--spare-workers", spareWorkers, "must be 0 (none) to " + MAX_WORKERS
                        + " (booted workers kept outside the rotation)");
            }
            if (workerClass == null || workerClass.isBlank()) {
                throw new ConfigException("--worker", "(missing)", "name the class that implements "
                        + "io.prefork.worker.Worker, e.g. --worker io.prefork.examples.HelloHttpWorker");
            }
            if (!workerClass.matches("[\\p{javaJavaIdentifierStart}][\\p{javaJavaIdentifierPart}]*"
                    + "(\\.[\\p{javaJavaIdentifierStart}][\\p{javaJavaIdentifierPart}]*)*")) {
                throw new ConfigException("--worker", workerClass, "is not a Java class name (expected e.g. "
                        + "com.example.MyWorker)");
            }
            if (workerClasspath.isEmpty()) {
                throw new ConfigException("--worker-classpath", "(missing)", "give the jar(s) or directories that "
                        + "hold the worker class, separated by ':'");
            }
            for (Path p : workerClasspath) {
                if (!Files.exists(p)) {
                    throw new ConfigException("--worker-classpath", p, "does not exist (as seen from "
                            + Path.of("").toAbsolutePath() + "); build it first or fix the path");
                }
                if (!Files.isReadable(p)) {
                    throw new ConfigException("--worker-classpath", p, "is not readable by this user");
                }
            }
            if (concurrency < 1 || concurrency > MAX_CONCURRENCY) {
                throw new ConfigException("--concurrency", concurrency, "must be 1 to " + MAX_CONCURRENCY
                        + " (connections one worker serves at once)");
            }
            if (prefetch < 0 || prefetch > MAX_PREFETCH) {
                throw new ConfigException("--prefetch", prefetch, "must be 0 (connections wait in the supervisor) to "
                        + MAX_PREFETCH);
            }
            if (prefetchTimeout == null || prefetchTimeout.toMillis() < 1 || prefetchTimeout.compareTo(MAX_PREFETCH_TIMEOUT) > 0) {
                throw new ConfigException("--prefetch-timeout", prefetchTimeout == null ? "(missing)"
                        : prefetchTimeout.toMillis(), "must be 1 to " + MAX_PREFETCH_TIMEOUT.toMillis() + " milliseconds");
            }
            if (keepAlive == null || keepAlive.toSeconds() < 1 || keepAlive.compareTo(MAX_KEEP_ALIVE) > 0) {
                throw new ConfigException("--keep-alive", keepAlive == null ? "(missing)" : keepAlive.toSeconds(),
                        "must be 1 to " + MAX_KEEP_ALIVE.toSeconds() + " seconds (how long a parked connection may "
                                + "stay idle)");
            }
            if (maxParked < 0 || maxParked > MAX_PARKED) {
                throw new ConfigException("--max-parked", maxParked, "must be 0 (close what handlers park) to "
                        + MAX_PARKED);
            }
            if (gracefulTimeout == null) {
                throw new ConfigException("--graceful-timeout", "(missing)", "give a number of seconds");
            }
            if (bootTimeout == null) {
                throw new ConfigException("--boot-timeout", "(missing)", "give a number of seconds");
            }
            if (gracefulTimeout.isNegative()) {
                throw new ConfigException("--graceful-timeout", gracefulTimeout.toSeconds(), "must be 0 or more seconds");
            }
            if (bootTimeout.isNegative() || bootTimeout.isZero()) {
                throw new ConfigException("--boot-timeout", bootTimeout.toSeconds(), "must be more than 0 seconds");
            }
            if (queueSize < 0) {
                throw new ConfigException("--queue-size", queueSize, "must be 0 or more");
            }
            if (backlog < 1) {
                throw new ConfigException("--backlog", backlog, "must be at least 1");
            }
            for (String o : workerJvmOptions) {
                if (o.isBlank() || !o.startsWith("-")) {
                    throw new ConfigException("--worker-jvm-option", "'" + o + "'", "JVM options start with '-', "
                            + "e.g. --worker-jvm-option=-Xmx256m");
                }
                if (o.equals("-cp") || o.equals("-classpath") || o.equals("--class-path") || o.equals("-jar")) {
                    throw new ConfigException("--worker-jvm-option", o, "the worker classpath is set with "
                            + "--worker-classpath");
                }
            }
            if (maxRequests < 0) {
                throw new ConfigException("--max-requests", maxRequests, "must be 0 (never recycle) or more");
            }
            if (maxRequestsJitter < 0) {
                throw new ConfigException("--max-requests-jitter", maxRequestsJitter, "must be 0 or more");
            }
            if (timeout == null || timeout.isNegative()) {
                throw new ConfigException("--timeout", timeout == null ? "(missing)" : timeout.toSeconds(),
                        "must be 0 (no limit) or more seconds");
            }
            if (heartbeatTimeout == null || heartbeatTimeout.compareTo(Duration.ofSeconds(2)) < 0) {
                throw new ConfigException("--heartbeat-timeout", heartbeatTimeout == null ? "(missing)"
                        : heartbeatTimeout.toSeconds(), "must be at least 2 seconds (workers send a heartbeat every second)");
            }
            if (admin != null && !adminAllowRemote && !admin.getAddress().isLoopbackAddress()) {
                throw new ConfigException("--admin", admin.getAddress().getHostAddress() + ":" + admin.getPort(),
                        "is not a loopback address; the admin endpoint has no authentication, so it listens on "
                                + "loopback unless you add --admin-allow-remote");
            }
            try {
                ProxyMode.parse(String.valueOf(proxyProtocol));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("--proxy-protocol", proxyProtocol, "must be v1, v2 or auto (the PROXY "
                        + "protocol version the balancer sends: HAProxy send-proxy is v1, send-proxy-v2 is v2), or off");
            }
            try {
                AllowList.parse(String.valueOf(proxyAllowFrom));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("--proxy-allow-from", proxyAllowFrom, e.getMessage());
            }
            if (pidFile != null) {
                io.prefork.supervisor.internal.systemd.PidFile.check(pidFile);
            }
            resolvedWorkerJava = workerJava == null ? null : WorkerJava.resolve(workerJava);
            return new SupervisorConfig(this);
        }
    }
}
