package io.prefork.supervisor.internal.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.supervisor.ConfigException;
import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(30)
class WorkerClassCheckTest {

    public static final class GoodWorker implements Worker {
        @Override
        public void handle(Connection connection) {
        }
    }

    public abstract static class AbstractWorker implements Worker {
    }

    public interface WorkerInterface extends Worker {
    }

    public static final class NoDefaultConstructorWorker implements Worker {
        public NoDefaultConstructorWorker(String greeting) {
            if (greeting == null) {
                throw new IllegalArgumentException();
            }
        }

        @Override
        public void handle(Connection connection) {
        }
    }

    public static final class PrivateConstructorWorker implements Worker {
        private PrivateConstructorWorker() {
        }

        @Override
        public void handle(Connection connection) {
        }
    }

    public static final class NotAWorker {
    }

    /** Not public: the worker runtime (another package) cannot call even its public constructor. */
    static final class PackagePrivateWorker implements Worker {
        public PackagePrivateWorker() {
        }

        @Override
        public void handle(Connection connection) {
        }
    }

    @TempDir
    Path dir;

    /** The test-classes directory (or jar) these nested classes were loaded from. */
    private static List<Path> testClasses() {
        try {
            return List.of(Path.of(GoodWorker.class.getProtectionDomain().getCodeSource().getLocation().toURI()));
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ConfigException rejects(Class<?> c) {
        return rejects(c.getName(), testClasses());
    }

    private static ConfigException rejects(String className, List<Path> classpath) {
        ConfigException e = assertThrows(ConfigException.class, () -> WorkerClassCheck.check(className, classpath));
        assertEquals("--worker", e.setting(), e.getMessage());
        assertTrue(e.getMessage().startsWith("--worker " + className + ": "), "names --worker and the class: "
                + e.getMessage());
        return e;
    }

    @Test
    void acceptsAConcreteWorkerWithAPublicNoArgConstructor() {
        WorkerClassCheck.check(GoodWorker.class.getName(), testClasses());
    }

    @Test
    void rejectsAnAbstractWorker() {
        assertTrue(rejects(AbstractWorker.class).getMessage().contains("abstract"));
    }

    @Test
    void rejectsAnInterface() {
        assertTrue(rejects(WorkerInterface.class).getMessage().contains("abstract"));
    }

    @Test
    void rejectsAWorkerWithoutANoArgConstructor() {
        assertTrue(rejects(NoDefaultConstructorWorker.class).getMessage().contains("public no-argument constructor"));
    }

    @Test
    void rejectsAWorkerWhoseNoArgConstructorIsPrivate() {
        assertTrue(rejects(PrivateConstructorWorker.class).getMessage().contains("public no-argument constructor"));
    }

    @Test
    void rejectsAClassThatIsNotAWorker() {
        ConfigException e = rejects(NotAWorker.class);
        assertTrue(e.getMessage().contains("does not implement " + Worker.class.getName()), e.getMessage());
    }

    @Test
    void rejectsAJdkClassThatIsNotAWorker() {
        ConfigException e = rejects(String.class.getName(), testClasses());
        assertTrue(e.getMessage().contains("does not implement"), e.getMessage());
    }

    @Test
    void rejectsAMissingClass() {
        ConfigException e = rejects("com.example.NoSuchWorker", testClasses());
        assertTrue(e.getMessage().contains("not found"), e.getMessage());
        assertTrue(e.getMessage().contains("--worker-classpath"), "points at the classpath: " + e.getMessage());
    }

    @Test
    void rejectsAWorkerClassThatIsNotPublic() {
        ConfigException e = rejects(PackagePrivateWorker.class);
        assertTrue(e.getMessage().contains("public"), e.getMessage());
    }

    // ---- classes that only the given classpath has, compiled here ----

    /** Compiles {@code namesAndSources} (class name, source text, ...) against worker-api into {@code out}. */
    private static void compile(Path src, Path out, String... namesAndSources) throws IOException {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull(javac, "tests run on a JDK, which has javac");
        String workerApi;
        try {
            workerApi = Path.of(Worker.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        String[] args = new String[6 + namesAndSources.length / 2];
        args[0] = "--release";
        args[1] = "17";
        args[2] = "-cp";
        args[3] = workerApi;
        args[4] = "-d";
        args[5] = out.toString();
        for (int i = 0; i < namesAndSources.length; i += 2) {
            Path file = src.resolve(namesAndSources[i].replace('.', '/') + ".java");
            Files.createDirectories(file.getParent());
            Files.writeString(file, namesAndSources[i + 1]);
            args[6 + i / 2] = file.toString();
        }
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int rc = javac.run(null, diagnostics, diagnostics, args);
        assertEquals(0, rc, diagnostics.toString(StandardCharsets.UTF_8));
    }

    private static final String COMPILED_WORKER = "package com.example.cp;\n"
            + "public class CompiledWorker implements io.prefork.worker.Worker {\n"
            + "    public void handle(io.prefork.worker.Connection c) {}\n"
            + "}\n";

    private static void assertNotOnTheTestClasspath(String className) {
        assertThrows(ClassNotFoundException.class, () -> Class.forName(className, false,
                WorkerClassCheckTest.class.getClassLoader()), className + " must be found only via the checked classpath");
    }

    @Test
    void findsAWorkerOnlyOnTheGivenDirectory() throws IOException {
        Path classes = Files.createDirectory(dir.resolve("classes"));
        compile(dir.resolve("src"), classes, "com.example.cp.CompiledWorker", COMPILED_WORKER);
        assertNotOnTheTestClasspath("com.example.cp.CompiledWorker");

        WorkerClassCheck.check("com.example.cp.CompiledWorker", List.of(classes));

        Path empty = Files.createDirectory(dir.resolve("empty"));
        assertTrue(rejects("com.example.cp.CompiledWorker", List.of(empty)).getMessage().contains("not found"));
    }

    @Test
    void findsAWorkerInAJarAfterOtherEntries() throws IOException {
        Path classes = Files.createDirectory(dir.resolve("classes"));
        compile(dir.resolve("src"), classes, "com.example.cp.CompiledWorker", COMPILED_WORKER);
        Path jar = dir.resolve("worker.jar");
        String entry = "com/example/cp/CompiledWorker.class";
        try (OutputStream file = Files.newOutputStream(jar); JarOutputStream out = new JarOutputStream(file)) {
            out.putNextEntry(new JarEntry(entry));
            out.write(Files.readAllBytes(classes.resolve(entry)));
            out.closeEntry();
        }
        Path empty = Files.createDirectory(dir.resolve("empty"));

        WorkerClassCheck.check("com.example.cp.CompiledWorker", List.of(empty, jar));
    }

    @Test
    void aWorkerWhoseDependencyIsMissingNamesTheMissingClass() throws IOException {
        Path classes = Files.createDirectory(dir.resolve("classes"));
        compile(dir.resolve("src"), classes,
                "com.example.cp.Base", "package com.example.cp;\n"
                        + "public abstract class Base implements io.prefork.worker.Worker {}\n",
                "com.example.cp.Derived", "package com.example.cp;\n"
                        + "public class Derived extends Base {\n"
                        + "    public void handle(io.prefork.worker.Connection c) {}\n"
                        + "}\n");
        // The worker's superclass lives in a jar the user forgot to put on --worker-classpath.
        Files.delete(classes.resolve("com/example/cp/Base.class"));
        assertNotOnTheTestClasspath("com.example.cp.Derived");

        ConfigException e = rejects("com.example.cp.Derived", List.of(classes));
        assertTrue(e.getMessage().contains("cannot be loaded"), e.getMessage());
        assertTrue(e.getMessage().contains("com/example/cp/Base") || e.getMessage().contains("com.example.cp.Base"),
                "names the missing class: " + e.getMessage());
    }
}
