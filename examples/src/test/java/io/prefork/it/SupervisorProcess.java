package io.prefork.it;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.testing.Poll;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A real supervisor process ({@code java -jar prefork-supervisor.jar ...}) for integration tests, started on the
 * same JDK as the test. Every process it starts carries a unique tag on its command line, so a test can find any
 * that outlived the supervisor; {@link #close()} kills the whole tree.
 */
public final class SupervisorProcess implements AutoCloseable {
    private static final Pattern READY = Pattern.compile("ready on (\\S+):(\\d+)");

    public final String tag = "prefork-it-" + UUID.randomUUID();
    private final Process process;
    private final List<String> lines = Collections.synchronizedList(new ArrayList<>());
    private final List<String> stdout = Collections.synchronizedList(new ArrayList<>());
    /** The threads copying the supervisor's stdout and stderr into {@link #lines}; each ends at end of stream. */
    private final List<Thread> pumps = new ArrayList<>();
    private int port = -1;
    private Admin admin;

    private SupervisorProcess(List<String> jvmOptions, List<String> args) throws IOException {
        this(List.of(), jvmOptions, args);
    }

    private SupervisorProcess(List<String> launcher, List<String> jvmOptions, List<String> args) throws IOException {
        this(launcher, jvmOptions, args, java.util.Map.of(), null);
    }

    private SupervisorProcess(List<String> launcher, List<String> jvmOptions, List<String> args,
                              java.util.Map<String, String> environment, Path directory) throws IOException {
        List<String> cmd = new ArrayList<>(launcher);
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Dprefork.test.tag=" + tag);
        cmd.addAll(jvmOptions);
        cmd.add("-jar");
        cmd.add(supervisorJar().toString());
        cmd.addAll(args);
        // Small, fast-starting worker JVMs: the machine has two cores and the test starts many of them.
        cmd.add("--worker-jvm-option=-Dprefork.test.tag=" + tag);
        cmd.add("--worker-jvm-option=-XX:+UseSerialGC");
        cmd.add("--worker-jvm-option=-XX:TieredStopAtLevel=1");
        // A user archive option, which turns the supervisor's own archive off (see ClassDataSharingIT), unless the
        // test asked for it by naming a cache directory: tests would otherwise share ~/.cache/prefork/cds.
        if (jvmOptions.stream().noneMatch(o -> o.startsWith("-Dprefork.cdsCache=/"))) {
            cmd.add("--worker-jvm-option=-Xshare:auto");
        }
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(environment);
        if (directory != null) {
            pb.directory(directory.toFile());
        }
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        process = pb.start();
        pump(process.getInputStream(), "out", true);
        pump(process.getErrorStream(), "err", false);
    }

    /** Starts a supervisor with these command-line arguments (the tag and test JVM options are added). */
    public static SupervisorProcess start(String... args) throws IOException {
        return new SupervisorProcess(List.of(), List.of(args));
    }

    /** Like {@link #start}, in {@code directory} (relative paths in {@code args} resolve there). */
    public static SupervisorProcess startIn(Path directory, String... args) throws IOException {
        return new SupervisorProcess(List.of(), List.of(), List.of(args), java.util.Map.of(), directory);
    }

    /** Like {@link #startExample} with JVM options for the supervisor itself (e.g. -Dprefork.channelSendBuffer). */
    public static SupervisorProcess startExampleWithJvmOptions(List<String> jvmOptions, int workers, String workerClass,
                                                               String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("--listen", "127.0.0.1:0", "--workers", Integer.toString(workers),
                "--worker-classpath", examplesClasspath(), "--worker", workerClass));
        args.addAll(List.of(extra));
        return new SupervisorProcess(jvmOptions, args);
    }

    /** A supervisor with these JVM options for itself and these command-line arguments (only the tag is added). */
    public static SupervisorProcess startWithJvmOptions(List<String> jvmOptions, String... args) throws IOException {
        return new SupervisorProcess(jvmOptions, List.of(args));
    }

    /** Like {@link #startExample}, with the java command run by {@code launcher} (e.g. {@code nohup}). */
    public static SupervisorProcess startExampleUnder(List<String> launcher, int workers, String workerClass,
                                                      String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("--listen", "127.0.0.1:0", "--workers", Integer.toString(workers),
                "--worker-classpath", examplesClasspath(), "--worker", workerClass));
        args.addAll(List.of(extra));
        return new SupervisorProcess(launcher, List.of(), args);
    }

    /** Like {@link #startExample}, with these variables added to the supervisor's environment (NOTIFY_SOCKET...). */
    public static SupervisorProcess startExampleWithEnvironment(java.util.Map<String, String> environment, int workers,
                                                                String workerClass, String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("--listen", "127.0.0.1:0", "--workers", Integer.toString(workers),
                "--worker-classpath", examplesClasspath(), "--worker", workerClass));
        args.addAll(List.of(extra));
        return new SupervisorProcess(List.of(), List.of(), args, environment, null);
    }

    /**
     * Like {@link #startExampleUnder}, without {@code --listen}: for a launcher that passes the listening sockets
     * (systemd-socket-activate).
     */
    public static SupervisorProcess startExampleSocketActivated(List<String> launcher, int workers, String workerClass,
                                                                String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("--workers", Integer.toString(workers),
                "--worker-classpath", examplesClasspath(), "--worker", workerClass));
        args.addAll(List.of(extra));
        return new SupervisorProcess(launcher, List.of(), args);
    }

    /** Starts {@code workers} workers of {@code workerClass} from the examples jar on a free port. */
    public static SupervisorProcess startExample(int workers, String workerClass, String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("--listen", "127.0.0.1:0", "--workers", Integer.toString(workers),
                "--worker-classpath", examplesClasspath(), "--worker", workerClass));
        args.addAll(List.of(extra));
        return new SupervisorProcess(List.of(), args);
    }

    public static Path supervisorJar() {
        Path p = Path.of(System.getProperty("prefork.supervisor.jar", "../supervisor/target/prefork-supervisor.jar"));
        if (!Files.exists(p)) {
            throw new IllegalStateException(p + " is missing: run 'mvn verify' from the project root so the supervisor "
                    + "is packaged before the integration tests");
        }
        return p;
    }

    /** The examples jar plus this module's test classes (misbehaving test workers live there). */
    public static String examplesClasspath() {
        return System.getProperty("prefork.examples.jar", "target/prefork-examples.jar") + ":"
                + System.getProperty("prefork.test.classes", "target/test-classes");
    }

    private void pump(InputStream in, String name, boolean isStdout) {
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    lines.add(line);
                    if (isStdout) {
                        stdout.add(line);
                    }
                    System.out.println("[supervisor " + name + "] " + line);
                }
            } catch (IOException ignored) {
                // The process ended.
            }
        }, "it-pump-" + name);
        t.setDaemon(true);
        pumps.add(t);
        t.start();
    }

    /**
     * Waits for the ready line; returns the bound port. The ready line is the supervisor's promise to scripts (README,
     * "Usage"), so here the output is the thing to watch.
     */
    public int awaitReady(Duration timeout) {
        // The output so far is the observation: on a timeout, it shows how far the start got.
        List<String> out = Poll.within(timeout).until("the supervisor's ready line", () -> {
            if (!process.isAlive() && !hasReadyLine()) {
                throw new AssertionError("supervisor exited with " + process.exitValue() + " before ready: " + output());
            }
            return output();
        }, ignored -> hasReadyLine());
        synchronized (stdout) {
            for (String l : stdout) {
                Matcher m = READY.matcher(l);
                if (m.find()) {
                    port = Integer.parseInt(m.group(2));
                    return port;
                }
            }
        }
        throw new AssertionError("no ready line in " + out); // cannot happen: stdout only grows
    }

    /**
     * Waits for the ready line; returns every bound listen address it names ({@code ready on A, B with ...}), in
     * {@code --listen} order.
     */
    public List<java.net.InetSocketAddress> awaitReadyAddresses(Duration timeout) {
        awaitReady(timeout);
        String line;
        synchronized (stdout) {
            line = stdout.stream().filter(l -> READY.matcher(l).find()).findFirst().orElseThrow();
        }
        Matcher m = Pattern.compile("ready on (.+?) with ").matcher(line);
        if (!m.find()) {
            throw new AssertionError("no addresses in the ready line: " + line);
        }
        List<java.net.InetSocketAddress> addresses = new ArrayList<>();
        for (String text : m.group(1).split(", ")) {
            int colon = text.lastIndexOf(':');
            String host = text.substring(0, colon).replace("[", "").replace("]", "");
            addresses.add(new java.net.InetSocketAddress(host, Integer.parseInt(text.substring(colon + 1))));
        }
        return addresses;
    }

    private boolean hasReadyLine() {
        synchronized (stdout) {
            return stdout.stream().anyMatch(l -> READY.matcher(l).find());
        }
    }

    public int port() {
        return port;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Everything the supervisor (and its workers, which share its stdout/stderr) printed so far. */
    public List<String> output() {
        synchronized (lines) {
            return new ArrayList<>(lines);
        }
    }

    public List<String> stdoutLines() {
        synchronized (stdout) {
            return new ArrayList<>(stdout);
        }
    }

    /**
     * Waits until some output line contains {@code text}. Only for what the log line itself promises (a message an
     * operator must see); a fact the admin endpoint reports is awaited through {@link #admin()}.
     */
    public void awaitOutput(String text, Duration timeout) {
        Poll.within(timeout).until("an output line containing '" + text + "'", this::output,
                out -> out.stream().anyMatch(l -> l.contains(text)));
    }

    /**
     * The admin endpoint; the supervisor must have been started with {@code --admin 127.0.0.1:0} and be ready (see
     * {@link Admin#of} for how its port is found).
     */
    public synchronized Admin admin() {
        if (port < 0) {
            throw new IllegalStateException("admin() before awaitReady(): the admin port is found once the supervisor "
                    + "is ready");
        }
        if (admin == null) {
            Set<Integer> listenPorts = awaitReadyAddresses(Duration.ofSeconds(1)).stream()
                    .map(java.net.InetSocketAddress::getPort).collect(Collectors.toSet());
            admin = Admin.of(pid(), listenPorts);
        }
        return admin;
    }

    /** The supervisor's live worker JVMs (its children). */
    public Set<Long> workerPids() {
        return process.toHandle().children().filter(ProcessHandle::isAlive).map(ProcessHandle::pid)
                .collect(Collectors.toSet());
    }

    /** The pid of the worker that was started first (the one that has served longest). */
    public long oldestWorker() {
        return process.toHandle().children().filter(ProcessHandle::isAlive)
                .min(java.util.Comparator.comparing(h -> h.info().startInstant().orElse(java.time.Instant.MAX)))
                .map(ProcessHandle::pid).orElseThrow(() -> new AssertionError("no live worker"));
    }

    /** Waits until exactly {@code n} workers run and returns their pids. */
    public Set<Long> awaitWorkers(int n, Duration timeout) {
        return Poll.within(timeout).until(n + " live workers", this::workerPids, pids -> pids.size() == n);
    }

    public void signal(int sig) throws NativeException {
        Native.kill(process.pid(), sig);
    }

    /**
     * Waits for the supervisor to exit, and for everything it printed to be read; returns its exit code. The process
     * can be reaped before the pump threads have read its last lines (seen: BadInputIT finding no output at all).
     */
    public int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("supervisor still running after " + timeout.toMillis() + " ms; output: " + output());
        }
        // End of stream comes as soon as the last holder of the pipe is gone: at once, unless something leaked.
        long drained = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (Thread pump : pumps) {
            pump.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(drained - System.nanoTime())));
            if (pump.isAlive()) {
                throw new AssertionError("supervisor exited but its output (" + pump.getName() + ") is still open 10 s "
                        + "later: a process it left behind holds it?; output: " + output());
            }
        }
        return process.exitValue();
    }

    /**
     * Waits for the supervisor process itself to exit and returns its exit code, without waiting for its output to
     * end: after an upgrade (USR2) the new supervisor it started writes to the same pipes and outlives it.
     */
    public int awaitProcessExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("supervisor still running after " + timeout.toMillis() + " ms; output: " + output());
        }
        return process.exitValue();
    }

    /** Open descriptors of a process, from /proc. */
    public static long fdCount(long pid) {
        try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return s.count();
        } catch (IOException e) {
            throw new AssertionError("cannot list /proc/" + pid + "/fd", e);
        }
    }

    /**
     * Stops a process with SIGSTOP and returns once every one of its threads has stopped. kill(2) only queues the
     * stop: the kernel wakes one thread to take it, and only that thread then stops the others, so on a busy machine
     * the rest of a multi-threaded JVM may run on for milliseconds, long enough to receive and claim a connection
     * the test means to reach a stopped process.
     */
    public static void freeze(long pid, Duration within) throws NativeException {
        Native.kill(pid, Native.SIGSTOP);
        Poll.within(within).until("every thread of " + pid + " stopped", () -> allThreadsStopped(pid));
    }

    /** Whether every thread of {@code pid} is in state T (stopped), from /proc/PID/task/TID/stat. */
    public static boolean allThreadsStopped(long pid) {
        try (Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            return tasks.allMatch(task -> {
                try {
                    String stat = Files.readString(task.resolve("stat"));
                    // The state follows the command name, which is in parentheses and may itself hold spaces.
                    return stat.charAt(stat.lastIndexOf(')') + 2) == 'T';
                } catch (IOException e) {
                    return true; // the thread is gone: it is not running either
                }
            });
        } catch (IOException e) {
            throw new AssertionError("cannot list the threads of " + pid, e);
        }
    }

    /**
     * A process's descriptor count once it has stopped moving: the same in 10 observations in a row, 20 ms apart.
     * A leak test's baseline must be taken this way. The supervisor closes its copy of a connection when it next
     * reads the worker's claim slots, which can be a moment after the client already has its response; a count
     * taken in that moment includes a copy that is about to go, and the test then waits for a number the process
     * never comes back to.
     */
    public static long settledFdCount(long pid, Duration within) {
        ArrayDeque<Long> window = new ArrayDeque<>();
        return Poll.within(within).until("the descriptor count of " + pid + " to hold still for 10 observations",
                () -> {
                    window.addLast(fdCount(pid));
                    if (window.size() > 10) {
                        window.removeFirst();
                    }
                    return window.size() == 10 && window.stream().distinct().count() == 1 ? window.getLast() : null;
                }, Objects::nonNull);
    }

    /**
     * Lowers a running process's descriptor limit (RLIMIT_NOFILE, soft and hard) to {@code headroom} above the
     * descriptors it has open now, with util-linux's {@code prlimit}.
     */
    public static void limitDescriptors(long pid, int headroom) throws IOException, InterruptedException {
        long limit = fdCount(pid) + headroom;
        Process p = new ProcessBuilder("prlimit", "--pid", Long.toString(pid), "--nofile=" + limit + ":" + limit)
                .inheritIO().start();
        if (!p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new AssertionError("prlimit --pid " + pid + " --nofile=" + limit + " failed");
        }
    }

    /** What each descriptor of a process points to ("socket:[123]", "/dev/null", ...), from /proc. */
    public static Set<String> fdTargets(long pid, boolean skipStdio) {
        Set<String> out = new HashSet<>();
        try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                int fd = Integer.parseInt(p.getFileName().toString());
                if (skipStdio && fd <= 2) {
                    continue;
                }
                try {
                    out.add(Files.readSymbolicLink(p).toString());
                } catch (IOException ignored) {
                    // Closed between list and readlink.
                }
            }
        } catch (IOException e) {
            throw new AssertionError("cannot list /proc/" + pid + "/fd", e);
        }
        return out;
    }

    /** Pids of every process on the machine whose command line carries this supervisor's tag. */
    public Set<Long> taggedProcesses() {
        return taggedProcesses(tag);
    }

    public static Set<Long> taggedProcesses(String tag) {
        Set<Long> out = new HashSet<>();
        byte[] needle = tag.getBytes(StandardCharsets.UTF_8);
        try (Stream<Path> s = Files.list(Path.of("/proc"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String name = p.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                try {
                    byte[] cmd = Files.readAllBytes(p.resolve("cmdline"));
                    if (indexOf(cmd, needle) >= 0) {
                        out.add(Long.parseLong(name));
                    }
                } catch (IOException ignored) {
                    // The process ended while we looked.
                }
            }
        } catch (IOException e) {
            throw new AssertionError("cannot list /proc", e);
        }
        return out;
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    /** Kills the whole tree (workers first, so none is reparented alive) and waits for it. */
    @Override
    public void close() {
        List<ProcessHandle> tree = process.toHandle().descendants().collect(Collectors.toList());
        tree.forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (ProcessHandle h : tree) {
            h.onExit().completeOnTimeout(h, 10, TimeUnit.SECONDS).join();
        }
        for (long pid : taggedProcesses()) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }
}
