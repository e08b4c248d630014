package io.prefork.supervisor;

import io.prefork.supervisor.internal.footprint.OwnFootprint;
import io.prefork.supervisor.internal.log.LogSetup;
import io.prefork.supervisor.internal.nativeio.Signals;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.supervisor.internal.nativeio.UpgradeEndpoint;
import io.prefork.supervisor.internal.systemd.SocketActivation;
import io.prefork.supervisor.internal.systemd.SystemdNotifier;
import io.prefork.supervisor.internal.upgrade.Upgrader;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine;

/**
 * The command line: declares its options from the settings table ({@link Settings#ALL}), builds a
 * {@link SupervisorConfig}, starts a {@link Supervisor}, prints the ready line, maps signals to the supervisor's
 * verbs, and exits with the supervisor's code. Everything else lives in {@link Supervisor}; this class only
 * translates.
 *
 * <p>picocli parses into plain strings (or lists of them, for a repeatable setting, and booleans for flags); each
 * {@link Setting} turns its strings into typed values on the builder, and {@link SupervisorConfig.Builder#build()}
 * validates. So a bad value, whether it does not parse or is out of range, is one {@link ConfigException} line.
 */
public final class Main {
    static final String VERSION = "prefork 0.1.0";

    /** How the jar is really run; the first words of {@code --help}. */
    static final String COMMAND = "java -jar prefork-supervisor.jar";
    /** Width {@code --help} wraps at, on spaces only (a token such as {@code [::1]:8080} is never split). */
    static final int HELP_WIDTH = 110;

    private final PrintWriter out;
    private final PrintWriter err;

    private Main(PrintWriter out, PrintWriter err) {
        this.out = out;
        this.err = err;
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        System.exit(run(args, System.getenv(), out, err));
    }

    /** Parses and runs, without {@code PREFORK_CMD_ARGS}; returns the exit code. For tests, in-process. */
    static int run(String[] args, PrintWriter out, PrintWriter err) {
        return run(args, Map.of(), out, err);
    }

    /**
     * Parses the command line, {@code PREFORK_CMD_ARGS} in {@code env} and a {@code --config} file, then runs;
     * returns the exit code.
     */
    static int run(String[] args, Map<String, String> env, PrintWriter out, PrintWriter err) {
        ParseResult cli;
        try {
            // No option is required to picocli: a required one may come from the file or the environment, and an
            // unknown option (a typo, gunicorn's --bind) must be reported before what seems missing because of it.
            cli = new CommandLine(commandSpec()).parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            // One line naming the problem, not a page of usage: the usage is one --help away.
            err.println("prefork: " + e.getMessage() + " (see --help)");
            return ExitCodes.USAGE;
        }
        if (cli.isUsageHelpRequested()) {
            out.print(usage());
            out.flush();
            return ExitCodes.OK;
        }
        if (cli.isVersionHelpRequested()) {
            out.println(VERSION);
            return ExitCodes.OK;
        }
        SocketActivation activation;
        try {
            activation = SocketActivation.fromEnvironment();
        } catch (IllegalArgumentException e) {
            err.println("prefork: socket activation: " + e.getMessage());
            return ExitCodes.INHERITED_SOCKET_INVALID;
        }
        // An upgrade's new supervisor takes its listening sockets from the old one (USR2; see Upgrader).
        UpgradeEndpoint.Handover oldSupervisor = null;
        String upgradeSocket = env.get(Upgrader.SOCKET_VARIABLE);
        if (upgradeSocket != null && !upgradeSocket.isEmpty()) {
            try {
                oldSupervisor = UpgradeEndpoint.connect(Path.of(upgradeSocket),
                        env.getOrDefault(Upgrader.TOKEN_VARIABLE, ""));
            } catch (IOException | RuntimeException e) {
                err.println("prefork: upgrade: cannot take the listening sockets from the old supervisor: "
                        + e.getMessage());
                return ExitCodes.LISTEN_FAILED;
            }
            Map<Integer, String> fds = new LinkedHashMap<>();
            oldSupervisor.listeners().forEach(fd -> fds.put(fd, ""));
            activation = SocketActivation.fromUpgrade(fds);
        }
        int code = configureAndRun(cli, env, activation, args, oldSupervisor, out, err);
        if (code != ExitCodes.OK && oldSupervisor != null) {
            oldSupervisor.close(); // the old one reads the end of stream: it serves on
        }
        return code;
    }

    private static int configureAndRun(ParseResult cli, Map<String, String> env, SocketActivation activation,
                                       String[] args, UpgradeEndpoint.Handover oldSupervisor, PrintWriter out,
                                       PrintWriter err) {
        GivenSettings given = new GivenSettings();
        try {
            ParseResult fromEnv = null;
            String envArgs = env.get(GivenSettings.ENV);
            if (envArgs != null && !envArgs.isBlank()) {
                try {
                    fromEnv = new CommandLine(commandSpec()).parseArgs(
                            GivenSettings.words(envArgs).toArray(new String[0]));
                } catch (CommandLine.ParameterException e) {
                    throw new ConfigException(GivenSettings.ENV, "'" + envArgs + "'", e.getMessage());
                }
            }
            String file = cli.hasMatchedOption("--config") ? cli.matchedOption("--config").getValue()
                    : fromEnv != null && fromEnv.hasMatchedOption("--config")
                    ? fromEnv.matchedOption("--config").getValue() : null;
            if (file != null) {
                given.addFile(Settings.path("--config", file));
            }
            if (fromEnv != null) {
                given.addParsed(fromEnv, GivenSettings.ENV);
            }
            given.addParsed(cli, null);
            List<String> missing = given.missing();
            if (activation.active()) {
                missing.remove("--listen"); // the passed sockets are served instead
            }
            if (!missing.isEmpty()) {
                err.println("prefork: Missing required option" + (missing.size() > 1 ? "s" : "") + ": "
                        + String.join(", ", missing) + " (give them on the command line or in a --config file; "
                        + "see --help)");
                return ExitCodes.USAGE;
            }
            given.checkProcessSettings();
        } catch (ConfigException e) {
            err.println("prefork: " + e.getMessage());
            return ExitCodes.USAGE;
        }
        String level = given.value("--log-level");
        String format = given.value("--log-format");
        LogSetup.configure(level == null ? "info" : level, format == null ? "text" : format);
        SupervisorConfig config;
        try {
            config = given.config(activation);
        } catch (ConfigException e) {
            err.println("prefork: " + e.getMessage() + given.sourceOf(e.setting()));
            return ExitCodes.USAGE;
        }
        try {
            return new Main(out, err).execute(config, args, oldSupervisor);
        } catch (RuntimeException e) {
            err.println("prefork: internal error: " + e);
            e.printStackTrace(err);
            return ExitCodes.INTERNAL;
        }
    }

    /**
     * The command's options, one per row of the settings table (with its aliases), plus {@code --help} and
     * {@code --version}. Only for parsing: {@link #usage()} writes the help.
     */
    static CommandSpec commandSpec() {
        CommandSpec spec = CommandSpec.create().name("prefork").version(VERSION);
        for (Setting s : Settings.ALL) {
            spec.addOption(optionSpec(s));
        }
        spec.mixinStandardHelpOptions(true);
        return spec;
    }

    private static OptionSpec optionSpec(Setting s) {
        OptionSpec.Builder o = OptionSpec.builder(s.name(), s.aliases().toArray(new String[0]))
                .description(helpText(s));
        if (s.flag()) {
            o.arity("0").type(boolean.class);
        } else if (s.repeatable()) {
            o.paramLabel(s.label()).arity("1").type(List.class).auxiliaryTypes(String.class);
        } else {
            o.paramLabel(s.label()).arity("1").type(String.class);
        }
        return o.build();
    }

    /** The description as {@code --help} shows it: no Markdown backticks, then the default and "Repeatable.". */
    static String helpText(Setting s) {
        String text = s.helpDescription().replace("`", "");
        if (s.defaultText() != null) {
            text += " Default: " + s.defaultText() + ".";
        }
        if (s.repeatable()) {
            text += " Repeatable.";
        }
        // picocli expands ${...} in descriptions and formats them with String.format (for %n): escape both.
        return text.replace("%", "%%").replace("${", "$${");
    }

    /**
     * {@code --help}: how to run it, the options (from {@link Settings#ALL}), the signals and the exit codes (from
     * {@link ProcessTables}), wrapped at {@link #HELP_WIDTH} on spaces only.
     */
    static String usage() {
        StringBuilder synopsis = new StringBuilder(COMMAND);
        for (Setting s : Settings.ALL) {
            if (s.required()) {
                synopsis.append(' ').append(s.usage());
            }
        }
        StringBuilder h = new StringBuilder();
        wrap(h, "Usage: " + synopsis + " [OPTIONS]", "", "       ");
        h.append('\n');
        wrap(h, "Accepts TCP connections and hands each one, as a file descriptor, to the least busy of N worker "
                + "JVMs running your io.prefork.worker.Worker. The README has the details, and a first worker step "
                + "by step (Writing a worker).", "", "");
        h.append("\nOptions (also " + GivenSettings.ENV + "=\"--workers 4 ...\", or name = value lines in a "
                + "--config file):\n");
        for (Setting s : Settings.ALL) {
            StringBuilder names = new StringBuilder("  ");
            for (String a : s.aliases()) {
                names.append(a).append(", ");
            }
            names.append(s.usage());
            h.append(names).append('\n');
            wrap(h, helpText(s).replace("%%", "%").replace("$${", "${"), "      ", "      ");
        }
        h.append("  -h, --help\n      Print this help and exit.\n  -V, --version\n      Print the version and exit.\n");
        h.append("\nSignals:\n");
        for (ProcessTables.Row r : ProcessTables.SIGNALS) {
            wrap(h, r.summary().replace("`", ""), "  " + String.format(Locale.ROOT, "%-6s", r.key()), "        ");
        }
        h.append("\nExit codes:\n");
        for (ProcessTables.Row r : ProcessTables.EXIT_CODES) {
            wrap(h, r.summary().replace("`", ""), "  " + r.key() + "  ", "     ");
        }
        return h.toString();
    }

    /** Appends {@code text} in lines of at most {@link #HELP_WIDTH}, broken at spaces only. */
    static void wrap(StringBuilder out, String text, String first, String rest) {
        StringBuilder line = new StringBuilder(first);
        // A prefix that is not only indentation (a signal's name) is the line's first word.
        boolean empty = first.isBlank();
        for (String word : text.split(" ")) {
            if (word.isEmpty()) {
                continue;
            }
            if (!empty && line.length() + 1 + word.length() > HELP_WIDTH) {
                out.append(line).append('\n');
                line.setLength(0);
                line.append(rest);
                empty = true;
            }
            if (!empty && line.charAt(line.length() - 1) != ' ') {
                line.append(' ');
            }
            line.append(word);
            empty = false;
        }
        out.append(line).append('\n');
    }

    /** Applies every setting given on the command line to a fresh builder, then validates. */
    static SupervisorConfig config(ParseResult parsed) {
        GivenSettings given = new GivenSettings();
        given.addParsed(parsed, null);
        return given.config();
    }

    private int execute(SupervisorConfig config, String[] args, UpgradeEndpoint.Handover oldSupervisor) {
        Supervisor supervisor;
        // sd_notify when run by systemd (NOTIFY_SOCKET set); otherwise it does nothing.
        SystemdNotifier systemd = SystemdNotifier.fromEnvironment();
        // This JVM is ours (java -jar), so its heap policy is too; see OwnFootprint. -Dprefork.footprint=off: as is.
        boolean footprint = !"off".equals(System.getProperty("prefork.footprint"));
        List<String> tuned = footprint ? OwnFootprint.tune() : List.of();
        AtomicReference<Thread> trimmer = new AtomicReference<>();
        try {
            // An upgrade's new supervisor serves the old one's admin socket too (Supervisor.start owns it from here).
            supervisor = Supervisor.start(config, systemd, oldSupervisor == null ? -1 : oldSupervisor.admin());
        } catch (StartupException e) {
            systemd.close();
            err.println("prefork: " + e.getMessage());
            return e.exitCode();
        }
        systemd.attach(supervisor::status);
        // The handlers only post to the supervisor's loop (each of these methods returns at once). A process that
        // starts with SIGINT ignored (a background job of a non-interactive shell) keeps it ignored: HotSpot does not
        // install a handler for a signal ignored at startup, and says nothing, so there INT does not stop us.
        handle("TERM", () -> supervisor.stop("SIGTERM"));
        handle("INT", () -> supervisor.stopNow("SIGINT"));
        // HUP is a command here (reload), not a hangup: taken back even from nohup's SIG_IGN, as gunicorn's is. INT
        // stays ignored where a non-interactive shell ignored it, so that a Ctrl-C meant for the script does not
        // stop a server it started in the background.
        handle("HUP", () -> supervisor.reload("SIGHUP"));
        handle("TTIN", () -> supervisor.addWorker("SIGTTIN"));
        handle("TTOU", () -> supervisor.removeWorker("SIGTTOU"));
        List<String> command = Upgrader.currentCommand(Main.class.getName(), List.of(args));
        handle("USR2", () -> supervisor.upgrade(command));
        // Any other way out of this JVM (an unhandled signal, System.exit from a library) still takes the workers
        // down.
        Thread hook = new Thread(() -> {
            if (!supervisor.terminated().isDone()) {
                supervisor.stopNow("JVM shutdown");
                supervisor.terminated().join();
            }
        }, "prefork-exit");
        Runtime.getRuntime().addShutdownHook(hook);
        // One line; several --listen addresses are separated by ", " (the first one stays first, for scripts).
        supervisor.ready().thenAccept(bound -> {
            out.println("prefork: ready on " + TcpListener.format(bound) + " with " + config.workers()
                    + " worker(s) of " + config.workerClass());
            if (oldSupervisor != null) {
                supervisor.serveHandedOverAdmin(); // before the old one stops accepting on the admin socket
                try {
                    oldSupervisor.ready(); // it stops accepting and drains
                } catch (IOException e) {
                    err.println("prefork: upgrade: cannot tell the old supervisor that this one is ready ("
                            + e.getMessage() + "); it goes on accepting too, until stopped");
                }
            }
            if (footprint) {
                // Not on the thread that completed ready (the loop's): the collection and the trim take milliseconds.
                trimmer.set(OwnFootprint.start(OwnFootprint.TRIM_EVERY_MS, released -> LoggerFactory.getLogger(
                        "prefork").info("own footprint: {}; {}", String.join(", ", tuned), released)));
            }
        });
        Termination t = supervisor.terminated().join();
        Thread trimming = trimmer.get();
        if (trimming != null) {
            trimming.interrupt(); // run in-process (tests), this JVM outlives the supervisor
        }
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

    private void handle(String signal, Runnable action) {
        String problem = Signals.handle(signal, action, signal.equals("HUP"));
        if (problem != null) {
            err.println("prefork: warning: SIG" + signal + " is not handled: " + problem + "; " + (signal.equals("INT")
                    ? "stop the supervisor with TERM (a graceful stop) instead" : "start the supervisor "
                    + "without that (e.g. under a service manager) for " + signal + " to work as --help says"));
        }
    }
}
