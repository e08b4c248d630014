package io.prefork.supervisor.internal.process;

import io.prefork.internal.proxy.ProxyProtocol;
import io.prefork.internal.runtime.ChannelWrapper;
import io.prefork.internal.runtime.WorkerMain;
import io.prefork.internal.runtime.WorkerStartup;
import io.prefork.supervisor.internal.systemd.SocketActivation;
import io.prefork.supervisor.internal.upgrade.Upgrader;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Builds and starts worker JVMs.
 *
 * <p>Started with {@link ProcessBuilder} on purpose: its child closes every descriptor above 2 before exec, so a
 * worker can never inherit the listening socket, another worker's channel, or any other descriptor the supervisor
 * (or a library inside it) opened without close-on-exec. The worker gets its channel end through
 * the bootstrap endpoint instead ({@link io.prefork.supervisor.internal.nativeio.BootstrapServer}). Standard input is /dev/null (a pipe would be one more
 * descriptor held in the supervisor per worker); standard output and error go through a
 * pipe into the supervisor's log.
 */
public final class WorkerLauncher {
    private final Path java;
    private final List<String> runtimeClasspath;
    private final List<Path> workerClasspath;
    private final List<String> jvmOptions;
    private final String workerClass;
    private final int concurrency;
    private final long prefetchTimeoutMs;
    private final Map<String, String> settings;
    private final ProxyProtocol proxy;

    /** @param prefetchTimeoutMs the supervisor's --prefetch-timeout if it prefetches, else 0 (workers then never check) */
    /** The setpriv prefix of {@link #runAs}, or nothing. */
    private List<String> runAs = List.of();

    public WorkerLauncher(Path java, List<String> runtimeClasspath, List<Path> workerClasspath, List<String> jvmOptions,
                          String workerClass, int concurrency, long prefetchTimeoutMs, Map<String, String> settings) {
        this(java, runtimeClasspath, workerClasspath, jvmOptions, workerClass, concurrency, prefetchTimeoutMs, settings,
                ProxyProtocol.OFF);
    }

    /** @param proxy the PROXY protocol header workers require on each connection ({@link ProxyProtocol#OFF}: none) */
    public WorkerLauncher(Path java, List<String> runtimeClasspath, List<Path> workerClasspath, List<String> jvmOptions,
                          String workerClass, int concurrency, long prefetchTimeoutMs, Map<String, String> settings,
                          ProxyProtocol proxy) {
        this.proxy = proxy;
        this.prefetchTimeoutMs = prefetchTimeoutMs;
        this.java = java;
        this.runtimeClasspath = List.copyOf(runtimeClasspath);
        this.workerClasspath = List.copyOf(workerClasspath);
        this.jvmOptions = List.copyOf(jvmOptions);
        this.workerClass = workerClass;
        this.concurrency = concurrency;
        this.settings = Map.copyOf(settings);
    }

    /**
     * The file the build puts beside {@code prefork-supervisor.jar}: the worker runtime alone (worker-api and the
     * jnr libraries it calls libc through), without the supervisor's own libraries.
     */
    public static final String RUNTIME_JAR = "prefork-worker-runtime.jar";

    /**
     * The classpath the worker runtime needs, after the user's. Run from one jar (java -jar, or -cp with one jar)
     * with {@link #RUNTIME_JAR} beside it: that jar only, so a worker JVM sees none of the supervisor's libraries
     * (Jackson, Dropwizard Metrics, picocli, slf4j), which would otherwise answer for any the user's code looks up
     * and does not ship (a ServiceLoader, Class.forName, a logging binding). Otherwise (tests run from class
     * directories, an embedding application, a supervisor jar copied without its sibling) this JVM's own classpath,
     * which carries the runtime too; {@code reason} then says why, for the log.
     *
     * @param own this JVM's classpath, {@link #ownClasspath()}
     */
    public static List<String> runtimeClasspath(List<String> own, StringBuilder reason) {
        if (own.size() == 1 && own.get(0).endsWith(".jar")) {
            Path runtime = Path.of(own.get(0)).resolveSibling(RUNTIME_JAR);
            if (Files.isRegularFile(runtime)) {
                return List.of(runtime.toString());
            }
            reason.append(runtime).append(" is missing, so workers get the whole supervisor jar on their classpath, ")
                    .append("after --worker-classpath; copy it beside ").append(own.get(0));
        } else {
            reason.append("not run from a single jar, so workers get this JVM's classpath after --worker-classpath");
        }
        return own;
    }

    /** This JVM's own classpath, as absolute paths. */
    public static List<String> ownClasspath() {
        List<String> out = new ArrayList<>();
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (!e.isEmpty()) {
                out.add(Path.of(e).toAbsolutePath().toString());
            }
        }
        return out;
    }

    /** The java command of this JVM, so workers run on the same JDK as the supervisor. */
    public static Path currentJava() {
        return Path.of(System.getProperty("java.home"), "bin", "java");
    }

    /** The full command line, for logs and tests. */
    /**
     * Runs the workers as {@code uid}:{@code gid} (with the user's supplementary groups), for {@code --user}. A JVM
     * cannot change the user of a process it starts, so the command starts with util-linux's {@code setpriv}, which
     * sets them and execs java in the same process: the pid the supervisor knows stays the worker's, and its
     * capabilities go with root. Call once, before any worker starts.
     */
    public WorkerLauncher runAs(int uid, int gid) {
        this.runAs = List.of(SETPRIV, "--reuid=" + uid, "--regid=" + gid, "--init-groups", "--");
        return this;
    }

    /** Where util-linux installs setpriv (Debian, Fedora, Alpine's util-linux-misc). */
    public static final String SETPRIV = "/usr/bin/setpriv";

    public List<String> command() {
        List<String> cmd = new ArrayList<>(runAs);
        cmd.add(java.toString());
        cmd.addAll(List.of(ChannelWrapper.REQUIRED_FLAG.split(" ")));
        // jffi loads a native library: JDK 24+ warns (and a future JDK will refuse) without this. 17 accepts it.
        cmd.add("--enable-native-access=ALL-UNNAMED");
        // One line per JUL record, for worker runtimes that log through System.Logger's default JUL backend. No
        // time: the supervisor's log stamps each line it pumps (WorkerOutput), and reads the level from here.
        cmd.add("-Djava.util.logging.SimpleFormatter.format=" + WorkerOutput.JUL_FORMAT);
        cmd.addAll(jvmOptions);
        // The user's classpath first: where it and the supervisor jar both carry a library (slf4j, say), the
        // worker's own version wins. The runtime's classes live in io.prefork.internal, which user jars do not
        // carry (worker-api is a provided dependency); a mismatched copy would be caught by the wire version.
        List<String> cp = new ArrayList<>();
        for (Path p : workerClasspath) {
            cp.add(p.toAbsolutePath().toString());
        }
        cp.addAll(runtimeClasspath);
        cmd.add("-cp");
        cmd.add(String.join(File.pathSeparator, cp));
        cmd.add(WorkerMain.class.getName());
        return cmd;
    }

    /** Starts worker {@code slot}; it will connect to {@code bootSocket} and present {@code token}. */
    public Process start(int slot, Path bootSocket, String token) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command());
        // Socket activation's variables are for the supervisor (LISTEN_PID names it, and the descriptors are not
        // passed on): a worker that saw them could only be misled by them.
        pb.environment().keySet().removeAll(SocketActivation.VARIABLES);
        pb.environment().keySet().removeAll(Upgrader.VARIABLES);
        pb.environment().putAll(new WorkerStartup(bootSocket, token, workerClass, slot, concurrency, prefetchTimeoutMs,
                settings, proxy).toEnvironment());
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        // stdout and stderr on one pipe, read by a pump thread that prefixes every line (see pumpOutput).
        pb.redirectErrorStream(true);
        return pb.start();
    }

    /** See {@link WorkerOutput#pump}. */
    public static void pumpOutput(Process process, int index) {
        WorkerOutput.pump(process, index);
    }
}
