package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prefork.internal.nativeio.Native;
import io.prefork.testing.Poll;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a new user meets in the first hour, each with a real supervisor and real worker JVMs: errors that name the
 * real cause (a missing dependency, a class for a newer Java, a damaged jar), {@code --worker-java}, and a log that
 * stays quiet when clients misbehave and says why it stops.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FirstHourIT {
    static final Duration READY = Duration.ofSeconds(45);
    static final Duration IO = Duration.ofSeconds(15);
    static final Path JDK25 = Path.of("/usr/lib/jvm/temurin-25-jdk-amd64");
    static final Path JDK17 = Path.of("/usr/lib/jvm/java-17-openjdk-amd64");
    static final String HELLO = "io.prefork.examples.HelloHttpWorker";
    /** Not in Native: the supervisor never sends it. */
    static final int SIGINT = 2;

    @TempDir
    Path dir;

    // ---- errors that point at the real cause ----

    @Test
    void aClassMissingInsideStartIsNamedWithItsCauseChain() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1, "io.prefork.it.workers.NeedsDriverWorker")) {
            assertEquals(3, s.awaitExit(READY), "exit code; output: " + s.output());
            // The process has exited; its last lines may still be in the pipe to the pump.
            s.awaitOutput("prefork: worker 0 failed to boot: ", IO);
            List<String> out = s.output();
            String last = out.get(out.size() - 1);
            assertTrue(last.startsWith("prefork: worker 0 failed to boot: ") && last.contains(
                    "class 'org.postgresql.Driver' is missing from the worker classpath")
                    && last.contains("add the jar that has it to --worker-classpath"), last);
            assertFalse(out.stream().anyMatch(l -> l.contains("'io.prefork.it.workers.NeedsDriverWorker' was not "
                    + "found")), "the worker class is not blamed: " + out);
            assertTrue(out.stream().anyMatch(l -> l.contains("error: java.lang.ClassNotFoundException: "
                    + "org.postgresql.Driver at io.prefork.it.workers.NeedsDriverWorker.start(")),
                    "the cause, one line, at the user's frame: " + out);
            assertTrue(out.size() < 12, "concise, not a wall: " + out);
            Poll.within(IO).until("no process of this supervisor left", s::taggedProcesses, Set::isEmpty);
        }
    }

    @Test
    void aDamagedJarIsNamedAsSuch() throws Exception {
        Path bad = Files.write(dir.resolve("broken.jar"), "not a zip".getBytes(StandardCharsets.UTF_8));
        try (SupervisorProcess s = SupervisorProcess.start("--listen", "127.0.0.1:0", "--workers", "1",
                "--worker-classpath", bad + ":" + SupervisorProcess.examplesClasspath(), "--worker", HELLO)) {
            assertEquals(2, s.awaitExit(READY), "exit code; output: " + s.output());
            s.awaitOutput("prefork: ", IO);
            assertEquals(List.of("prefork: --worker-classpath " + bad + ": cannot be read as a jar (zip END header "
                    + "not found); it is damaged or not a jar: build or download it again"), s.output());
        }
    }

    @Test
    void aWorkerJavaThatIsNotAJavaIsOneLine() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1, HELLO, "--worker-java", dir.toString())) {
            assertEquals(2, s.awaitExit(READY), "exit code; output: " + s.output());
            s.awaitOutput("prefork: ", IO);
            assertEquals(1, s.output().size(), s.output().toString());
            assertTrue(s.output().get(0).startsWith("prefork: --worker-java " + dir + ": is a directory without "
                    + "bin/java"), s.output().get(0));
        }
        try (SupervisorProcess s = SupervisorProcess.startExample(1, HELLO, "--worker-java", "/no/such/java")) {
            assertEquals(2, s.awaitExit(READY), "exit code; output: " + s.output());
            s.awaitOutput("prefork: ", IO);
            assertTrue(s.output().get(0).startsWith("prefork: --worker-java /no/such/java: does not exist"),
                    s.output().toString());
        }
    }

    // ---- --worker-java, with the JDK the suite does not run on ----

    private static int feature() {
        return Runtime.version().feature();
    }

    /** The other JDK of the two the project is tested on: 25 when the suite runs on 17, else 17. */
    private static Path otherJdk() {
        Path other = feature() == 17 ? JDK25 : JDK17;
        assumeTrue(Files.isExecutable(other.resolve("bin/java")) && Files.isExecutable(JDK25.resolve("bin/javac")),
                "needs " + JDK17 + " and " + JDK25);
        return other;
    }

    /**
     * Compiles a worker that answers each connection with the Java version it runs on, for {@code release}, with
     * JDK 25's javac (which targets 17 and 25 alike), against the worker runtime jar the build made.
     */
    private Path compileVersionWorker(int release) throws Exception {
        Path src = dir.resolve("src/com/example/VersionWorker.java");
        Files.createDirectories(src.getParent());
        Files.writeString(src, String.join("\n",
                "package com.example;",
                "public class VersionWorker implements io.prefork.worker.Worker {",
                "    public void start(io.prefork.worker.WorkerContext c) {}",
                "    public void handle(io.prefork.worker.Connection c) throws java.io.IOException {",
                "        c.channel().write(java.nio.ByteBuffer.wrap((\"java \" + Runtime.version().feature() + \"\\n\")",
                "                .getBytes(java.nio.charset.StandardCharsets.UTF_8)));",
                "    }",
                "}", ""));
        Path out = dir.resolve("classes" + release);
        Path api = SupervisorProcess.supervisorJar().resolveSibling("prefork-worker-runtime.jar");
        Process javac = new ProcessBuilder(JDK25.resolve("bin/javac").toString(), "--release",
                Integer.toString(release), "-cp", api.toString(), "-d", out.toString(), src.toString())
                .redirectErrorStream(true).start();
        String log = new String(javac.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(javac.waitFor(60, TimeUnit.SECONDS), "javac finished");
        assertEquals(0, javac.exitValue(), log);
        return out;
    }

    private static String firstLine(int port) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), (int) IO.toMillis());
            s.setSoTimeout((int) IO.toMillis());
            return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8)).readLine();
        }
    }

    /** Workers run on --worker-java (a JDK home here), a worker compiled for that Java included. */
    @Test
    void workersRunOnTheWorkerJava() throws Exception {
        Path other = otherJdk();
        int otherFeature = feature() == 17 ? 25 : 17;
        Path classes = compileVersionWorker(otherFeature);
        try (SupervisorProcess s = SupervisorProcess.start("--listen", "127.0.0.1:0", "--workers", "1",
                "--worker-classpath", classes.toString(), "--worker", "com.example.VersionWorker",
                "--worker-java", other.toString())) {
            int port = s.awaitReady(READY);
            assertEquals("java " + otherFeature, firstLine(port), "the worker runs on " + other);
            s.signal(Native.SIGTERM);
            assertEquals(0, s.awaitExit(READY), s.output().toString());
        }
    }

    /**
     * A class compiled for Java 25 where workers run on 17 is named with the Java it needs and what to do: at the
     * class check (supervisor and workers on 17: exit 2), or at boot (workers on 17 by --worker-java: exit 3).
     */
    @Test
    void aClassForANewerJavaSaysWhichJavaItNeeds() throws Exception {
        otherJdk();
        Path classes = compileVersionWorker(25);
        List<String> args = new ArrayList<>(List.of("--listen", "127.0.0.1:0", "--workers", "1",
                "--worker-classpath", classes.toString(), "--worker", "com.example.VersionWorker"));
        if (feature() != 17) {
            args.addAll(List.of("--worker-java", JDK17.resolve("bin/java").toString()));
        }
        try (SupervisorProcess s = SupervisorProcess.start(args.toArray(new String[0]))) {
            int code = s.awaitExit(READY);
            assertEquals(feature() == 17 ? 2 : 3, code, "exit code; output: " + s.output());
            s.awaitOutput("prefork: " + (feature() == 17 ? "--worker " : "worker 0 failed to boot"), IO);
            String last = s.output().get(s.output().size() - 1);
            assertTrue(last.contains("class 'com.example.VersionWorker' was compiled for Java 25 (class file "
                    + "version 69), but workers run on Java 17; compile it with --release 17 (or lower), or run the "
                    + "workers on a newer JDK with --worker-java"), last);
            Poll.within(IO).until("no process of this supervisor left", s::taggedProcesses, Set::isEmpty);
        }
    }

    // ---- a quiet log ----

    /**
     * Many clients that send half a request and reset (SO_LINGER 0): the client's business, not the log's. One
     * worker with one slot serves in order, so once a full request after them is answered, every reset was handled.
     */
    @Test
    void aConnectionResetStormLogsAtMostAFewLines() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(1, HELLO)) {
            int port = s.awaitReady(READY);
            int before = s.output().size();
            for (int i = 0; i < 200; i++) {
                try (Socket c = new Socket()) {
                    c.connect(new InetSocketAddress("127.0.0.1", port), (int) IO.toMillis());
                    OutputStream o = c.getOutputStream();
                    o.write("GET / HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
                    o.flush();
                    c.setSoLinger(true, 0);
                }
            }
            assertEquals(200, HttpClient.get("127.0.0.1", port, "/", IO).status());
            List<String> during = s.output().subList(before, s.output().size());
            assertTrue(during.size() <= 3, "at most a few lines for 200 resets: " + during);
            s.signal(Native.SIGTERM);
            assertEquals(0, s.awaitExit(READY), s.output().toString());
        }
    }

    /** A normal stop is no crash; a quick stop says who asked for it. */
    @Test
    void stopsSayWhyAndAStoppedWorkerIsNotACrash() throws Exception {
        try (SupervisorProcess s = SupervisorProcess.startExample(2, HELLO)) {
            s.awaitReady(READY);
            s.signal(Native.SIGTERM);
            assertEquals(0, s.awaitExit(READY), s.output().toString());
            s.awaitOutput("SIGTERM: graceful stop", IO);
            Poll.within(IO).until("both workers' exits logged", () -> s.output().stream()
                    .filter(l -> l.matches(".*worker \\d \\(pid \\d+\\) stopped$")).count() == 2);
            List<String> out = s.output();
            assertFalse(out.stream().anyMatch(l -> l.contains("killed by signal")), out.toString());
            assertEquals(2, out.stream().filter(l -> l.matches(".*worker \\d \\(pid \\d+\\) stopped$")).count(),
                    out.toString());
        }
        try (SupervisorProcess s = SupervisorProcess.startExample(1, HELLO)) {
            s.awaitReady(READY);
            s.signal(SIGINT);
            assertEquals(0, s.awaitExit(READY), s.output().toString());
            s.awaitOutput("SIGINT: quick stop: workers get TERM now", IO);
        }
    }

    /** --log-format json: every line on stderr, the workers' included, is one JSON object. */
    @Test
    void jsonLogLinesAreJsonObjects() throws Exception {
        ObjectMapper json = new ObjectMapper();
        try (SupervisorProcess s = SupervisorProcess.startExample(1, HELLO, "--log-format", "json", "--log-level",
                "debug")) {
            s.awaitReady(READY);
            s.signal(Native.SIGTERM);
            assertEquals(0, s.awaitExit(READY), s.output().toString());
            List<String> err = new ArrayList<>(s.output());
            err.removeAll(s.stdoutLines());
            assertTrue(err.size() > 3, err.toString());
            boolean debug = false;
            for (String line : err) {
                JsonNode n = json.readTree(line);
                assertTrue(n.isObject() && n.has("time") && n.has("level") && n.has("logger") && n.has("message"),
                        line);
                debug |= n.get("level").asText().equals("DEBUG");
            }
            assertTrue(debug, "--log-level debug shows DEBUG lines: " + err);
        }
    }
}
