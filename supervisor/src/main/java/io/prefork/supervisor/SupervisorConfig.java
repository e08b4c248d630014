package io.prefork.supervisor;

import io.prefork.supervisor.internal.nativeio.TcpListener;
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
    private final Duration keepAlive;
    private final int maxParked;
    private final Duration gracefulTimeout;
    private final Duration bootTimeout;
    private final List<String> workerJvmOptions;
    private final Map<String, String> workerSettings;
    private final int queueSize;
    private final int backlog;
    private final int maxRequests;
    private final int maxRequestsJitter;
    private final Duration timeout;
    private final Duration heartbeatTimeout;
    private final InetSocketAddress admin;
    private final boolean adminAllowRemote;
    private final boolean jmx;
    private final Path pidFile;

    private SupervisorConfig(Builder b) {
        this.listen = List.copyOf(b.listen);
        this.workers = b.workers;
        this.workerClass = b.workerClass;
        this.workerClasspath = List.copyOf(b.workerClasspath);
        this.concurrency = b.concurrency;
        this.prefetch = b.prefetch;
        this.prefetchTimeout = b.prefetchTimeout;
        this.keepAlive = b.keepAlive;
        this.maxParked = b.maxParked;
        this.gracefulTimeout = b.gracefulTimeout;
        this.bootTimeout = b.bootTimeout;
        this.workerJvmOptions = List.copyOf(b.workerJvmOptions);
        this.workerSettings = Map.copyOf(b.workerSettings);
        this.queueSize = b.queueSize;
        this.backlog = b.backlog;
        this.maxRequests = b.maxRequests;
        this.maxRequestsJitter = b.maxRequestsJitter;
        this.timeout = b.timeout;
        this.heartbeatTimeout = b.heartbeatTimeout;
        this.admin = b.admin;
        this.adminAllowRemote = b.adminAllowRemote;
        this.jmx = b.jmx;
        this.pidFile = b.pidFile;
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

    /** How long every slot of a worker may stay busy before what was prefetched to it is given back. */
    public Duration prefetchTimeout() {
        return prefetchTimeout;
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

    /** Collects settings; {@link #build()} validates them all. */
    public static final class Builder {
        private List<InetSocketAddress> listen = List.of();
        private int workers = Math.max(1, Runtime.getRuntime().availableProcessors());
        private String workerClass;
        private final List<Path> workerClasspath = new ArrayList<>();
        private int concurrency = 1;
        private int prefetch;
        private Duration prefetchTimeout = Duration.ofMillis(100);
        private Duration keepAlive = Duration.ofSeconds(15);
        private int maxParked = 10_000;
        private Duration gracefulTimeout = Duration.ofSeconds(30);
        private Duration bootTimeout = Duration.ofSeconds(60);
        private final List<String> workerJvmOptions = new ArrayList<>();
        private final Map<String, String> workerSettings = new LinkedHashMap<>();
        private int queueSize = 1024;
        private int backlog = 1024;
        private int maxRequests;
        private int maxRequestsJitter;
        private Duration timeout = Duration.ZERO;
        private Duration heartbeatTimeout = Duration.ofSeconds(30);
        private InetSocketAddress admin;
        private boolean adminAllowRemote;
        private boolean jmx = true;
        private Path pidFile;

        private Builder() {
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

        /** The pid file ({@code --pid}), or null for none. */
        public Builder pidFile(Path file) {
            this.pidFile = file;
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

        public Builder prefetchTimeout(Duration d) {
            this.prefetchTimeout = d;
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
            if (listen.isEmpty()) {
                throw new ConfigException("--listen", "(missing)", "say where to listen, e.g. --listen 127.0.0.1:8080");
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
            if (workers < 1 || workers > MAX_WORKERS) {
                throw new ConfigException("--workers", workers, "must be 1 to " + MAX_WORKERS
                        + " (the number of worker processes)");
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
            if (pidFile != null) {
                io.prefork.supervisor.internal.systemd.PidFile.check(pidFile);
            }
            return new SupervisorConfig(this);
        }
    }
}
