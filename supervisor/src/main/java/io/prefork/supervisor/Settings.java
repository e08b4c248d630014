package io.prefork.supervisor;

import io.prefork.supervisor.internal.process.WorkerJava;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.ObjIntConsumer;

/**
 * The settings table: every supervisor setting, once, in the order {@code --help} and the README list them. The
 * command line ({@link Main}) declares its options from it, and {@link #markdownTable()} renders the README's options
 * reference from it (a test fails when the README's copy is stale). To add a setting: a builder method in
 * {@link SupervisorConfig} (with its check in {@code build()}), a row here, then paste the rendered table into the
 * README, as the failing test prints it.
 *
 * <p>The rows only parse text; every range and every rule across settings is {@link SupervisorConfig.Builder#build()}'s.
 */
public final class Settings {
    private Settings() {
    }

    /** Every setting, in display order. */
    public static final List<Setting> ALL = List.of(
            Setting.requiredRepeatable("--listen", "HOST:PORT",
                    "Address to listen on. Port 0 picks a free port (the ready line shows it). IPv6 in brackets: "
                            + "`[::1]:8080`. Give it again to listen on more addresses or ports (at most "
                            + SupervisorConfig.MAX_LISTEN + "); connections from all of them share the workers, "
                            + "and a worker tells them apart by `Connection.localAddress()`. Not required when "
                            + "systemd passes listening sockets (socket activation, `LISTEN_FDS`): those are served "
                            + "instead, and a `--listen` given as well is ignored, with a warning.",
                    SupervisorConfig.Builder::listen, SupervisorConfig::listen)
                    .aliases("-b", "--bind")
                    .brief("Address to listen on, e.g. 127.0.0.1:8080 or [::1]:8080; port 0 picks a free port. Give "
                            + "it again for more addresses. Not needed under socket activation."),
            Setting.required("--worker", "CLASS",
                    "Class implementing `io.prefork.worker.Worker`, with a public no-argument constructor.",
                    SupervisorConfig.Builder::workerClass, SupervisorConfig::workerClass),
            Setting.required("--worker-classpath", "PATH",
                    "Jars or directories with the worker class and its dependencies, separated by `:`.",
                    (b, text) -> b.workerClasspath(classpath("--worker-classpath", text)),
                    SupervisorConfig::workerClasspath),
            number("--workers", "N", "number of CPUs",
                    "Worker processes to run (1 to " + SupervisorConfig.MAX_WORKERS + ").",
                    SupervisorConfig.Builder::workers, SupervisorConfig::workers)
                    .aliases("-w"),
            number("--spare-workers", "N", "0",
                    "Booted, ready workers kept outside the rotation (sent no connections). When a worker dies, is "
                            + "recycled by `--max-requests`, is replaced in a reload or TTIN asks for one more, a "
                            + "spare takes its place at once and a new spare boots behind it. Each costs a worker's "
                            + "memory.",
                    SupervisorConfig.Builder::spareWorkers, SupervisorConfig::spareWorkers),
            number("--concurrency", "K", "1",
                    "Connections one worker serves at once (its handler threads). 1 is classic prefork: handlers "
                            + "need not be thread-safe.",
                    SupervisorConfig.Builder::concurrency, SupervisorConfig::concurrency),
            number("--prefetch", "N", "2",
                    "Connections the supervisor may send ahead to a worker whose slots are all busy, when no worker "
                            + "has a free slot. The worker takes one the moment a slot frees, with no round trip "
                            + "through the supervisor, and both sides batch: for short requests, more connections "
                            + "per second at less CPU. A connection sent ahead does not wait behind a long request "
                            + "while another worker is free: not claimed yet, it is revoked and served there. Until "
                            + "claimed, the supervisor keeps its copy (a worker's death loses none of them). 0 = they "
                            + "wait in the supervisor's queue. The default 2 was measured on the end-to-end bench "
                            + "(bench/E2E.md): about 0.70-0.84x the plain-server rate at 1.35-1.79x its CPU, against "
                            + "0.44-0.65x at 2.1-2.6x with 0.",
                    SupervisorConfig.Builder::prefetch, SupervisorConfig::prefetch)
                    .brief("Connections the supervisor may send ahead to a busy worker: more connections per second "
                            + "at less CPU; one still waiting is revoked and served by whichever worker frees first."),
            Setting.value("--prefetch-timeout", "MILLISECONDS", "100",
                    "Deprecated and ignored (a warning at start says so); still accepted, 1 to 60000, so that "
                            + "config files and scripts that set it keep working. Connections sent ahead are revoked "
                            + "and served by the first worker that frees, so no worker gives them back after a "
                            + "timeout.",
                    (b, text) -> b.prefetchTimeout(Duration.ofMillis(wholeNumber("--prefetch-timeout", "MILLISECONDS",
                            text))), c -> c.prefetchTimeout().toMillis()),
            seconds("--keep-alive", "15",
                    "How long a parked keep-alive connection may stay idle in the supervisor before it is closed "
                            + "(1 to " + SupervisorConfig.MAX_KEEP_ALIVE.toSeconds() + "). A connection is parked "
                            + "when its handler calls `Connection.park` between requests; see Keep-alive under "
                            + "Prefork.",
                    SupervisorConfig.Builder::keepAlive, SupervisorConfig::keepAlive),
            number("--max-parked", "N", "10000",
                    "The most parked keep-alive connections the supervisor holds (0 to "
                            + SupervisorConfig.MAX_PARKED + "); beyond it the longest idle is closed. 0 closes every "
                            + "connection a handler parks.",
                    SupervisorConfig.Builder::maxParked, SupervisorConfig::maxParked),
            seconds("--graceful-timeout", "30",
                    "On stop, how long connections in flight may take to finish before workers are stopped.",
                    SupervisorConfig.Builder::gracefulTimeout, SupervisorConfig::gracefulTimeout),
            seconds("--boot-timeout", "60",
                    "How long a worker JVM may take to become ready before it is killed.",
                    SupervisorConfig.Builder::bootTimeout, SupervisorConfig::bootTimeout),
            number("--queue-size", "N", "1024",
                    "Connections that may wait in the supervisor while every worker is full; beyond that the "
                            + "supervisor stops accepting and the kernel backlog holds them.",
                    SupervisorConfig.Builder::queueSize, SupervisorConfig::queueSize),
            number("--backlog", "N", "1024",
                    "The listening socket's kernel backlog.",
                    SupervisorConfig.Builder::backlog, SupervisorConfig::backlog),
            number("--max-requests", "N", "0",
                    "Connections a worker serves before it is replaced by a fresh JVM, to bound the damage of leaks; "
                            + "0 = never.",
                    SupervisorConfig.Builder::maxRequests, SupervisorConfig::maxRequests),
            number("--max-requests-jitter", "J", "0",
                    "A random 0 to J added to `--max-requests` for each worker, so workers are not all replaced at "
                            + "once.",
                    SupervisorConfig.Builder::maxRequestsJitter, SupervisorConfig::maxRequestsJitter),
            seconds("--timeout", "0",
                    "A worker that holds one connection longer than this has its threads dumped into the log, is "
                            + "killed and is replaced; 0 = no limit.",
                    SupervisorConfig.Builder::timeout, SupervisorConfig::timeout),
            seconds("--heartbeat-timeout", "30",
                    "A worker that sends nothing for this long (it sends a heartbeat every second) is killed and "
                            + "replaced. At least 2.",
                    SupervisorConfig.Builder::heartbeatTimeout, SupervisorConfig::heartbeatTimeout),
            Setting.value("--worker-java", "PATH", "this JVM",
                    "The JVM workers run on: a `java` executable or a JDK home, e.g. to run workers compiled for a "
                            + "newer Java than the supervisor's. Java " + WorkerJava.MINIMUM_FEATURE + " or newer.",
                    (b, text) -> b.workerJava(path("--worker-java", text)),
                    SupervisorConfig::workerJava),
            Setting.repeatable("--worker-jvm-option", "OPTION",
                    "An option for each worker JVM, e.g. `--worker-jvm-option=-Xmx256m`.",
                    SupervisorConfig.Builder::workerJvmOptions, SupervisorConfig::workerJvmOptions),
            Setting.repeatable("--worker-setting", "KEY=VALUE",
                    "A setting every worker sees in `WorkerContext.settings()`.",
                    (b, texts) -> b.workerSettings(keyValues("--worker-setting", texts)),
                    SupervisorConfig::workerSettings),
            Setting.value("--admin", "HOST:PORT", "none",
                    "Address of the admin HTTP endpoint. It has no authentication, so it must be a loopback "
                            + "address unless `--admin-allow-remote` is given.",
                    SupervisorConfig.Builder::admin, SupervisorConfig::admin),
            Setting.flag("--admin-allow-remote",
                    "Allow `--admin` on an address other hosts can reach; only on a network you trust.",
                    b -> b.adminAllowRemote(true), SupervisorConfig::adminAllowRemote),
            Setting.value("--proxy-protocol", "VERSION", "off",
                    "`v1`, `v2` or `auto`: every connection must begin with a PROXY protocol header of this "
                            + "version (HAProxy's `send-proxy` is v1, `send-proxy-v2` v2; `auto` takes either), from "
                            + "which "
                            + "`Connection.remoteAddress()` is the client's address; `peerAddress()` stays the "
                            + "balancer's. The worker reads it before `handle()`, within 2 s. A connection without a "
                            + "valid header is closed and counted in `prefork_proxy_refused_total`.",
                    SupervisorConfig.Builder::proxyProtocol, SupervisorConfig::proxyProtocol),
            Setting.value("--proxy-allow-from", "CIDRS", "127.0.0.0/8,::1/128",
                    "With `--proxy-protocol`: the balancers allowed to send the header, as comma-separated CIDR "
                            + "blocks or addresses. A connection from any "
                            + "other address is closed unread, so no one else can claim a client address.",
                    SupervisorConfig.Builder::proxyAllowFrom, SupervisorConfig::proxyAllowFrom),
            Setting.value("--pid", "FILE", "none",
                    "Write the supervisor's pid to FILE once it listens (atomically: a temporary file renamed), and "
                            + "remove it on exit if it still holds that pid. For `PIDFile=` in a systemd unit, or "
                            + "scripts that send signals. Its directory must exist and be writable.",
                    (b, text) -> b.pidFile(path("--pid", text)), SupervisorConfig::pidFile),
            Setting.value("--user", "USER", "none",
                    "Run the workers as this user (a name or a uid), as gunicorn's `--user` does: for a supervisor "
                            + "started as root, e.g. to listen on a port below 1024. Needs root. The supervisor itself "
                            + "stays root, unless `--drop-privileges`.",
                    SupervisorConfig.Builder::user, SupervisorConfig::user),
            Setting.value("--group", "GROUP", "the user's group",
                    "With `--user`: run the workers with this group (a name or a gid) instead of the user's primary "
                            + "group.",
                    SupervisorConfig.Builder::group, SupervisorConfig::group),
            Setting.flag("--drop-privileges",
                    "With `--user`: once it listens, and its admin endpoint and `--pid` file are set up, the "
                            + "supervisor switches itself to that user and group for good (HAProxy's `user` and "
                            + "`group`), so no process of Prefork stays root. `--pid`'s directory must then be "
                            + "writable by that user, who removes the file on exit.",
                    b -> b.dropPrivileges(true), SupervisorConfig::dropPrivileges),
            Setting.flag("--no-jmx",
                    "Do not register the metrics as JMX MBeans (by default they are).",
                    b -> b.jmx(false), SupervisorConfig::jmx),
            Setting.process("--config", "FILE", "none",
                    "Read settings from FILE: one `name = value` per line, the names of these options without "
                            + "`--` (`workers = 4`), `#` for comments, a repeatable one on several lines, a flag as "
                            + "`name = true`. The command line wins over `PREFORK_CMD_ARGS`, which wins over the file."),
            Setting.process("--log-level", "LEVEL", "info",
                    "The supervisor's log level: `error`, `warn`, `info`, `debug` or `trace`."),
            Setting.process("--log-format", "FORMAT", "text",
                    "`text` (one line per event) or `json` (one JSON object per line, for log pipelines)."));

    /** {@code --log-level}'s values, in order of verbosity. */
    public static final List<String> LOG_LEVELS = List.of("error", "warn", "info", "debug", "trace");
    /** {@code --log-format}'s values. */
    public static final List<String> LOG_FORMATS = List.of("text", "json");

    /** The setting named {@code name} ({@code --workers}) or one of its aliases ({@code -w}), or null. */
    public static Setting named(String name) {
        for (Setting s : ALL) {
            if (s.name().equals(name) || s.aliases().contains(name)) {
                return s;
            }
        }
        return null;
    }

    /**
     * The README's options reference: a Markdown table (option, default, meaning) of every setting, then
     * {@code --help} and {@code --version}, one row per line, each line ending in a newline.
     */
    public static String markdownTable() {
        StringBuilder md = new StringBuilder("| option | default | meaning |\n|---|---|---|\n");
        for (Setting s : ALL) {
            String def = s.required() ? "(required)" : s.defaultText() == null ? "" : s.defaultText();
            String meaning = s.description() + (s.repeatable() ? " Repeatable." : "");
            if (!s.aliases().isEmpty()) {
                meaning += " Also " + String.join(", ", s.aliases().stream().map(a -> "`" + a + "`").toList()) + ".";
            }
            md.append("| `").append(s.usage()).append("` |").append(def.isEmpty() ? "" : " " + cell(def)).append(" | ")
                    .append(cell(meaning)).append(" |\n");
        }
        md.append("| `--help`, `--version` | | Print the usage help (these settings), or the version, and exit. |\n");
        return md.toString();
    }

    private static String cell(String text) {
        return text.replace("|", "\\|");
    }

    // ---- The row shapes that parse, and the parsers. Each error names the option and the value. ----

    private static Setting number(String name, String label, String defaultText, String description,
                                  ObjIntConsumer<SupervisorConfig.Builder> set, Function<SupervisorConfig, Object> get) {
        return Setting.value(name, label, defaultText, description,
                (b, text) -> set.accept(b, wholeNumber(name, label, text)), get);
    }

    private static Setting seconds(String name, String defaultText, String description,
                                   BiConsumer<SupervisorConfig.Builder, Duration> set,
                                   Function<SupervisorConfig, Object> get) {
        return Setting.value(name, "SECONDS", defaultText, description,
                (b, text) -> set.accept(b, Duration.ofSeconds(wholeNumber(name, "SECONDS", text))), get);
    }

    /**
     * Digits with an optional sign, as an int. The sign is allowed so that {@code --workers -2} reaches the
     * builder's range check, whose message says what the range is.
     */
    static int wholeNumber(String setting, String label, String text) {
        String t = text.strip();
        if (!t.matches("[+-]?[0-9]+")) {
            boolean time = label.equals("SECONDS") || label.equals("MILLISECONDS");
            String what = time ? "a whole number of " + label.toLowerCase(java.util.Locale.ROOT) : "a whole number";
            throw new ConfigException(setting, shown(text), "not " + what + "; write " + label
                    + " in digits, e.g. " + setting + " " + (label.equals("SECONDS") ? "30"
                    : label.equals("MILLISECONDS") ? "100" : "4"));
        }
        try {
            return Integer.parseInt(t);
        } catch (NumberFormatException tooLong) {
            throw new ConfigException(setting, text, "out of range (at most " + Integer.MAX_VALUE + ")");
        }
    }

    /** The value as the error shows it: quoted only when it would otherwise be invisible. */
    private static String shown(String text) {
        return text.isBlank() ? "'" + text + "'" : text;
    }

    /** {@code a.jar:b/classes}: entries separated by {@code :}, none empty. */
    static List<Path> classpath(String setting, String text) {
        List<Path> entries = new ArrayList<>();
        for (String entry : text.split(":", -1)) {
            if (entry.isBlank()) {
                throw new ConfigException(setting, shown(text), "has an empty entry; give jars or directories "
                        + "separated by a single ':'");
            }
            try {
                entries.add(Path.of(entry));
            } catch (InvalidPathException e) {
                throw new ConfigException(setting, entry, "is not a valid path: " + e.getReason());
            }
        }
        return entries;
    }

    /** One path; blank is an error rather than the current directory. */
    static Path path(String setting, String text) {
        if (text.isBlank()) {
            throw new ConfigException(setting, shown(text), "give a file name, e.g. " + setting + " /run/prefork.pid");
        }
        try {
            return Path.of(text);
        } catch (InvalidPathException e) {
            throw new ConfigException(setting, text, "is not a valid path: " + e.getReason());
        }
    }

    /** {@code KEY=VALUE} pairs, in order; a later key replaces an earlier one. The value may be empty or hold '='. */
    static Map<String, String> keyValues(String setting, List<String> texts) {
        Map<String, String> map = new LinkedHashMap<>();
        for (String text : texts) {
            int eq = text.indexOf('=');
            if (eq <= 0) {
                throw new ConfigException(setting, shown(text), "expected KEY=VALUE, e.g. " + setting
                        + " greeting=hi");
            }
            map.put(text.substring(0, eq), text.substring(eq + 1));
        }
        return map;
    }
}
