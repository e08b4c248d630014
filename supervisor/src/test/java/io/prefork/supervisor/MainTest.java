package io.prefork.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line, in-process. Only paths that fail before anything is bound or spawned are exercised here; the
 * examples module's integration tests run the packaged jar with real worker JVMs.
 */
@Timeout(30)
class MainTest {

    /** Spelled out, not taken from the table: an option that disappears from the table should fail here. */
    private static final List<String> OPTIONS = List.of("--listen", "--workers", "--worker", "--worker-classpath",
            "--concurrency", "--graceful-timeout", "--worker-jvm-option", "--worker-setting", "--queue-size",
            "--backlog", "--boot-timeout", "--max-requests", "--max-requests-jitter", "--timeout",
            "--heartbeat-timeout", "--admin", "--admin-allow-remote", "--pid", "--no-jmx", "--worker-java", "--config",
            "--log-level", "--log-format");

    @TempDir
    Path dir;

    private Path jar;

    @BeforeEach
    void createClasspathEntry() throws IOException {
        jar = dir.resolve("worker.jar");
        // A real (empty) jar: the class check reads every jar on the classpath.
        new java.util.jar.JarOutputStream(Files.newOutputStream(jar)).close();
    }

    private record Result(int code, String out, String err) {
        List<String> errLines() {
            return err.isEmpty() ? List.of() : List.of(err.split("\\R"));
        }

        /** The one line on stderr, after checking there is exactly one. */
        String errLine() {
            assertEquals(1, errLines().size(), "exactly one line on stderr, got:\n" + err);
            return errLines().get(0);
        }

        @Override
        public String toString() {
            return "exit " + code + "\n--- out:\n" + out + "--- err:\n" + err;
        }
    }

    private static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        PrintWriter o = new PrintWriter(out);
        PrintWriter e = new PrintWriter(err);
        int code = Main.run(args, o, e);
        o.flush();
        e.flush();
        return new Result(code, out.toString(), err.toString());
    }

    /** {@link #validArgs} followed by {@code flags}. */
    private String[] validArgsAndFlags(List<String> flags, String... overrides) {
        List<String> args = new ArrayList<>(List.of(validArgs(overrides)));
        args.addAll(flags);
        return args.toArray(new String[0]);
    }

    /**
     * A command line valid up to the point of starting workers, with {@code overrides} (option, value pairs)
     * replacing or adding options. Replacing, not appending: picocli rejects a single-valued option given twice.
     */
    private String[] validArgs(String... overrides) {
        Map<String, String> options = new LinkedHashMap<>();
        options.put("--listen", "127.0.0.1:0");
        options.put("--workers", "1");
        options.put("--worker", "com.example.MyWorker");
        options.put("--worker-classpath", jar.toString());
        for (int i = 0; i < overrides.length; i += 2) {
            options.put(overrides[i], overrides[i + 1]);
        }
        List<String> args = new ArrayList<>();
        options.forEach((option, value) -> {
            args.add(option);
            args.add(value);
        });
        return args.toArray(new String[0]);
    }

    private static void assertUsageError(Result r, String... mentions) {
        assertEquals(ExitCodes.USAGE, r.code(), r.toString());
        String line = r.errLine();
        assertTrue(line.startsWith("prefork: "), "prefixed with the program name: " + line);
        for (String m : mentions) {
            assertTrue(line.contains(m), "mentions '" + m + "': " + line);
        }
        assertEquals("", r.out(), "nothing on stdout: " + r);
    }

    @Test
    void aPidFileInADirectoryThatDoesNotExistIsAConfigError() {
        Path pid = dir.resolve("no-such-dir").resolve("prefork.pid");
        assertUsageError(run(validArgs("--pid", pid.toString())), "--pid " + pid, "does not exist");
        assertUsageError(run(validArgs("--pid", dir.toString())), "--pid " + dir, "is a directory");
    }

    @Test
    void helpListsEveryOption() {
        Result r = run("--help");
        assertEquals(ExitCodes.OK, r.code(), r.toString());
        for (String option : OPTIONS) {
            assertTrue(r.out().contains(option + " ") || r.out().contains(option + "\n"),
                    "usage shows " + option + ":\n" + r.out());
        }
        for (Setting s : Settings.ALL) {
            assertTrue(r.out().contains(s.usage() + "\n"), "usage shows " + s.usage() + ":\n" + r.out());
        }
        assertTrue(r.out().contains("Exit codes"), "usage explains the exit codes:\n" + r.out());
        for (String signal : List.of("TERM", "INT", "HUP", "TTIN", "TTOU", "QUIT")) {
            assertTrue(r.out().contains(signal + " "), "usage explains SIG" + signal + ":\n" + r.out());
        }
        assertTrue(r.out().contains("Default: 30."), "usage shows defaults:\n" + r.out());
        assertTrue(r.out().contains("Repeatable."), "usage says what is repeatable:\n" + r.out());
        assertEquals("", r.err(), r.toString());
    }

    @Test
    void versionPrintsTheVersion() {
        Result r = run("--version");
        assertEquals(ExitCodes.OK, r.code(), r.toString());
        assertTrue(r.out().startsWith("prefork "), r.toString());
    }

    @Test
    void aMissingRequiredOptionIsOneLine() {
        Result r = run("--listen", "127.0.0.1:0", "--worker-classpath", jar.toString());
        assertUsageError(r, "--worker", "Missing");
        assertTrue(!r.errLine().contains("--listen") && !r.errLine().contains("--worker-classpath"),
                "names only what is missing: " + r.errLine());
    }

    @Test
    void listenMayBeGivenSeveralTimes() {
        String[] args = {"--listen", "127.0.0.1:0", "--worker", "com.example.MyWorker", "--listen=[::1]:8080",
                "--worker-classpath", jar.toString(), "--listen", "127.0.0.1:8081"};
        SupervisorConfig c = Main.config(new picocli.CommandLine(Main.commandSpec()).parseArgs(args));
        assertEquals(List.of("127.0.0.1:0", "[::1]:8080", "127.0.0.1:8081"),
                c.listen().stream().map(io.prefork.supervisor.internal.nativeio.TcpListener::format).toList());
    }

    @Test
    void aListenAddressGivenTwiceIsOneLine() {
        List<String> args = new ArrayList<>(List.of(validArgs()));
        args.addAll(List.of("--listen", "127.0.0.1:0", "--listen", "127.0.0.1:8080", "--listen", "127.0.0.1:8080"));
        assertUsageError(run(args.toArray(new String[0])), "--listen 127.0.0.1:8080", "given twice");
    }

    @Test
    void noArgumentsNamesEveryMissingOptionOnOneLine() {
        assertUsageError(run(), "--listen", "--worker", "--worker-classpath");
    }

    @Test
    void aNonNumericWorkerCountIsOneLine() {
        assertUsageError(run(validArgs("--workers", "abc")), "--workers abc: not a whole number");
    }

    @Test
    void aNonNumericTimeoutIsOneLine() {
        assertUsageError(run(validArgs("--timeout", "5s")), "--timeout 5s: not a whole number of seconds");
    }

    @Test
    void aSingleValuedOptionGivenTwiceIsOneLine() {
        assertUsageError(run(validArgsAndFlags(List.of("--workers", "2"))), "--workers");
    }

    @Test
    void aFlagWithAValueIsOneLine() {
        assertUsageError(run(validArgsAndFlags(List.of("--no-jmx=false"))), "--no-jmx");
    }

    @Test
    void aNegativeMaxRequestsIsOneLine() {
        assertUsageError(run(validArgs("--max-requests", "-1")), "--max-requests -1");
    }

    @Test
    void aOneSecondHeartbeatTimeoutIsOneLine() {
        assertUsageError(run(validArgs("--heartbeat-timeout", "1")), "--heartbeat-timeout 1", "at least 2");
    }

    @Test
    void aWorkerSettingWithoutAnEqualsSignIsOneLine() {
        assertUsageError(run(validArgs("--worker-setting", "greeting")), "--worker-setting greeting", "KEY=VALUE");
    }

    @Test
    void aRemoteAdminAddressWithoutTheFlagIsOneLine() {
        assertUsageError(run(validArgs("--admin", "10.1.2.3:9000")), "--admin 10.1.2.3:9000",
                "--admin-allow-remote");
    }

    /**
     * With the flag the settings are valid: the run gets as far as Supervisor.start, whose worker class check (which
     * runs before anything is bound or spawned) is the first thing to fail.
     */
    @Test
    void aRemoteAdminAddressWithTheFlagIsAccepted() throws IOException {
        Path empty = Files.createDirectory(dir.resolve("classes"));
        assertUsageError(run(validArgsAndFlags(List.of("--admin-allow-remote", "--no-jmx"), "--admin", "10.1.2.3:9000",
                "--worker", "com.example.NoSuchWorker", "--worker-classpath", empty.toString(), "--max-requests",
                "100", "--max-requests-jitter", "10", "--timeout", "0", "--heartbeat-timeout", "2")),
                "--worker com.example.NoSuchWorker", "not found");
    }

    /** picocli's wrapping split `[::1]:8080` and `WorkerContext.settings()`; the help wraps at spaces only. */
    @Test
    void helpBreaksLinesOnlyBetweenWords() {
        String help = run("--help").out();
        java.util.Set<String> tokens = new java.util.HashSet<>(List.of(help.split("\\s+")));
        for (Setting s : Settings.ALL) {
            for (String word : Main.helpText(s).replace("%%", "%").split(" ")) {
                assertTrue(tokens.contains(word), "'" + word + "' of " + s.name() + " is whole in:\n" + help);
            }
        }
        for (String line : help.split("\n")) {
            assertTrue(line.length() <= Main.HELP_WIDTH, "at most " + Main.HELP_WIDTH + " columns: " + line);
        }
        assertTrue(tokens.stream().anyMatch(t -> t.startsWith("[::1]:8080")), help);
    }

    @Test
    void helpShowsHowTheJarIsRunAndPointsToTheReadme() {
        String help = run("--help").out();
        assertTrue(help.startsWith("Usage: java -jar prefork-supervisor.jar --listen HOST:PORT --worker CLASS "
                + "--worker-classpath PATH [OPTIONS]"), help);
        assertTrue(help.contains("README"), help);
        assertTrue(!help.contains("bench/E2E.md"), "no pointer to a file a jar user does not have:\n" + help);
    }

    /** The same rows as the README's tables (SettingsTest checks those). */
    @Test
    void helpShowsTheSignalAndExitCodeTables() {
        String help = run("--help").out().replaceAll("\\s+", " ");
        for (ProcessTables.Row r : ProcessTables.SIGNALS) {
            assertTrue(help.contains(r.key() + " " + r.summary().replace("`", "")), r.key() + ":\n" + help);
        }
        for (ProcessTables.Row r : ProcessTables.EXIT_CODES) {
            assertTrue(help.contains(r.key() + " " + r.summary()), r.key() + ":\n" + help);
        }
    }

    /** A typo'd option is the problem; the required options it seems to leave out are not. */
    @Test
    void anUnknownOptionIsReportedBeforeMissingOnes() {
        Result r = run("--bnd", "127.0.0.1:8080");
        assertUsageError(r, "--bnd");
        assertTrue(!r.errLine().contains("Missing"), r.errLine());
    }

    /** gunicorn's -b/--bind and -w. */
    @Test
    void gunicornsBindAndWorkersSpellingsWork() {
        String[] args = {"-b", "127.0.0.1:0", "--bind", "[::1]:8080", "-w", "3", "--worker", "com.example.MyWorker",
            "--worker-classpath", jar.toString()};
        SupervisorConfig c = Main.config(new picocli.CommandLine(Main.commandSpec()).parseArgs(args));
        assertEquals(List.of("127.0.0.1:0", "[::1]:8080"),
                c.listen().stream().map(io.prefork.supervisor.internal.nativeio.TcpListener::format).toList());
        assertEquals(3, c.workers());
    }

    @Test
    void aBadLogLevelIsOneLine() {
        assertUsageError(run(validArgs("--log-level", "verbose")), "--log-level verbose",
                "error, warn, info, debug, trace");
    }

    // ---- --config and PREFORK_CMD_ARGS ----

    private Path config(String... lines) throws IOException {
        return Files.write(dir.resolve("prefork.conf"), List.of(lines));
    }

    private static Result run(Map<String, String> env, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        PrintWriter o = new PrintWriter(out);
        PrintWriter e = new PrintWriter(err);
        int code = Main.run(args, env, o, e);
        o.flush();
        e.flush();
        return new Result(code, out.toString(), err.toString());
    }

    /**
     * Everything from the file: the run gets past the settings to the worker class check (nothing in the jar), the
     * first thing Supervisor.start does.
     */
    @Test
    void aConfigFileGivesEverySetting() throws IOException {
        Path f = config("# a comment", "", "listen = 127.0.0.1:0", "bind = [::1]:0", "worker = com.example.InFile",
                "worker-classpath = " + jar, "workers = 2", "no-jmx = true", "log-level = warn");
        assertUsageError(run("--config", f.toString()), "--worker com.example.InFile", "not found");
    }

    @Test
    void theCommandLineWinsOverTheFile() throws IOException {
        Path f = config("listen = 127.0.0.1:0", "worker = com.example.InFile", "worker-classpath = " + jar,
                "workers = 0");
        assertUsageError(run("--config", f.toString()), "--workers 0", "from --config " + f + " line 4");
        assertUsageError(run("--config", f.toString(), "--workers", "2", "--worker", "com.example.OnLine"),
                "--worker com.example.OnLine", "not found");
    }

    @Test
    void anUnknownSettingInTheFileNamesTheLineAndTheNearestName() throws IOException {
        Path f = config("listen = 127.0.0.1:0", "wrokers = 2");
        assertUsageError(run("--config", f.toString()), "--config " + f + " line 2", "unknown setting 'wrokers'",
                "did you mean 'workers'");
    }

    @Test
    void aLineWithoutEqualsAndARepeatedSettingAreOneLine() throws IOException {
        assertUsageError(run("--config", config("workers 2").toString()), "line 1", "'workers = 4'");
        assertUsageError(run("--config", config("workers = 2", "workers = 3").toString()), "line 2",
                "first on line 1");
        assertUsageError(run("--config", config("no-jmx = yes").toString()), "line 1", "no-jmx = true");
    }

    @Test
    void aMissingConfigFileIsOneLine() {
        assertUsageError(run("--config", dir.resolve("nope.conf").toString()), "--config", "nope.conf",
                "does not exist");
    }

    @Test
    void cmdArgsFromTheEnvironmentAreUsedAndTheCommandLineWins() {
        Map<String, String> env = Map.of("PREFORK_CMD_ARGS", "--workers 0 --worker-setting 'greeting=hello world'");
        assertUsageError(run(env, validArgs()), "--worker com.example.MyWorker", "not found");
        List<String> noWorkers = new ArrayList<>(List.of(validArgs()));
        int i = noWorkers.indexOf("--workers");
        noWorkers.remove(i);
        noWorkers.remove(i);
        assertUsageError(run(env, noWorkers.toArray(new String[0])), "--workers 0", "from PREFORK_CMD_ARGS");
        assertUsageError(run(Map.of("PREFORK_CMD_ARGS", "--wrokers 2"), validArgs()), "PREFORK_CMD_ARGS",
                "--wrokers");
    }

    @Test
    void cmdArgsAreSplitAsAShellWould() {
        assertEquals(List.of("-w", "4", "a b", "c\"d", "e f", "g\\h"),
                GivenSettings.words(" -w 4 'a b' \"c\\\"d\" e\\ f \"g\\\\h\" "));
        assertUsageError(run(Map.of("PREFORK_CMD_ARGS", "--worker 'oops"), validArgs()), "PREFORK_CMD_ARGS",
                "not closed");
    }

    @Test
    void anUnknownOptionIsOneLine() {
        assertUsageError(run(validArgs("--wrokers", "2")), "--wrokers");
    }

    @Test
    void zeroWorkersIsOneLineNamingTheSettingAndValue() {
        assertUsageError(run(validArgs("--workers", "0")), "--workers 0", "1024");
    }

    @Test
    void aMalformedListenIsOneLine() {
        assertUsageError(run(validArgs("--listen", "127.0.0.1")), "--listen 127.0.0.1");
    }

    @Test
    void aMissingClasspathEntryIsOneLine() {
        Path missing = dir.resolve("missing.jar");
        assertUsageError(run(validArgs("--worker-classpath", jar + ":" + missing)), "--worker-classpath",
                missing.toString(), "does not exist");
    }

    @Test
    void aZeroBootTimeoutIsOneLine() {
        assertUsageError(run(validArgs("--boot-timeout", "0")), "--boot-timeout 0");
    }

    @Test
    void aNegativeGracefulTimeoutIsOneLine() {
        assertUsageError(run(validArgs("--graceful-timeout", "-1")), "--graceful-timeout -1");
    }

    @Test
    void aJvmOptionWithoutADashIsOneLine() {
        assertUsageError(run(validArgs("--worker-jvm-option", "Xmx64m")), "--worker-jvm-option", "Xmx64m");
    }

    /** Goes through Supervisor.start: the class check runs before anything is bound or spawned. */
    @Test
    void anUnknownWorkerClassIsOneLine() throws IOException {
        Path empty = Files.createDirectory(dir.resolve("classes"));
        assertUsageError(run(validArgs("--worker", "com.example.NoSuchWorker", "--worker-classpath", empty.toString())),
                "--worker com.example.NoSuchWorker", "not found");
    }

    @Test
    void aClassThatIsNotAWorkerIsOneLine() throws IOException {
        Path empty = Files.createDirectory(dir.resolve("classes"));
        assertUsageError(run(validArgs("--worker", "java.lang.String", "--worker-classpath", empty.toString())),
                "--worker java.lang.String", "does not implement io.prefork.worker.Worker");
    }
}
