package io.prefork.supervisor;

import io.prefork.supervisor.internal.nativeio.Signals;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import io.prefork.supervisor.internal.nativeio.UpgradeEndpoint;
import io.prefork.supervisor.internal.systemd.SocketActivation;
import io.prefork.supervisor.internal.upgrade.Upgrader;
import io.prefork.supervisor.internal.systemd.SystemdNotifier;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
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

    /** Signals and what each one does; the footer of {@code --help} says the same. */
    static final List<String> FOOTER = List.of("",
            "Signals: TERM = graceful stop (connections in flight finish, up to --graceful-timeout, then workers stop; "
                    + "a second TERM stops them at once). INT = quick stop (workers get TERM now, KILL 5 s later). "
                    + "HUP = reload (every worker replaced by a fresh JVM, one at a time). TTIN / TTOU = one worker "
                    + "more / fewer. USR2 = upgrade (a new supervisor from the same command line takes the listening "
                    + "sockets; once it is ready, this one drains and exits). QUIT cannot be handled: the JVM reserves it for thread dumps, so it prints the "
                    + "supervisor's threads and does not stop it.",
            "Exit codes: 0 stopped normally, 1 internal error, 2 bad command line or settings, "
                    + "3 a worker failed to boot, 4 cannot listen, 5 a socket passed by systemd (LISTEN_FDS) is not a "
                    + "listening TCP socket.");

    private final PrintWriter out;
    private final PrintWriter err;

    private Main(PrintWriter out, PrintWriter err) {
        this.out = out;
        this.err = err;
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        System.exit(run(args, out, err));
    }

    /** Parses and runs; returns the exit code. Separate from {@link #main} so tests can call it in-process. */
    static int run(String[] args, PrintWriter out, PrintWriter err) {
        SocketActivation activation;
        try {
            activation = SocketActivation.fromEnvironment();
        } catch (IllegalArgumentException e) {
            err.println("prefork: socket activation: " + e.getMessage());
            return ExitCodes.INHERITED_SOCKET_INVALID;
        }
        // An upgrade's new supervisor takes its listening sockets from the old one (USR2; see Upgrader).
        UpgradeEndpoint.Handover handover = null;
        String upgradeSocket = System.getenv(Upgrader.SOCKET_VARIABLE);
        if (upgradeSocket != null && !upgradeSocket.isEmpty()) {
            try {
                handover = UpgradeEndpoint.connect(java.nio.file.Path.of(upgradeSocket),
                        System.getenv().getOrDefault(Upgrader.TOKEN_VARIABLE, ""));
            } catch (IOException | RuntimeException e) {
                err.println("prefork: upgrade: cannot take the listening sockets from the old supervisor: "
                        + e.getMessage());
                return ExitCodes.LISTEN_FAILED;
            }
            java.util.Map<Integer, String> fds = new java.util.LinkedHashMap<>();
            handover.listeners().forEach(fd -> fds.put(fd, ""));
            activation = SocketActivation.fromUpgrade(fds);
        }
        UpgradeEndpoint.Handover oldSupervisor = handover;
        SocketActivation sockets = activation;
        CommandLine cl = new CommandLine(commandSpec(activation.active()));
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler((ex, a) -> {
            // One line naming the problem, not a page of usage: the usage is one --help away.
            err.println("prefork: " + ex.getMessage() + " (see --help)");
            return ExitCodes.USAGE;
        });
        cl.setExecutionStrategy(parsed -> {
            Integer helpExit = CommandLine.executeHelpRequest(parsed);
            if (helpExit != null) {
                return helpExit;
            }
            try {
                return new Main(out, err).execute(parsed, sockets, args, oldSupervisor);
            } catch (RuntimeException e) {
                throw new CommandLine.ExecutionException(cl, "prefork failed", e);
            }
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            err.println("prefork: internal error: " + ex);
            ex.printStackTrace(err);
            return ExitCodes.INTERNAL;
        });
        return cl.execute(args);
    }

    /** The command's options, one per row of the settings table, plus {@code --help} and {@code --version}. */
    static CommandSpec commandSpec() {
        return commandSpec(false);
    }

    /**
     * The command's options; with {@code socketActivated} (systemd passed listening sockets), {@code --listen} is
     * optional, since the passed sockets are served instead.
     */
    static CommandSpec commandSpec(boolean socketActivated) {
        CommandSpec spec = CommandSpec.create()
                .name("prefork")
                .version(VERSION);
        StringBuilder synopsis = new StringBuilder("prefork");
        for (Setting s : Settings.ALL) {
            if (s.required()) {
                synopsis.append(' ').append(s.usage());
            }
        }
        spec.usageMessage()
                .autoWidth(true)
                .customSynopsis(synopsis.append(" [OPTIONS]").toString())
                .sortOptions(false)
                .description("Accepts TCP connections and hands each one, as a file descriptor, to the least busy "
                        + "of N worker JVMs running your io.prefork.worker.Worker.", "")
                .footer(FOOTER.toArray(new String[0]));
        for (Setting s : Settings.ALL) {
            spec.addOption(optionSpec(s, s.required() && !(socketActivated && s.name().equals("--listen"))));
        }
        // After the settings, so that --help and --version come last in the list, as in the README.
        spec.mixinStandardHelpOptions(true);
        return spec;
    }

    private static OptionSpec optionSpec(Setting s, boolean required) {
        OptionSpec.Builder o = OptionSpec.builder(s.name()).required(required).description(helpText(s));
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
        String text = s.description().replace("`", "");
        if (s.defaultText() != null) {
            text += " Default: " + s.defaultText() + ".";
        }
        if (s.repeatable()) {
            text += " Repeatable.";
        }
        // picocli expands ${...} in descriptions and formats them with String.format (for %n): escape both.
        return text.replace("%", "%%").replace("${", "$${");
    }

    /** Applies every setting given on the command line to a fresh builder, then validates. */
    static SupervisorConfig config(ParseResult parsed) {
        return config(parsed, SocketActivation.fromEnvironment(java.util.Map.of(), 0));
    }

    /** Like {@link #config(ParseResult)}, serving the sockets systemd passed, if any, instead of {@code --listen}. */
    static SupervisorConfig config(ParseResult parsed, SocketActivation activation) {
        SupervisorConfig.Builder b = SupervisorConfig.builder().inheritedListeners(activation.named(),
                activation.upgrade() ? SupervisorConfig.FROM_UPGRADE : SupervisorConfig.FROM_SERVICE_MANAGER);
        for (Setting s : Settings.ALL) {
            OptionSpec option = parsed.matchedOption(s.name());
            if (option == null) {
                continue; // not given: the builder's default
            }
            List<String> values;
            if (s.flag()) {
                values = List.of();
            } else if (s.repeatable()) {
                values = option.getValue();
            } else {
                String value = option.getValue();
                values = List.of(value);
            }
            s.apply(b, values);
        }
        return b.build();
    }

    private int execute(ParseResult parsed, SocketActivation activation, String[] args,
                        UpgradeEndpoint.Handover oldSupervisor) {
        SupervisorConfig config;
        try {
            config = config(parsed, activation);
        } catch (ConfigException e) {
            err.println("prefork: " + e.getMessage());
            return ExitCodes.USAGE;
        }
        Supervisor supervisor;
        // sd_notify when run by systemd (NOTIFY_SOCKET set); otherwise it does nothing.
        SystemdNotifier systemd = SystemdNotifier.fromEnvironment();
        try {
            supervisor = Supervisor.start(config, systemd);
        } catch (StartupException e) {
            systemd.close();
            if (oldSupervisor != null) {
                oldSupervisor.close(); // the old one reads the end of stream: it serves on
            }
            err.println("prefork: " + e.getMessage());
            return e.exitCode();
        }
        systemd.attach(supervisor::status);
        // The handlers only post to the supervisor's loop (each of these methods returns at once). A process that
        // starts with SIGINT ignored (a background job of a non-interactive shell) keeps it ignored: HotSpot does not
        // install a handler for a signal ignored at startup, and says nothing, so there INT does not stop us.
        handle("TERM", supervisor::stop);
        handle("INT", supervisor::stopNow);
        // HUP is a command here (reload), not a hangup: taken back even from nohup's SIG_IGN, as gunicorn's is. INT
        // stays ignored where a non-interactive shell ignored it, so that a Ctrl-C meant for the script does not
        // stop a server it started in the background.
        handle("HUP", supervisor::reload);
        handle("TTIN", supervisor::addWorker);
        handle("TTOU", supervisor::removeWorker);
        List<String> command = Upgrader.currentCommand(Main.class.getName(), List.of(args));
        handle("USR2", () -> supervisor.upgrade(command));
        // Any other way out of this JVM (an unhandled signal, System.exit from a library) still takes the workers
        // down.
        Thread hook = new Thread(() -> {
            if (!supervisor.terminated().isDone()) {
                supervisor.stopNow();
                supervisor.terminated().join();
            }
        }, "prefork-exit");
        Runtime.getRuntime().addShutdownHook(hook);
        // One line; several --listen addresses are separated by ", " (the first one stays first, for scripts).
        supervisor.ready().thenAccept(bound -> {
            out.println("prefork: ready on " + TcpListener.format(bound) + " with " + config.workers()
                    + " worker(s) of " + config.workerClass());
            if (oldSupervisor != null) {
                try {
                    oldSupervisor.ready(); // it stops accepting and drains
                } catch (IOException e) {
                    err.println("prefork: upgrade: cannot tell the old supervisor that this one is ready ("
                            + e.getMessage() + "); it goes on accepting too, until stopped");
                }
            }
        });
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

    private void handle(String signal, Runnable action) {
        String problem = Signals.handle(signal, action, signal.equals("HUP"));
        if (problem != null) {
            err.println("prefork: warning: SIG" + signal + " is not handled: " + problem + "; " + (signal.equals("INT")
                    ? "stop the supervisor with TERM (a graceful stop) instead" : "start the supervisor "
                    + "without that (e.g. under a service manager) for " + signal + " to work as --help says"));
        }
    }
}
