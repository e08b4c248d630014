package io.prefork.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The settings table: its rows, its parsers, and the README's copy of it. */
@Timeout(30)
class SettingsTest {
    /** Surefire runs a module's tests in the module's directory; the README is the project's. */
    private static final Path README = Path.of("..", "README.md");

    @TempDir
    Path dir;

    private Path jar;

    @BeforeEach
    void createClasspathEntry() throws IOException {
        jar = Files.createFile(dir.resolve("worker.jar"));
    }

    private SupervisorConfig.Builder valid() {
        return SupervisorConfig.builder().listen("127.0.0.1:0").workerClass("com.example.MyWorker")
                .workerClasspath(List.of(jar));
    }

    private static Setting setting(String name) {
        Setting s = Settings.named(name);
        assertNotNull(s, "the table has " + name);
        return s;
    }

    private SupervisorConfig.Builder given(String name, String... values) {
        SupervisorConfig.Builder b = valid();
        setting(name).apply(b, List.of(values));
        return b;
    }

    // ---- The README ----

    @Test
    void theReadmeOptionsTableIsTheRenderedTable() throws IOException {
        assertReadmeSection("settings", Settings.markdownTable(), "the settings table (Settings.ALL)");
    }

    /** The Signals and Exit codes tables, like the options, are rendered from the tables --help shows. */
    @Test
    void theReadmeSignalsAndExitCodesAreTheRenderedTables() throws IOException {
        assertReadmeSection("signals", ProcessTables.signalsMarkdown(), "ProcessTables.SIGNALS");
        assertReadmeSection("exit-codes", ProcessTables.exitCodesMarkdown(), "ProcessTables.EXIT_CODES");
    }

    private static void assertReadmeSection(String name, String expected, String source) throws IOException {
        String readme = Files.readString(README, StandardCharsets.UTF_8);
        String beginMarker = "<!-- " + name + ":begin";
        String endMarker = "<!-- " + name + ":end -->";
        int begin = readme.indexOf(beginMarker);
        int end = readme.indexOf(endMarker);
        assertTrue(begin >= 0 && end > begin, README.toAbsolutePath() + " has the markers '" + beginMarker
                + " ...-->' and '" + endMarker + "', in that order");
        int from = readme.indexOf('\n', begin) + 1;
        String actual = readme.substring(from, end);
        if (!actual.equals(expected)) {
            fail("README.md's " + name + " table is not the one rendered from " + source + ". Replace the lines "
                    + "between '" + beginMarker + " ...-->' and '" + endMarker + "' with exactly:\n\n" + expected);
        }
    }

    @Test
    void theRenderedTableHasOneRowPerSettingPlusHelp() {
        List<String> lines = Settings.markdownTable().lines().toList();
        assertEquals(2 + Settings.ALL.size() + 1, lines.size(), Settings.markdownTable());
        for (int i = 0; i < Settings.ALL.size(); i++) {
            Setting s = Settings.ALL.get(i);
            String row = lines.get(2 + i);
            assertTrue(row.startsWith("| `" + s.usage() + "` | "), row);
            assertEquals(5, row.split("(?<!\\\\)\\|", -1).length, "exactly three cells: " + row);
        }
        assertTrue(Settings.markdownTable().contains("| `--worker-setting KEY=VALUE` | | "), "a repeatable row");
        assertTrue(Settings.markdownTable().contains("| `--listen HOST:PORT` | (required) | "), "a required row");
        assertTrue(Settings.markdownTable().contains("| `--workers N` | number of CPUs | "), "a default row");
    }

    // ---- The rows ----

    @Test
    void everyRowIsWellFormed() {
        Set<String> names = new HashSet<>();
        for (Setting s : Settings.ALL) {
            assertTrue(names.add(s.name()), "one row per name: " + s.name());
            assertTrue(s.name().matches("--[a-z]+(-[a-z]+)*"), "a long option in kebab case: " + s.name());
            assertTrue(s.description().endsWith("."), "a sentence: " + s.description());
            assertFalse(s.description().contains("\n"), "one line: " + s.name());
            assertEquals(0, s.description().chars().filter(c -> c == '`').count() % 2,
                    "backticks come in pairs: " + s.description());
            if (s.flag()) {
                assertNull(s.defaultText(), s.name());
                assertFalse(s.required() || s.repeatable(), s.name());
            } else {
                assertTrue(s.label().matches("[A-Z][A-Z:=]*"), "a placeholder: " + s.label());
            }
            if (s.required() || s.repeatable()) {
                assertNull(s.defaultText(), "no default shown for " + s.name());
            } else if (!s.flag()) {
                assertNotNull(s.defaultText(), "a default shown for " + s.name());
            }
        }
    }

    @Test
    void coversEveryCommandLineSetting() {
        for (String name : List.of("--listen", "--workers", "--worker", "--worker-classpath", "--concurrency",
                "--graceful-timeout", "--boot-timeout", "--queue-size", "--backlog", "--worker-jvm-option",
                "--worker-setting", "--max-requests", "--max-requests-jitter", "--timeout", "--heartbeat-timeout",
                "--admin", "--admin-allow-remote", "--no-jmx")) {
            setting(name);
        }
    }

    /** Defaults live in the builder; the table shows them. This keeps the two from drifting apart. */
    @Test
    void theDefaultsShownAreTheBuildersDefaults() {
        SupervisorConfig defaults = valid().build();
        for (Setting s : Settings.ALL) {
            String shown = s.defaultText();
            if (shown == null || !shown.matches("[0-9]+")) {
                continue;
            }
            SupervisorConfig.Builder b = valid();
            s.apply(b, List.of(shown));
            assertEquals(s.valueIn(b.build()), s.valueIn(defaults), s.name() + " shows default " + shown);
        }
        assertEquals(Math.max(1, Runtime.getRuntime().availableProcessors()),
                setting("--workers").valueIn(defaults), "--workers: number of CPUs");
        assertEquals("none", setting("--admin").defaultText());
        assertNull(setting("--admin").valueIn(defaults), "no admin endpoint by default");
        assertEquals(Boolean.TRUE, setting("--no-jmx").valueIn(defaults), "JMX on by default");
        assertEquals(Boolean.FALSE, setting("--admin-allow-remote").valueIn(defaults));
        assertEquals(List.of(), setting("--worker-jvm-option").valueIn(defaults));
        assertEquals(Map.of(), setting("--worker-setting").valueIn(defaults));
    }

    @Test
    void aFlagChangesItsSettingFromTheDefault() {
        for (Setting s : Settings.ALL) {
            if (s.flag()) {
                // --drop-privileges is only valid with --user.
                boolean user = s.name().equals("--drop-privileges");
                SupervisorConfig.Builder b = user ? valid().user("root") : valid();
                s.apply(b, List.of());
                assertNotEquals(s.valueIn((user ? valid().user("root") : valid()).build()), s.valueIn(b.build()),
                        s.name());
            }
        }
        assertFalse(given("--no-jmx").build().jmx());
        assertTrue(given("--admin-allow-remote").build().adminAllowRemote());
    }

    @Test
    void everyValueSettingRoundTrips() {
        assertEquals(3, given("--workers", "3").build().workers());
        assertEquals(4, given("--concurrency", "+4").build().concurrency());
        assertEquals(Duration.ofSeconds(7), given("--graceful-timeout", "7").build().gracefulTimeout());
        assertEquals(Duration.ofSeconds(11), given("--boot-timeout", "11").build().bootTimeout());
        assertEquals(13, given("--queue-size", "13").build().queueSize());
        assertEquals(17, given("--backlog", "17").build().backlog());
        assertEquals(1000, given("--max-requests", "1000").build().maxRequests());
        assertEquals(50, given("--max-requests-jitter", "50").build().maxRequestsJitter());
        assertEquals(Duration.ofSeconds(120), given("--timeout", "120").build().timeout());
        assertEquals(Duration.ofSeconds(5), given("--heartbeat-timeout", "5").build().heartbeatTimeout());
        assertEquals(new InetSocketAddress("127.0.0.1", 9000), given("--admin", "127.0.0.1:9000").build().admin());
        assertEquals(List.of(jar, dir), given("--worker-classpath", jar + ":" + dir).build().workerClasspath());
        assertEquals("com.example.Other", given("--worker", "com.example.Other").build().workerClass());
        assertEquals(List.of("-Xmx64m", "-Dx=y"), given("--worker-jvm-option", "-Xmx64m", "-Dx=y").build()
                .workerJvmOptions());
    }

    // ---- Parse errors: the setting, the value, what to do ----

    @Test
    void aNumberThatIsNotANumberNamesTheSettingAndValue() {
        for (Setting s : Settings.ALL) {
            if (s.flag() || s.defaultText() == null || !s.defaultText().matches("[0-9]+|number of CPUs")) {
                continue;
            }
            ConfigException e = assertThrows(ConfigException.class, () -> s.apply(valid(), List.of("abc")), s.name());
            assertEquals(s.name(), e.setting());
            assertTrue(e.getMessage().startsWith(s.name() + " abc: not a whole number"), e.getMessage());
            assertTrue(e.getMessage().contains("e.g. " + s.name() + " "), "says what to write: " + e.getMessage());
        }
    }

    @Test
    void parseErrorsForEachShape() {
        ConfigException e = assertThrows(ConfigException.class, () -> given("--workers", "abc"));
        assertEquals("--workers abc: not a whole number; write N in digits, e.g. --workers 4", e.getMessage());
        e = assertThrows(ConfigException.class, () -> given("--timeout", "1.5"));
        assertEquals("--timeout 1.5: not a whole number of seconds; write SECONDS in digits, e.g. --timeout 30",
                e.getMessage());
        e = assertThrows(ConfigException.class, () -> given("--workers", ""));
        assertTrue(e.getMessage().startsWith("--workers '': not a whole number"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> given("--queue-size", "99999999999"));
        assertTrue(e.getMessage().contains("--queue-size 99999999999: out of range"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> given("--worker-setting", "a=1", "greeting"));
        assertEquals("--worker-setting greeting: expected KEY=VALUE, e.g. --worker-setting greeting=hi",
                e.getMessage());
        e = assertThrows(ConfigException.class, () -> given("--worker-setting", "=x"));
        assertEquals("--worker-setting", e.setting());
        e = assertThrows(ConfigException.class, () -> given("--worker-classpath", jar + "::" + dir));
        assertTrue(e.getMessage().contains("empty entry"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> given("--admin", "localhost"));
        assertEquals("--admin", e.setting());
        e = assertThrows(ConfigException.class, () -> given("--listen", "127.0.0.1"));
        assertEquals("--listen", e.setting());
    }

    @Test
    void workerSettingsKeepOrderAndTheLastValueOfAKey() {
        Map<String, String> m = given("--worker-setting", "a=1", "b=x=y", "a=2", "empty=").build().workerSettings();
        assertEquals(Map.of("a", "2", "b", "x=y", "empty", ""), m);
    }

    /** Ranges are the builder's: the table passes a parsed negative number through, and build() names it. */
    @Test
    void rangesAreCheckedByTheBuilder() {
        ConfigException e = assertThrows(ConfigException.class, () -> given("--max-requests", "-1").build());
        assertTrue(e.getMessage().startsWith("--max-requests -1: "), e.getMessage());
        e = assertThrows(ConfigException.class, () -> given("--heartbeat-timeout", "1").build());
        assertTrue(e.getMessage().startsWith("--heartbeat-timeout 1: must be at least 2 seconds"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> given("--workers", "-2").build());
        assertTrue(e.getMessage().startsWith("--workers -2: must be 1 to"), e.getMessage());
    }

    @Test
    void aRemoteAdminAddressNeedsTheFlag() {
        ConfigException e = assertThrows(ConfigException.class, () -> given("--admin", "10.1.2.3:9000").build());
        assertEquals("--admin", e.setting());
        assertTrue(e.getMessage().contains("10.1.2.3:9000"), e.getMessage());
        assertTrue(e.getMessage().contains("--admin-allow-remote"), "says how to allow it: " + e.getMessage());

        SupervisorConfig.Builder b = given("--admin", "10.1.2.3:9000");
        setting("--admin-allow-remote").apply(b, List.of());
        assertEquals(new InetSocketAddress("10.1.2.3", 9000), b.build().admin());
    }

    @Test
    void aValueSettingTakesExactlyOneValue() {
        assertThrows(IllegalArgumentException.class, () -> setting("--workers").apply(valid(), List.of("1", "2")));
        assertThrows(IllegalArgumentException.class, () -> setting("--no-jmx").apply(valid(), List.of("false")));
    }
}
