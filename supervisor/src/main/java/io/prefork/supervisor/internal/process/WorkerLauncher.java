package io.prefork.supervisor.internal.process;

import com.sun.management.HotSpotDiagnosticMXBean;
import io.prefork.internal.proxy.ProxyProtocol;
import io.prefork.internal.runtime.ChannelWrapper;
import io.prefork.internal.runtime.WorkerMain;
import io.prefork.internal.runtime.WorkerStartup;
import io.prefork.supervisor.internal.systemd.SocketActivation;
import io.prefork.supervisor.internal.systemd.SystemdNotifier;
import io.prefork.supervisor.internal.upgrade.Upgrader;
import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

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
    private final Map<String, String> settings;
    private final ProxyProtocol proxy;
    /** The workers' class-data-sharing archive, or null (see {@link ClassDataArchive}). */
    private volatile ClassDataArchive archive;
    /** Where workers find jffi's native library extracted once (see {@link JffiLibrary}), or nothing. */
    private volatile List<String> jffiOptions = List.of();

    /** The setpriv prefix of {@link #runAs}, or nothing. */
    private List<String> runAs = List.of();

    public WorkerLauncher(Path java, List<String> runtimeClasspath, List<Path> workerClasspath, List<String> jvmOptions,
                          String workerClass, int concurrency, Map<String, String> settings) {
        this(java, runtimeClasspath, workerClasspath, jvmOptions, workerClass, concurrency, settings, ProxyProtocol.OFF);
    }

    /** @param proxy the PROXY protocol header workers require on each connection ({@link ProxyProtocol#OFF}: none) */
    public WorkerLauncher(Path java, List<String> runtimeClasspath, List<Path> workerClasspath, List<String> jvmOptions,
                          String workerClass, int concurrency, Map<String, String> settings, ProxyProtocol proxy) {
        this.proxy = proxy;
        this.java = java;
        this.runtimeClasspath = List.copyOf(runtimeClasspath);
        this.workerClasspath = List.copyOf(workerClasspath);
        this.jvmOptions = List.copyOf(jvmOptions);
        this.workerClass = workerClass;
        this.concurrency = concurrency;
        this.settings = Map.copyOf(settings);
        this.trimSupported = java.equals(currentJava()) && hasVmFlag(TRIM_FLAG);
    }

    /** HotSpot's periodic native heap trim: product in JDK 17.0.9+ (after a backport), 21.0.1+ and 22+. */
    static final String TRIM_FLAG = "TrimNativeHeapInterval";
    /** Milliseconds between a worker JVM's trims of its native heap (see {@link #defaultJvmOptions}). */
    static final int TRIM_INTERVAL_MS = 5000;
    /**
     * Whether workers run on this JVM's own java and it knows {@link #TRIM_FLAG}: an unknown -XX option stops a JVM,
     * so the default is given only where the flag is known to exist (another --worker-java: not given).
     */
    private final boolean trimSupported;

    static boolean hasVmFlag(String name) {
        try {
            HotSpotDiagnosticMXBean hotspot = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
            return hotspot != null && hotspot.getVMOption(name) != null;
        } catch (IllegalArgumentException absent) {
            return false;
        }
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

    /**
     * Makes and uses a class-data-sharing archive of the workers' classes in {@code cacheDir} (see
     * {@link ClassDataArchive}); a no-op where it does not apply.
     */
    public WorkerLauncher withClassDataArchive(Path cacheDir) {
        List<String> cp = new ArrayList<>();
        for (Path p : workerClasspath) {
            cp.add(p.toAbsolutePath().toString());
        }
        cp.addAll(runtimeClasspath);
        archive = ClassDataArchive.forWorkers(cacheDir, java, cp, jvmOptions);
        return this;
    }

    /**
     * Extracts jffi's native library into {@code cacheDir} once, for workers that load jnr-ffi (JDK 17-21) to load
     * from there instead of each extracting a copy (see {@link JffiLibrary}); a no-op where it does not apply.
     */
    public WorkerLauncher withSharedJffiLibrary(Path cacheDir) {
        jffiOptions = JffiLibrary.optionsFor(cacheDir, runtimeClasspath, WorkerJava.feature(java), jvmOptions);
        return this;
    }

    /** The default cache directory for {@link #withClassDataArchive}. */
    public static Path defaultCacheDir() {
        return ClassDataArchive.defaultCacheDir();
    }

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

    /** The full command line, for logs and tests. */
    public List<String> command() {
        return command(List.of());
    }

    private List<String> command(List<String> archiveOptions) {
        List<String> cmd = new ArrayList<>(runAs);
        cmd.add(java.toString());
        cmd.addAll(List.of(ChannelWrapper.REQUIRED_FLAG.split(" ")));
        // jffi loads a native library: JDK 24+ warns (and a future JDK will refuse) without this. 17 accepts it.
        cmd.add("--enable-native-access=ALL-UNNAMED");
        // One line per JUL record, for worker runtimes that log through System.Logger's default JUL backend. No
        // time: the supervisor's log stamps each line it pumps (WorkerOutput), and reads the level from here.
        cmd.add("-Djava.util.logging.SimpleFormatter.format=" + WorkerOutput.JUL_FORMAT);
        cmd.addAll(defaultJvmOptions(jvmOptions, trimSupported));
        cmd.addAll(archiveOptions);
        cmd.addAll(jffiOptions);
        cmd.addAll(jvmOptions); // after the defaults: for HotSpot the last occurrence of an option wins
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

    /**
     * The supervisor's JVM defaults for a worker, measured with {@code bench/scripts/startup.sh} (figures in
     * bench/README.md), put before the user's {@code --worker-jvm-option}s so that those win:
     * <ul>
     * <li>{@code -XX:+UseSerialGC}: a worker serves one connection at a time by default; G1's concurrent threads,
     * remembered sets and regions buy pause times such a worker does not need, at several MiB per JVM. Left out if
     * the user picks a collector (two would make the JVM refuse to start).
     * <li>{@code -Xms8m -Xmx256m}: the default initial heap is 1/64 of the machine's memory and the young generation
     * a share of it, which a worker's allocation fills (touches) before its first collection: that, not the live
     * data, is most of an idle worker's RSS. A small initial heap grows only as needed. The maximum keeps N workers
     * from each claiming a quarter of the machine. Both left out if the user sets either ({@code -Xms} above a
     * user's {@code -Xmx} would stop the JVM).
     * <li>{@code -XX:+ExitOnOutOfMemoryError}: a worker whose heap is exhausted is in an unknown state (any thread
     * may have died half-way); it exits (code 3, {@link io.prefork.internal.runtime.WorkerExit#OUT_OF_MEMORY}) and is
     * replaced, and the supervisor's log says it ran out of heap.
     * <li>{@code -XX:TrimNativeHeapInterval=5000}, where the JVM has it ({@code trim}): a C2 compilation of a large
     * method takes tens of MiB of arena memory, some seconds after a burst of load; freed, glibc keeps it (25 MiB of
     * an "idle" worker's RSS in the measurements) until asked to give it back. Left out if the user sets it.
     * </ul>
     */
    static List<String> defaultJvmOptions(List<String> user) {
        return defaultJvmOptions(user, false);
    }

    static List<String> defaultJvmOptions(List<String> user, boolean trim) {
        List<String> out = new ArrayList<>();
        if (user.stream().noneMatch(o -> o.matches("-XX:[+-]Use\\w*GC"))) {
            out.add("-XX:+UseSerialGC");
        }
        if (user.stream().noneMatch(o -> o.startsWith("-Xms") || o.startsWith("-Xmx")
                || o.startsWith("-XX:InitialHeapSize=") || o.startsWith("-XX:MaxHeapSize=")
                || o.startsWith("-XX:MaxRAMPercentage=") || o.startsWith("-XX:InitialRAMPercentage="))) {
            out.add("-Xms8m");
            out.add("-Xmx256m");
        }
        out.add("-XX:+ExitOnOutOfMemoryError");
        if (trim && user.stream().noneMatch(o -> o.startsWith("-XX:" + TRIM_FLAG + "="))) {
            out.add("-XX:" + TRIM_FLAG + "=" + TRIM_INTERVAL_MS);
        }
        return out;
    }

    /** Starts worker {@code slot}; it will connect to {@code bootSocket} and present {@code token}. */
    public Process start(int slot, Path bootSocket, String token) throws IOException {
        ClassDataArchive a = archive;
        Path temp = a == null ? null : a.tempFor(token);
        List<String> archiveOptions = a == null ? List.of() : a.optionsForNext(temp);
        ProcessBuilder pb = new ProcessBuilder(command(archiveOptions));
        environment(pb.environment(), bootSocket, token, slot);
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        // stdout and stderr on one pipe, read by a pump thread that prefixes every line (see pumpOutput).
        pb.redirectErrorStream(true);
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            if (a != null && archiveOptions.stream().anyMatch(o -> o.startsWith("-XX:ArchiveClassesAtExit"))) {
                a.trainerExited(temp, -1);
            }
            throw e;
        }
        if (archiveOptions.stream().anyMatch(o -> o.startsWith("-XX:ArchiveClassesAtExit"))) {
            // On the JDK's process-reaper thread: only files and the archive's own flag, no supervisor state.
            p.onExit().thenAccept(x -> a.trainerExited(temp, x.exitValue()));
        }
        return p;
    }

    /**
     * Variables of the supervisor's environment that are about the supervisor itself, and that a worker must not
     * see: socket activation's (LISTEN_PID names the supervisor, and the descriptors are not passed on), systemd's
     * notification socket and watchdog (a worker that found them, through a library calling sd_notify, would speak
     * for the service: READY=1 or a watchdog ping from the wrong process), and an upgrade's.
     */
    static final List<String> SUPERVISOR_ONLY = Stream.of(SocketActivation.VARIABLES,
            SystemdNotifier.VARIABLES, Upgrader.VARIABLES).flatMap(List::stream).toList();

    /**
     * Turns {@code env}, a copy of the supervisor's environment, into worker {@code slot}'s: without
     * {@link #SUPERVISOR_ONLY}, with the runtime's startup variables.
     */
    void environment(Map<String, String> env, Path bootSocket, String token, int slot) {
        env.keySet().removeAll(SUPERVISOR_ONLY);
        env.putAll(new WorkerStartup(bootSocket, token, workerClass, slot, concurrency, settings,
                proxy).toEnvironment());
    }

    /** See {@link WorkerOutput#pump}. */
    public static void pumpOutput(Process process, int index) {
        WorkerOutput.pump(process, index);
    }
}
