package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.Native;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Follows the README's "Writing a worker" recipe word for word: the worker source, the javac and java command
 * lines and the way to talk to it are taken from between the README's {@code recipe:...} markers, not copied here,
 * so a README that stops working fails this test. The commands run in a directory that looks like a fresh clone
 * after the build (its {@code worker-api} and {@code supervisor} are links to the build's), so that the recipe's
 * {@code hello/} does not land in the source tree. Only the port differs: 0 instead of 8080, which may be taken.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ReadmeRecipeIT {
    private static final Path ROOT = SupervisorProcess.supervisorJar().toAbsolutePath().getParent().getParent()
            .getParent();
    private static final Duration READY = Duration.ofSeconds(60);

    @TempDir
    Path clone;

    private static String section(String name) throws IOException {
        String readme = Files.readString(ROOT.resolve("README.md"), StandardCharsets.UTF_8);
        Matcher m = Pattern.compile("<!-- recipe:" + name + ":begin[^>]*-->\\n```\\w+\\n(.*?)```\\n<!-- recipe:"
                + name + ":end -->", Pattern.DOTALL).matcher(readme);
        assertTrue(m.find(), "README.md has a fenced block between <!-- recipe:" + name + ":begin --> and "
                + "<!-- recipe:" + name + ":end -->");
        return m.group(1);
    }

    /** The one line of {@code block} that starts with {@code command}. */
    private static String line(String block, String command) {
        List<String> found = block.lines().filter(l -> l.startsWith(command + " ")).toList();
        assertEquals(1, found.size(), "one '" + command + "' line in:\n" + block);
        return found.get(0);
    }

    private String sh(String commandLine) throws Exception {
        Process p = new ProcessBuilder("sh", "-c", commandLine).directory(clone.toFile()).redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(90, TimeUnit.SECONDS), commandLine);
        assertEquals(0, p.exitValue(), commandLine + ":\n" + out);
        return out;
    }

    @Test
    void theFirstWorkerRecipeWorksAsWritten() throws Exception {
        Files.createSymbolicLink(clone.resolve("worker-api"), ROOT.resolve("worker-api"));
        Files.createSymbolicLink(clone.resolve("supervisor"), ROOT.resolve("supervisor"));
        String source = section("worker");
        Matcher pkg = Pattern.compile("package (\\w+);").matcher(source);
        assertTrue(pkg.find(), source);
        Path file = clone.resolve(pkg.group(1)).resolve("HelloWorker.java");
        Files.createDirectories(file.getParent());
        Files.writeString(file, source);

        String run = section("run");
        assertTrue(run.contains("mvn -B -q -DskipTests package"), "the recipe builds the project first: " + run);
        // This JVM's javac: PATH may lack one, or have another JDK's.
        String javac = line(run, "javac");
        sh(Path.of(System.getProperty("java.home"), "bin", "javac") + javac.substring("javac".length()));

        List<String> java = new ArrayList<>(Arrays.asList(line(run, "java").split(" ")));
        assertEquals(List.of("java", "-jar", "supervisor/target/prefork-supervisor.jar"), java.subList(0, 3), run);
        List<String> args = new ArrayList<>(java.subList(3, java.size()));
        assertTrue(args.contains("127.0.0.1:8080"), "the recipe listens on 127.0.0.1:8080: " + args);
        args.replaceAll(a -> a.equals("127.0.0.1:8080") ? "127.0.0.1:0" : a);
        try (SupervisorProcess s = SupervisorProcess.startIn(clone, args.toArray(new String[0]))) {
            int port = s.awaitReady(READY);
            assertTrue(s.stdoutLines().contains("prefork: ready on 127.0.0.1:" + port + " with 2 worker(s) of "
                    + "hello.HelloWorker"), s.stdoutLines().toString());
            String talk = line(section("talk"), "curl");
            assertTrue(talk.contains("http://127.0.0.1:8080/"), talk);
            String url = "http://127.0.0.1:" + port + "/";
            String answer = Files.isExecutable(Path.of("/usr/bin/curl"))
                    ? sh(talk.replace("http://127.0.0.1:8080/", url))
                    : HttpClient.get("127.0.0.1", port, "/", Duration.ofSeconds(15)).body();
            assertTrue(answer.matches("hello from worker \\d+\\n"), "'" + answer + "'");
            assertTrue(s.workerPids().contains(Long.parseLong(answer.replaceAll("\\D", ""))),
                    "answered by one of the supervisor's workers: " + answer);
            s.signal(Native.SIGTERM);
            assertEquals(0, s.awaitExit(READY), s.output().toString());
        }
    }

    /** The embedding snippet compiles against the supervisor's API as printed (with the imports the README lists). */
    @Test
    void theEmbeddingSnippetCompiles() throws Exception {
        String body = section("embed");
        Path src = clone.resolve("Embed.java");
        Files.writeString(src, String.join("\n",
                "import io.prefork.supervisor.*;",
                "import java.nio.file.Path;",
                "import java.time.Duration;",
                "import java.util.List;",
                "import java.util.concurrent.TimeUnit;",
                "class Embed {",
                "    static void run() throws Exception {",
                body,
                "    }",
                "}", ""));
        sh(Path.of(System.getProperty("java.home"), "bin", "javac") + " --release 17 -proc:none -d classes -cp "
                + SupervisorProcess.supervisorJar().toAbsolutePath() + " Embed.java");
    }
}
