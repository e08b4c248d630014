package io.prefork.supervisor;

import io.prefork.internal.nativeio.Signals;
import io.prefork.internal.nativeio.TcpListener;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The command line: parses options with picocli, builds a {@link SupervisorConfig}, starts a {@link Supervisor},
 * prints the ready line, maps SIGTERM and SIGINT to a graceful stop, and exits with the supervisor's code.
 * Everything else lives in {@link Supervisor}; this class only translates.
 */
@Command(name = "prefork", mixinStandardHelpOptions = true, version = "prefork 0.1.0",
        sortOptions = false, usageHelpAutoWidth = true,
        description = {"Accepts TCP connections and hands each one, as a file descriptor, to the least busy of N "
                + "worker JVMs running your io.prefork.worker.Worker.", ""},
        footer = {"", "Signals: TERM or INT = graceful stop (finish connections up to --graceful-timeout, then stop "
                + "workers); a second one stops at once.",
                "Exit codes: 0 stopped normally, 1 internal error, 2 bad command line or settings, "
                        + "3 a worker failed to boot, 4 cannot listen."})
public final class Main implements Callable<Integer> {

    @Option(names = "--listen", required = true, paramLabel = "HOST:PORT",
            description = "Address to listen on; port 0 picks a free port. IPv6 in brackets: [::1]:8080.")
    String listen;

    @Option(names = "--workers", paramLabel = "N", description = "Worker processes to run (default: number of CPUs, "
            + "${DEFAULT-VALUE} here).", defaultValue = "${sys:prefork.defaultWorkers:-2}")
    int workers;

    @Option(names = "--worker", required = true, paramLabel = "CLASS",
            description = "Class implementing io.prefork.worker.Worker.")
    String workerClass;

    @Option(names = "--worker-classpath", required = true, paramLabel = "PATH", split = ":",
            description = "Jars or directories holding the worker class and its dependencies, separated by ':'.")
    List<Path> workerClasspath = new ArrayList<>();

    @Option(names = "--concurrency", paramLabel = "K", defaultValue = "1",
            description = "Connections one worker serves at once (default ${DEFAULT-VALUE}: one at a time, the classic "
                    + "prefork model for code that is not thread-safe).")
    int concurrency;

    @Option(names = "--graceful-timeout", paramLabel = "SECONDS", defaultValue = "30",
            description = "On stop, how long in-flight connections may take to finish before workers are stopped "
                    + "(default ${DEFAULT-VALUE}).")
    long gracefulTimeoutSeconds;

    @Option(names = "--boot-timeout", paramLabel = "SECONDS", defaultValue = "60",
            description = "How long a worker JVM may take to become ready (default ${DEFAULT-VALUE}).")
    long bootTimeoutSeconds;

    @Option(names = "--queue-size", paramLabel = "N", defaultValue = "1024",
            description = "Connections that may wait in the supervisor while every worker is busy; beyond that the "
                    + "supervisor stops accepting and the kernel backlog holds them (default ${DEFAULT-VALUE}).")
    int queueSize;

    @Option(names = "--backlog", paramLabel = "N", defaultValue = "1024",
            description = "The listening socket's kernel backlog (default ${DEFAULT-VALUE}).")
    int backlog;

    @Option(names = "--worker-jvm-option", paramLabel = "OPTION",
            description = "An option for each worker JVM, e.g. --worker-jvm-option=-Xmx256m (repeatable).")
    List<String> workerJvmOptions = new ArrayList<>();

    @Option(names = "--worker-setting", paramLabel = "KEY=VALUE",
            description = "A setting passed to every worker's WorkerContext.settings() (repeatable).")
    Map<String, String> workerSettings = new LinkedHashMap<>();

    private final PrintWriter out;
    private final PrintWriter err;

    Main(PrintWriter out, PrintWriter err) {
        this.out = out;
        this.err = err;
    }

    public static void main(String[] args) {
        System.setProperty("prefork.defaultWorkers", Integer.toString(Runtime.getRuntime().availableProcessors()));
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        System.exit(run(args, out, err));
    }

    /** Parses and runs; returns the exit code. Separate from {@link #main} so tests can call it in-process. */
    static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(new Main(out, err));
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler((ex, a) -> {
            // One line naming the problem, not a page of usage: the usage is one --help away.
            err.println("prefork: " + ex.getMessage() + " (see --help)");
            return ExitCodes.USAGE;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            err.println("prefork: internal error: " + ex);
            ex.printStackTrace(err);
            return ExitCodes.INTERNAL;
        });
        return cl.execute(args);
    }

    /** Builds the validated configuration from the parsed options. */
    SupervisorConfig config() {
        return SupervisorConfig.builder()
                .listen(listen)
                .workers(workers)
                .workerClass(workerClass)
                .workerClasspath(workerClasspath)
                .concurrency(concurrency)
                .gracefulTimeout(seconds("--graceful-timeout", gracefulTimeoutSeconds, true))
                .bootTimeout(seconds("--boot-timeout", bootTimeoutSeconds, false))
                .queueSize(queueSize)
                .backlog(backlog)
                .workerJvmOptions(workerJvmOptions)
                .workerSettings(workerSettings)
                .build();
    }

    private static Duration seconds(String option, long value, boolean zeroAllowed) {
        if (value < 0 || (!zeroAllowed && value == 0)) {
            throw new ConfigException(option, value, zeroAllowed ? "must be 0 or more seconds" : "must be more than 0 seconds");
        }
        return Duration.ofSeconds(value);
    }

    @Override
    public Integer call() throws InterruptedException {
        SupervisorConfig config;
        try {
            config = config();
        } catch (ConfigException e) {
            err.println("prefork: " + e.getMessage());
            return ExitCodes.USAGE;
        }
        Supervisor supervisor;
        try {
            supervisor = Supervisor.start(config);
        } catch (StartupException e) {
            err.println("prefork: " + e.getMessage());
            return e.exitCode();
        }
        Signals.handle("TERM", supervisor::stop);
        Signals.handle("INT", supervisor::stop);
        // Any other way out of this JVM (SIGHUP's default, System.exit from a library) still takes the workers down.
        Thread hook = new Thread(() -> {
            if (!supervisor.terminated().isDone()) {
                supervisor.stopNow();
                supervisor.terminated().join();
            }
        }, "prefork-exit");
        Runtime.getRuntime().addShutdownHook(hook);
        supervisor.ready().thenAccept(address -> out.println("prefork: ready on " + TcpListener.format(address)
                + " with " + config.workers() + " worker(s) of " + config.workerClass()));
        Termination t = supervisor.terminated().join();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException alreadyExiting) {
            // The JVM is already shutting down; the hook has work to do anyway.
        }
        if (t.exitCode() != ExitCodes.OK) {
            err.println("prefork: " + t.reason());
        }
        return t.exitCode();
    }
}
