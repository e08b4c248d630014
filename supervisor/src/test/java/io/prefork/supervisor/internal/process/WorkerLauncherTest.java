package io.prefork.supervisor.internal.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.runtime.WorkerMain;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The worker command line, built without starting anything. */
@Timeout(30)
class WorkerLauncherTest {

    private static final Path JAVA = Path.of("/opt/jdk/bin/java");
    private static final List<String> RUNTIME_CP = List.of("/opt/prefork/prefork-supervisor.jar", "/opt/prefork/lib");
    // Relative on purpose: the worker JVM must not depend on the directory it happens to start in.
    private static final List<Path> WORKER_CP = List.of(Path.of("target/app.jar"), Path.of("lib/dep.jar"),
            Path.of("/abs/classes"));
    private static final List<String> USER_OPTIONS = List.of("-Xmx64m", "-Dgreeting=hello world", "-XX:+UseSerialGC");

    private static List<String> command(List<String> jvmOptions) {
        return new WorkerLauncher(JAVA, RUNTIME_CP, WORKER_CP, jvmOptions, "com.example.MyWorker", 2,
                Map.of("greeting", "hi")).command();
    }

    private static int cpIndex(List<String> cmd) {
        int i = cmd.indexOf("-cp");
        assertTrue(i > 0, "has -cp: " + cmd);
        assertEquals(i, cmd.lastIndexOf("-cp"), "one -cp: " + cmd);
        assertTrue(i + 1 < cmd.size(), "-cp has a value: " + cmd);
        return i;
    }

    @Test
    void startsWithTheGivenJava() {
        assertEquals(JAVA.toString(), command(USER_OPTIONS).get(0));
    }

    @Test
    void opensSunNioChAsOneFlagPair() {
        List<String> cmd = command(USER_OPTIONS);
        int i = cmd.indexOf("--add-opens");
        assertTrue(i > 0, "has --add-opens: " + cmd);
        assertEquals("java.base/sun.nio.ch=ALL-UNNAMED", cmd.get(i + 1), cmd.toString());
        assertTrue(i < cpIndex(cmd), "a JVM option, before the classpath and main class: " + cmd);
    }

    @Test
    void enablesNativeAccess() {
        List<String> cmd = command(USER_OPTIONS);
        int i = cmd.indexOf("--enable-native-access=ALL-UNNAMED");
        assertTrue(i > 0 && i < cpIndex(cmd), cmd.toString());
    }

    @Test
    void addsTheWorkerDefaultsBeforeTheUserOptionsSoThoseWin() {
        List<String> cmd = command(List.of("-Dx=y"));
        List<String> defaults = List.of("-XX:+UseSerialGC", "-Xms8m", "-Xmx256m", "-XX:+ExitOnOutOfMemoryError");
        int at = Collections.indexOfSubList(cmd, defaults);
        assertTrue(at > 0 && at < cmd.indexOf("-Dx=y"), cmd.toString());
    }

    @Test
    void leavesOutTheDefaultCollectorAndHeapWhenTheUserPicksThem() {
        List<String> cmd = command(List.of("-XX:+UseG1GC", "-Xmx1g"));
        assertEquals(List.of("-XX:+ExitOnOutOfMemoryError"), WorkerLauncher.defaultJvmOptions(
                List.of("-XX:+UseG1GC", "-Xmx1g")), "two collectors, or -Xms8m above a small -Xmx, would not start");
        assertFalse(cmd.contains("-XX:+UseSerialGC"), cmd.toString());
        assertFalse(cmd.contains("-Xms8m"), cmd.toString());
        assertEquals(List.of("-Xms8m", "-Xmx256m", "-XX:+ExitOnOutOfMemoryError"),
                WorkerLauncher.defaultJvmOptions(List.of("-XX:+UseParallelGC")));
    }

    @Test
    void trimsTheNativeHeapWhereTheJvmHasTheFlagUnlessTheUserSetsIt() {
        assertEquals(List.of("-XX:+UseSerialGC", "-Xms8m", "-Xmx256m", "-XX:+ExitOnOutOfMemoryError",
                "-XX:TrimNativeHeapInterval=5000"), WorkerLauncher.defaultJvmOptions(List.of(), true));
        assertFalse(WorkerLauncher.defaultJvmOptions(List.of(), false).toString().contains("TrimNativeHeap"));
        assertFalse(WorkerLauncher.defaultJvmOptions(List.of("-XX:TrimNativeHeapInterval=0"), true).toString()
                .contains("TrimNativeHeapInterval=5000"), "the user's value is the only one");
        // Another java than this JVM's (--worker-java): its flags are unknown, and an unknown -XX option would stop it.
        assertFalse(command(List.of()).toString().contains("TrimNativeHeap"), command(List.of()).toString());
        // This JVM's own java: the flag exactly where this JVM has it (JDK 17.0.9+, 21.0.1+, 22+).
        List<String> own = new WorkerLauncher(WorkerLauncher.currentJava(), RUNTIME_CP, WORKER_CP, List.of(),
                "com.example.MyWorker", 1, Map.of()).command();
        assertEquals(WorkerLauncher.hasVmFlag("TrimNativeHeapInterval"),
                own.contains("-XX:TrimNativeHeapInterval=5000"), own.toString());
        assertFalse(WorkerLauncher.hasVmFlag("NoSuchFlagAnywhere"));
    }

    @Test
    void passesUserJvmOptionsInOrderAndUnsplit() {
        List<String> cmd = command(USER_OPTIONS);
        int at = Collections.indexOfSubList(cmd, USER_OPTIONS);
        assertTrue(at > 0, "user options, contiguous and in order: " + cmd);
        assertTrue(at + USER_OPTIONS.size() <= cpIndex(cmd), "before the classpath and main class: " + cmd);
    }

    @Test
    void userJvmOptionsComeAfterTheRequiredFlags() {
        // So a user option can refine, but the runtime's required flags are always present.
        List<String> cmd = command(USER_OPTIONS);
        int at = Collections.indexOfSubList(cmd, USER_OPTIONS);
        assertTrue(cmd.indexOf("--add-opens") < at, cmd.toString());
        assertTrue(cmd.indexOf("--enable-native-access=ALL-UNNAMED") < at, cmd.toString());
    }

    @Test
    void noUserOptionsStillGivesACompleteCommand() {
        List<String> cmd = command(List.of());
        assertTrue(cmd.contains("--add-opens"), cmd.toString());
        assertEquals(WorkerMain.class.getName(), cmd.get(cmd.size() - 1));
    }

    @Test
    void classpathIsTheAbsoluteWorkerClasspathThenTheRuntime() {
        List<String> cmd = command(USER_OPTIONS);
        List<String> cp = List.of(cmd.get(cpIndex(cmd) + 1).split(File.pathSeparator));
        assertEquals(WORKER_CP.size() + RUNTIME_CP.size(), cp.size(), cp.toString());
        for (int i = 0; i < WORKER_CP.size(); i++) {
            assertTrue(Path.of(cp.get(i)).isAbsolute(), "absolute: " + cp.get(i));
            assertEquals(WORKER_CP.get(i).toAbsolutePath().toString(), cp.get(i));
        }
        assertEquals(RUNTIME_CP, cp.subList(WORKER_CP.size(), cp.size()));
    }

    @Test
    void endsWithTheWorkerMainClass() {
        List<String> cmd = command(USER_OPTIONS);
        assertEquals("io.prefork.internal.runtime.WorkerMain", cmd.get(cmd.size() - 1));
        assertEquals(WorkerMain.class.getName(), cmd.get(cmd.size() - 1));
        assertEquals(cpIndex(cmd) + 2, cmd.size() - 1, "nothing between the classpath and the main class: " + cmd);
    }

    @Test
    void ownClasspathIsAbsoluteAndNonEmpty() {
        List<String> own = WorkerLauncher.ownClasspath();
        assertFalse(own.isEmpty());
        for (String entry : own) {
            assertTrue(Path.of(entry).isAbsolute(), entry);
        }
    }

    @Test
    void theRuntimeJarBesideTheSupervisorJarIsTheWholeRuntimeClasspath(@TempDir Path dir) throws Exception {
        Path supervisor = Files.createFile(dir.resolve("prefork-supervisor.jar"));
        Path runtime = Files.createFile(dir.resolve(WorkerLauncher.RUNTIME_JAR));
        StringBuilder reason = new StringBuilder();
        assertEquals(List.of(runtime.toString()), WorkerLauncher.runtimeClasspath(List.of(supervisor.toString()), reason));
        assertEquals("", reason.toString(), "nothing to log");
    }

    @Test
    void withoutTheRuntimeJarWorkersGetTheSupervisorJarAndTheLogSaysWhy(@TempDir Path dir) throws Exception {
        Path supervisor = Files.createFile(dir.resolve("prefork-supervisor.jar"));
        StringBuilder reason = new StringBuilder();
        assertEquals(List.of(supervisor.toString()), WorkerLauncher.runtimeClasspath(List.of(supervisor.toString()),
                reason));
        assertTrue(reason.toString().contains(dir.resolve(WorkerLauncher.RUNTIME_JAR) + " is missing"), reason.toString());

        reason.setLength(0);
        List<String> classes = List.of(dir.resolve("classes").toString(), supervisor.toString());
        assertEquals(classes, WorkerLauncher.runtimeClasspath(classes, reason), "not one jar: this JVM's classpath");
        assertTrue(reason.toString().contains("not run from a single jar"), reason.toString());
    }

    @Test
    void currentJavaIsThisJvmsLauncher() {
        Path java = WorkerLauncher.currentJava();
        assertTrue(java.startsWith(Path.of(System.getProperty("java.home"))), java.toString());
        assertTrue(Files.isExecutable(java), java + " is executable");
    }

    @Test
    void aWorkerSeesNoneOfTheSupervisorsSystemdSocketActivationOrUpgradeVariables() {
        WorkerLauncher launcher = new WorkerLauncher(JAVA, RUNTIME_CP, WORKER_CP, USER_OPTIONS, "com.example.MyWorker",
                2, Map.of("greeting", "hi"));
        Map<String, String> env = new java.util.HashMap<>(Map.of("PATH", "/usr/bin", "HOME", "/root", "LANG", "C.UTF-8",
                "NOTIFY_SOCKET", "/run/systemd/notify", "WATCHDOG_USEC", "30000000", "WATCHDOG_PID", "4242",
                "LISTEN_PID", "4242", "LISTEN_FDS", "2", "LISTEN_FDNAMES", "http:admin"));
        env.put("PREFORK_UPGRADE_SOCKET", "/tmp/prefork-upgrade-1/upgrade.sock");
        env.put("PREFORK_UPGRADE_TOKEN", "00ff");
        launcher.environment(env, Path.of("/tmp/prefork-1/boot.sock"), "token-1", 3);
        for (String v : List.of("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS",
                "LISTEN_FDNAMES", "PREFORK_UPGRADE_SOCKET", "PREFORK_UPGRADE_TOKEN")) {
            assertFalse(env.containsKey(v), v + " must not reach a worker: " + env);
        }
        assertEquals("/usr/bin", env.get("PATH"), "the rest is inherited");
        assertEquals("/root", env.get("HOME"));
        assertEquals("C.UTF-8", env.get("LANG"));
        assertTrue(env.values().contains("/tmp/prefork-1/boot.sock") && env.values().contains("token-1"),
                "with the runtime's startup variables: " + env);
    }
}
