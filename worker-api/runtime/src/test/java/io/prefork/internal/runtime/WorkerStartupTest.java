package io.prefork.internal.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.proxy.AllowList;
import io.prefork.internal.proxy.ProxyMode;
import io.prefork.internal.proxy.ProxyProtocol;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The startup contract between supervisor and worker: what one encodes, the other decodes, and bad input is named. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class WorkerStartupTest {
    private static WorkerStartup sample(Map<String, String> settings) {
        return new WorkerStartup(Path.of("/tmp/prefork-1/boot.sock"), "t0k3n", "com.example.MyWorker", 3, 4, settings);
    }

    @Test
    void roundTripsThroughTheEnvironment() throws Exception {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("greeting", "hello, world");
        // Properties syntax must carry what a shell or a naive KEY=VALUE format would break.
        settings.put("a=b:c", "line1\nline2 \\ #not a comment");
        settings.put("empty", "");
        settings.put("unicode", "h\u00e9llo \u2603");
        WorkerStartup startup = sample(settings);
        Map<String, String> env = startup.toEnvironment();
        assertEquals("/tmp/prefork-1/boot.sock", env.get("PREFORK_BOOT_SOCKET"));
        assertEquals("t0k3n", env.get("PREFORK_BOOT_TOKEN"));
        assertEquals("com.example.MyWorker", env.get("PREFORK_WORKER_CLASS"));
        assertEquals("3", env.get("PREFORK_WORKER_INDEX"));
        assertEquals("4", env.get("PREFORK_CONCURRENCY"));
        assertEquals(List.of("PREFORK_BOOT_SOCKET", "PREFORK_BOOT_TOKEN", "PREFORK_WORKER_CLASS", "PREFORK_WORKER_INDEX",
                "PREFORK_CONCURRENCY", "PREFORK_SETTINGS", "PREFORK_PROXY_PROTOCOL", "PREFORK_PROXY_ALLOW_FROM"),
                List.copyOf(env.keySet()), "no give-back timeout: the supervisor revokes what waits");
        assertEquals(startup, WorkerStartup.fromEnvironment(env));
        assertEquals(settings, WorkerStartup.fromEnvironment(env).settings());
    }

    @Test
    void optionalVariablesHaveTheirDefaults() throws Exception {
        Map<String, String> env = Map.of("PREFORK_BOOT_SOCKET", "/s", "PREFORK_BOOT_TOKEN", "t",
                "PREFORK_WORKER_CLASS", "W");
        WorkerStartup s = WorkerStartup.fromEnvironment(env);
        assertEquals(0, s.index());
        assertEquals(1, s.concurrency());
        assertEquals(Map.of(), s.settings());
        assertEquals(ProxyProtocol.OFF, s.proxy());
    }

    @Test
    void proxyProtocolRoundTrips() throws Exception {
        WorkerStartup s = new WorkerStartup(Path.of("/s"), "t", "W", 0, 1, Map.of(),
                new ProxyProtocol(ProxyMode.V2, AllowList.parse("10.0.0.0/8,::1")));
        Map<String, String> env = s.toEnvironment();
        assertEquals("v2", env.get("PREFORK_PROXY_PROTOCOL"));
        assertEquals("10.0.0.0/8,::1", env.get("PREFORK_PROXY_ALLOW_FROM"));
        assertEquals(s, WorkerStartup.fromEnvironment(env));
    }

    @Test
    void badProxySettingsAreNamed() {
        Map<String, String> env = new HashMap<>(Map.of("PREFORK_BOOT_SOCKET", "/s", "PREFORK_BOOT_TOKEN", "t",
                "PREFORK_WORKER_CLASS", "W", "PREFORK_PROXY_PROTOCOL", "v3"));
        WorkerStartup.InvalidException e = assertThrows(WorkerStartup.InvalidException.class,
                () -> WorkerStartup.fromEnvironment(env));
        assertTrue(e.getMessage().contains("PREFORK_PROXY_PROTOCOL") && e.getMessage().contains("'v3'"),
                e.getMessage());
        env.put("PREFORK_PROXY_PROTOCOL", "v1");
        env.put("PREFORK_PROXY_ALLOW_FROM", "lb.example.com");
        e = assertThrows(WorkerStartup.InvalidException.class, () -> WorkerStartup.fromEnvironment(env));
        assertTrue(e.getMessage().contains("lb.example.com"), e.getMessage());
    }

    @Test
    void settingsAreUnmodifiable() {
        Map<String, String> settings = new HashMap<>(Map.of("k", "v"));
        WorkerStartup s = sample(settings);
        settings.put("later", "x");
        assertEquals(Map.of("k", "v"), s.settings(), "a copy, not a view of the caller's map");
        assertThrows(UnsupportedOperationException.class, () -> s.settings().put("k", "w"));
    }

    @Test
    void aJvmNotStartedByTheSupervisorIsToldSo() {
        WorkerStartup.InvalidException e = assertThrows(WorkerStartup.InvalidException.class,
                () -> WorkerStartup.fromEnvironment(Map.of("PREFORK_BOOT_SOCKET", "/s")));
        assertTrue(e.getMessage().contains("PREFORK_BOOT_TOKEN"), e.getMessage());
        assertTrue(e.getMessage().contains("started by the prefork supervisor"), e.getMessage());
    }

    @Test
    void malformedNumbersAreNamedWithTheirValueAndRange() {
        for (String[] bad : new String[][] {
            {"PREFORK_CONCURRENCY", "0"}, {"PREFORK_CONCURRENCY", "two"}, {"PREFORK_WORKER_INDEX", "-1"},
            {"PREFORK_CONCURRENCY", "1.5"}, {"PREFORK_WORKER_INDEX", "4294967296"}}) {
            Map<String, String> env = new HashMap<>(sample(Map.of()).toEnvironment());
            env.put(bad[0], bad[1]);
            WorkerStartup.InvalidException e = assertThrows(WorkerStartup.InvalidException.class,
                    () -> WorkerStartup.fromEnvironment(env), bad[0] + "=" + bad[1]);
            assertTrue(e.getMessage().startsWith(bad[0] + "='" + bad[1] + "'"), e.getMessage());
            assertTrue(e.getMessage().contains("whole number from"), e.getMessage());
        }
    }

    @Test
    void malformedSettingsAreNamed() {
        Map<String, String> env = new HashMap<>(sample(Map.of()).toEnvironment());
        env.put("PREFORK_SETTINGS", "k=\\uZZZZ"); // an invalid \\u escape: Properties.load throws
        WorkerStartup.InvalidException e = assertThrows(WorkerStartup.InvalidException.class,
                () -> WorkerStartup.fromEnvironment(env));
        assertTrue(e.getMessage().startsWith("PREFORK_SETTINGS is not in java.util.Properties syntax"), e.getMessage());
    }

    @Test
    void theConstructorRefusesWhatNoSupervisorSends() {
        assertThrows(IllegalArgumentException.class, () -> new WorkerStartup(Path.of("/s"), "t", "W", 0, 0, Map.of()));
        assertThrows(IllegalArgumentException.class, () -> new WorkerStartup(Path.of("/s"), "t", "W", -1, 1, Map.of()));
    }
}
