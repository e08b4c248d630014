package io.prefork.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Timeout(30)
class SupervisorConfigTest {

    @TempDir
    Path dir;

    private Path jar;

    @BeforeEach
    void createClasspathEntry() throws IOException {
        jar = Files.createFile(dir.resolve("worker.jar"));
    }

    // ---- parseListen ----

    @Test
    void parsesIpv4Loopback() {
        InetSocketAddress a = SupervisorConfig.parseListen("127.0.0.1:0");
        assertEquals(InetAddress.getLoopbackAddress().getHostAddress(), a.getAddress().getHostAddress());
        assertEquals(0, a.getPort());
    }

    @Test
    void parsesWildcard() {
        InetSocketAddress a = SupervisorConfig.parseListen("0.0.0.0:8080");
        assertTrue(a.getAddress().isAnyLocalAddress(), a.toString());
        assertEquals(8080, a.getPort());
    }

    @Test
    void parsesBracketedIpv6() {
        InetSocketAddress a = SupervisorConfig.parseListen("[::1]:8080");
        assertTrue(a.getAddress().isLoopbackAddress(), a.toString());
        assertEquals(16, a.getAddress().getAddress().length, "an IPv6 address: " + a);
        assertEquals(8080, a.getPort());
    }

    @Test
    void parsesAHostName() {
        InetSocketAddress a = SupervisorConfig.parseListen("localhost:80");
        assertTrue(a.getAddress().isLoopbackAddress(), a.toString());
        assertEquals(80, a.getPort());
        assertFalse(a.isUnresolved(), "resolved once, when parsed: " + a);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "127.0.0.1", ":80", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:70000", "127.0.0.1:-1",
            "::1:80", "no.such.host.invalid:80"})
    void rejectsMalformedListen(String text) {
        ConfigException e = assertThrows(ConfigException.class, () -> SupervisorConfig.parseListen(text));
        assertEquals("--listen", e.setting());
        assertTrue(e.getMessage().contains("--listen"), e.getMessage());
        assertTrue(e.getMessage().contains(text), "names the value '" + text + "': " + e.getMessage());
    }

    @Test
    void rejectsUnbracketedIpv6WithAHint() {
        ConfigException e = assertThrows(ConfigException.class, () -> SupervisorConfig.parseListen("::1:80"));
        assertTrue(e.getMessage().contains("[::1]:8080"), "shows the bracketed form: " + e.getMessage());
    }

    @Test
    void rejectsANullListen() {
        ConfigException e = assertThrows(ConfigException.class, () -> SupervisorConfig.parseListen(null));
        assertEquals("--listen", e.setting());
    }

    @Test
    void rejectsEmptyBrackets() {
        ConfigException e = assertThrows(ConfigException.class, () -> SupervisorConfig.parseListen("[]:80"));
        assertEquals("--listen", e.setting());
    }

    // ---- Builder.build() ----

    /** Everything valid; each rejection test changes one setting. */
    private SupervisorConfig.Builder valid() {
        return SupervisorConfig.builder()
                .listen("127.0.0.1:0")
                .workers(2)
                .workerClass("com.example.MyWorker")
                .workerClasspath(List.of(jar));
    }

    private static ConfigException rejects(SupervisorConfig.Builder builder, String setting, String value) {
        ConfigException e = assertThrows(ConfigException.class, builder::build);
        assertEquals(setting, e.setting(), e.getMessage());
        assertTrue(e.getMessage().startsWith(setting + " "), "starts with the setting: " + e.getMessage());
        assertTrue(e.getMessage().contains(value), "names the value '" + value + "': " + e.getMessage());
        return e;
    }

    @Test
    void theBaselineIsValid() {
        valid().build();
    }

    @Test
    void proxyProtocolIsOffByDefaultAndChecked() {
        SupervisorConfig c = valid().build();
        assertEquals("off", c.proxyProtocol());
        assertEquals("127.0.0.0/8,::1/128", c.proxyAllowFrom());
        assertEquals("v2", valid().proxyProtocol("v2").proxyAllowFrom("10.0.0.0/8").build().proxyProtocol());
        assertTrue(rejects(valid().proxyProtocol("v3"), "--proxy-protocol", "v3").getMessage()
                .contains("send-proxy-v2"));
        assertTrue(rejects(valid().proxyAllowFrom("10.0.0.0/8,lb.example.com"), "--proxy-allow-from",
                "lb.example.com").getMessage().contains("host names are not accepted"));
        rejects(valid().proxyAllowFrom("10.0.0.0/40"), "--proxy-allow-from", "10.0.0.0/40");
    }

    @Test
    void rejectsAMissingListen() {
        SupervisorConfig.Builder b = SupervisorConfig.builder().workers(1).workerClass("com.example.MyWorker")
                .workerClasspath(List.of(jar));
        rejects(b, "--listen", "missing");
    }

    @Test
    void socketsPassedBySystemdStandInForListen() {
        SupervisorConfig c = SupervisorConfig.builder().workers(1).workerClass("com.example.MyWorker")
                .workerClasspath(List.of(jar)).inheritedListeners(java.util.Map.of(3, "web")).build();
        assertEquals(List.of(), c.listen());
        assertEquals(java.util.Map.of(3, "web"), c.inheritedListeners());
        assertEquals(java.util.Map.of(), valid().build().inheritedListeners());
    }

    @Test
    void workersRunAsAUserAndGroupByNameOrNumber() {
        // root and uid/gid 0 exist everywhere.
        SupervisorConfig c = valid().user("root").build();
        assertEquals("root", c.user());
        assertEquals(0, c.workerUid());
        assertEquals(0, c.workerGid());
        c = valid().user("0").group("0").build();
        assertEquals(0, c.workerUid());
        assertEquals(0, c.workerGid());
        c = valid().build();
        assertEquals(-1, c.workerUid(), "no --user: the supervisor's own");
        assertEquals(-1, c.workerGid());
    }

    @Test
    void rejectsAnUnknownUserOrGroupAndAGroupWithoutAUser() {
        ConfigException e = rejects(valid().user("no-such-user-prefork"), "--user", "no-such-user-prefork");
        assertTrue(e.getMessage().contains("no such user"), e.getMessage());
        e = rejects(valid().user("root").group("no-such-group-prefork"), "--group", "no-such-group-prefork");
        assertTrue(e.getMessage().contains("no such group"), e.getMessage());
        e = rejects(valid().group("root"), "--group", "root");
        assertTrue(e.getMessage().contains("needs --user"), e.getMessage());
    }

    @Test
    void dropPrivilegesNeedsAUser() {
        ConfigException e = rejects(valid().dropPrivileges(true), "--drop-privileges", "(without --user)");
        assertTrue(e.getMessage().contains("needs --user: the user (and --group) the supervisor switches to"),
                e.getMessage());
        assertTrue(valid().user("root").dropPrivileges(true).build().dropPrivileges());
        assertFalse(valid().user("root").build().dropPrivileges(), "off by default");
    }

    @Test
    void listensOnEveryAddressGivenInOrder() {
        SupervisorConfig c = valid().listen("127.0.0.1:8080", "[::1]:8080", "127.0.0.1:0", "127.0.0.1:0").build();
        assertEquals(List.of("127.0.0.1:8080", "[::1]:8080", "127.0.0.1:0", "127.0.0.1:0"),
                c.listen().stream().map(io.prefork.supervisor.internal.nativeio.TcpListener::format).toList(),
                "port 0 twice is two free ports, not a duplicate");
    }

    @Test
    void rejectsTheSameListenAddressTwice() {
        ConfigException e = rejects(valid().listen("127.0.0.1:8080", "[::1]:8080", "127.0.0.1:8080"), "--listen",
                "127.0.0.1:8080");
        assertEquals("--listen 127.0.0.1:8080: is given twice; give each address once", e.getMessage());
    }

    @Test
    void rejectsMoreListenAddressesThanTheLimit() {
        List<String> many = new ArrayList<>();
        for (int i = 0; i <= SupervisorConfig.MAX_LISTEN; i++) {
            many.add("127.0.0.1:" + (20000 + i));
        }
        ConfigException e = rejects(valid().listen(many), "--listen", (SupervisorConfig.MAX_LISTEN + 1) + " addresses");
        assertTrue(e.getMessage().contains("at most " + SupervisorConfig.MAX_LISTEN), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -1, 1025})
    void rejectsWorkersOutOfRange(int workers) {
        ConfigException e = rejects(valid().workers(workers), "--workers", Integer.toString(workers));
        assertTrue(e.getMessage().contains("1024"), "names the limit: " + e.getMessage());
    }

    @Test
    void acceptsTheWorkerLimits() {
        assertEquals(1, valid().workers(1).build().workers());
        assertEquals(SupervisorConfig.MAX_WORKERS, valid().workers(SupervisorConfig.MAX_WORKERS).build().workers());
    }

    @Test
    void rejectsZeroConcurrency() {
        rejects(valid().concurrency(0), "--concurrency", "0");
    }

    @Test
    void rejectsConcurrencyAboveTheLimit() {
        int tooMany = SupervisorConfig.MAX_CONCURRENCY + 1;
        rejects(valid().concurrency(tooMany), "--concurrency", Integer.toString(tooMany));
    }

    @Test
    void rejectsPrefetchOutsideItsRange() {
        rejects(valid().prefetch(-1), "--prefetch", "-1");
        int tooMany = SupervisorConfig.MAX_PREFETCH + 1;
        rejects(valid().prefetch(tooMany), "--prefetch", Integer.toString(tooMany));
        assertEquals(SupervisorConfig.MAX_PREFETCH, valid().prefetch(SupervisorConfig.MAX_PREFETCH).build().prefetch());
    }

    @Test
    void rejectsAPrefetchTimeoutOutsideItsRange() {
        rejects(valid().prefetchTimeout(Duration.ZERO), "--prefetch-timeout", "0");
        rejects(valid().prefetchTimeout(Duration.ofSeconds(61)), "--prefetch-timeout", "61000");
        assertEquals(Duration.ofMillis(1), valid().prefetchTimeout(Duration.ofMillis(1)).build().prefetchTimeout());
        assertTrue(valid().prefetchTimeout(Duration.ofMillis(100)).build().prefetchTimeoutGiven(),
                "set, even to the default: the supervisor warns that it is ignored");
    }

    @Test
    void rejectsAMissingWorkerClass() {
        rejects(valid().workerClass(null), "--worker", "missing");
        rejects(valid().workerClass("  "), "--worker", "missing");
    }

    @ParameterizedTest
    @ValueSource(strings = {"com..Foo", ".Foo", "Foo.", "1com.Foo", "com.Foo Bar", "com/example/Foo"})
    void rejectsAMalformedWorkerClassName(String name) {
        ConfigException e = rejects(valid().workerClass(name), "--worker", name);
        assertTrue(e.getMessage().contains("class name"), e.getMessage());
    }

    @Test
    void acceptsANestedClassBinaryName() {
        assertEquals("com.example.Outer$Inner", valid().workerClass("com.example.Outer$Inner").build().workerClass());
    }

    @Test
    void rejectsAnEmptyClasspath() {
        rejects(valid().workerClasspath(List.of()), "--worker-classpath", "missing");
    }

    @Test
    void rejectsANonExistentClasspathEntry() {
        Path missing = dir.resolve("missing.jar");
        ConfigException e = rejects(valid().workerClasspath(List.of(jar, missing)), "--worker-classpath",
                missing.toString());
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void acceptsADirectoryOnTheClasspath() {
        assertEquals(List.of(jar, dir), valid().workerClasspath(List.of(jar, dir)).build().workerClasspath());
    }

    @Test
    void rejectsANegativeGracefulTimeout() {
        rejects(valid().gracefulTimeout(Duration.ofSeconds(-1)), "--graceful-timeout", "-1");
    }

    @Test
    void acceptsAZeroGracefulTimeout() {
        assertEquals(Duration.ZERO, valid().gracefulTimeout(Duration.ZERO).build().gracefulTimeout());
    }

    @Test
    void rejectsAZeroBootTimeout() {
        rejects(valid().bootTimeout(Duration.ZERO), "--boot-timeout", "0");
    }

    @Test
    void rejectsANegativeBootTimeout() {
        rejects(valid().bootTimeout(Duration.ofSeconds(-5)), "--boot-timeout", "-5");
    }

    @Test
    void rejectsANegativeQueueSize() {
        rejects(valid().queueSize(-1), "--queue-size", "-1");
    }

    @Test
    void acceptsAZeroQueueSize() {
        assertEquals(0, valid().queueSize(0).build().queueSize());
    }

    @Test
    void rejectsAZeroBacklog() {
        rejects(valid().backlog(0), "--backlog", "0");
    }

    @ParameterizedTest
    @ValueSource(strings = {"Xmx256m", "", " ", "Dfoo=bar"})
    void rejectsAJvmOptionNotStartingWithADash(String option) {
        ConfigException e = rejects(valid().workerJvmOptions(List.of("-Xmx64m", option)), "--worker-jvm-option",
                "'" + option + "'");
        assertTrue(e.getMessage().contains("'-'"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"-cp", "-classpath", "--class-path", "-jar"})
    void rejectsAJvmOptionThatSetsTheClasspath(String option) {
        ConfigException e = rejects(valid().workerJvmOptions(List.of(option)), "--worker-jvm-option", option);
        assertTrue(e.getMessage().contains("--worker-classpath"), "says where the classpath goes: " + e.getMessage());
    }

    @Test
    void rejectsANegativeMaxRequests() {
        ConfigException e = rejects(valid().maxRequests(-1), "--max-requests", "-1");
        assertTrue(e.getMessage().contains("0 (never recycle)"), e.getMessage());
    }

    @Test
    void acceptsZeroMaxRequestsAsNever() {
        assertEquals(0, valid().maxRequests(0).build().maxRequests());
    }

    @Test
    void spareWorkersDefaultToNoneAndMustBeInRange() {
        assertEquals(0, valid().build().spareWorkers());
        assertEquals(2, valid().spareWorkers(2).build().spareWorkers());
        rejects(valid().spareWorkers(-1), "--spare-workers", "-1");
        rejects(valid().spareWorkers(SupervisorConfig.MAX_WORKERS + 1), "--spare-workers",
                String.valueOf(SupervisorConfig.MAX_WORKERS + 1));
    }

    @Test
    void rejectsANegativeMaxRequestsJitter() {
        rejects(valid().maxRequestsJitter(-1), "--max-requests-jitter", "-1");
    }

    @Test
    void rejectsANegativeTimeout() {
        rejects(valid().timeout(Duration.ofSeconds(-1)), "--timeout", "-1");
    }

    @Test
    void rejectsAMissingTimeout() {
        rejects(valid().timeout(null), "--timeout", "(missing)");
    }

    @Test
    void rejectsAOneSecondHeartbeatTimeout() {
        ConfigException e = rejects(valid().heartbeatTimeout(Duration.ofSeconds(1)), "--heartbeat-timeout", "1");
        assertTrue(e.getMessage().contains("at least 2 seconds"), e.getMessage());
    }

    @Test
    void acceptsATwoSecondHeartbeatTimeout() {
        assertEquals(Duration.ofSeconds(2), valid().heartbeatTimeout(Duration.ofSeconds(2)).build().heartbeatTimeout());
    }

    @Test
    void rejectsARemoteAdminAddressWithoutAllowRemote() {
        ConfigException e = rejects(valid().admin("10.1.2.3:9000"), "--admin", "10.1.2.3:9000");
        assertTrue(e.getMessage().contains("--admin-allow-remote"), "says how to allow it: " + e.getMessage());
        rejects(valid().admin("0.0.0.0:9000"), "--admin", "0.0.0.0:9000");
    }

    @Test
    void acceptsARemoteAdminAddressWithAllowRemote() {
        SupervisorConfig c = valid().admin("10.1.2.3:9000").adminAllowRemote(true).build();
        assertEquals(new InetSocketAddress("10.1.2.3", 9000), c.admin());
        assertTrue(c.adminAllowRemote());
    }

    @Test
    void acceptsALoopbackAdminAddress() {
        assertEquals(9000, valid().admin("127.0.0.1:9000").build().admin().getPort());
        assertTrue(valid().admin("[::1]:9000").build().admin().getAddress().isLoopbackAddress());
    }

    @Test
    void aMalformedAdminAddressNamesAdmin() {
        ConfigException e = assertThrows(ConfigException.class, () -> valid().admin("127.0.0.1"));
        assertEquals("--admin", e.setting());
    }

    @Test
    void roundTripsEveryValue() {
        InetSocketAddress listen = new InetSocketAddress(InetAddress.getLoopbackAddress(), 8080);
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("greeting", "hi");
        settings.put("delayMs", "5");
        SupervisorConfig c = SupervisorConfig.builder()
                .listen(listen)
                .workers(3)
                .workerClass("com.example.MyWorker")
                .workerClasspath(List.of(jar, dir))
                .concurrency(4)
                .gracefulTimeout(Duration.ofSeconds(7))
                .bootTimeout(Duration.ofSeconds(11))
                .workerJvmOptions(List.of("-Xmx64m", "-Dgreeting=hello world"))
                .workerSettings(settings)
                .queueSize(13)
                .backlog(17)
                .maxRequests(1000)
                .maxRequestsJitter(50)
                .timeout(Duration.ofSeconds(120))
                .heartbeatTimeout(Duration.ofSeconds(5))
                .admin("127.0.0.1:9000")
                .adminAllowRemote(true)
                .jmx(false)
                .build();

        assertEquals(List.of(listen), c.listen());
        assertEquals(3, c.workers());
        assertEquals("com.example.MyWorker", c.workerClass());
        assertEquals(List.of(jar, dir), c.workerClasspath());
        assertEquals(4, c.concurrency());
        assertEquals(Duration.ofSeconds(7), c.gracefulTimeout());
        assertEquals(Duration.ofSeconds(11), c.bootTimeout());
        assertEquals(List.of("-Xmx64m", "-Dgreeting=hello world"), c.workerJvmOptions());
        assertEquals(Map.of("greeting", "hi", "delayMs", "5"), c.workerSettings());
        assertEquals(13, c.queueSize());
        assertEquals(17, c.backlog());
        assertEquals(1000, c.maxRequests());
        assertEquals(50, c.maxRequestsJitter());
        assertEquals(Duration.ofSeconds(120), c.timeout());
        assertEquals(Duration.ofSeconds(5), c.heartbeatTimeout());
        assertEquals(new InetSocketAddress("127.0.0.1", 9000), c.admin());
        assertTrue(c.adminAllowRemote());
        assertFalse(c.jmx());
    }

    @Test
    void hasTheDocumentedDefaults() {
        SupervisorConfig c = valid().build();
        assertEquals(1, c.concurrency());
        assertEquals(2, c.prefetch(), "two connections may be sent ahead to a busy worker");
        assertEquals(Duration.ofMillis(100), c.prefetchTimeout());
        assertFalse(c.prefetchTimeoutGiven(), "no deprecation warning unless --prefetch-timeout is set");
        assertEquals(Duration.ofSeconds(30), c.gracefulTimeout());
        assertEquals(Duration.ofSeconds(60), c.bootTimeout());
        assertEquals(1024, c.queueSize());
        assertEquals(1024, c.backlog());
        assertEquals(List.of(), c.workerJvmOptions());
        assertEquals(Map.of(), c.workerSettings());
        assertEquals(0, c.maxRequests(), "never recycle");
        assertEquals(0, c.maxRequestsJitter());
        assertEquals(Duration.ZERO, c.timeout(), "no limit");
        assertEquals(Duration.ofSeconds(30), c.heartbeatTimeout());
        assertEquals(null, c.admin(), "no admin endpoint");
        assertFalse(c.adminAllowRemote());
        assertTrue(c.jmx());
        assertEquals(Math.max(1, Runtime.getRuntime().availableProcessors()),
                SupervisorConfig.builder().listen("127.0.0.1:0").workerClass("com.example.MyWorker")
                        .workerClasspath(List.of(jar)).build().workers());
    }

    @Test
    void isSealed() {
        List<Path> classpath = new ArrayList<>(List.of(jar));
        List<String> options = new ArrayList<>(List.of("-Xmx64m"));
        Map<String, String> settings = new LinkedHashMap<>(Map.of("k", "v"));
        SupervisorConfig.Builder b = valid().workerClasspath(classpath).workerJvmOptions(options)
                .workerSettings(settings);
        SupervisorConfig c = b.build();

        assertThrows(UnsupportedOperationException.class, () -> c.workerClasspath().add(dir));
        assertThrows(UnsupportedOperationException.class, () -> c.workerJvmOptions().add("-Xss1m"));
        assertThrows(UnsupportedOperationException.class, () -> c.workerSettings().put("k2", "v2"));
        assertThrows(UnsupportedOperationException.class, () -> c.workerSettings().clear());

        // Neither the caller's collections nor the builder reach into a built config.
        classpath.add(dir);
        options.add("-Xss1m");
        settings.put("k2", "v2");
        b.workers(5).workerJvmOptions(List.of("-Xms1m")).workerSettings(Map.of());
        assertEquals(List.of(jar), c.workerClasspath());
        assertEquals(List.of("-Xmx64m"), c.workerJvmOptions());
        assertEquals(Map.of("k", "v"), c.workerSettings());
        assertEquals(2, c.workers());
    }
}
