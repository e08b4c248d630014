package io.prefork.supervisor.internal.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** jffi's library extracted once into the cache, and a real jnr-ffi JVM loading it from there. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class JffiLibraryTest {
    private static final String ARCH = System.getProperty("os.arch").equals("amd64") ? "x86_64"
            : System.getProperty("os.arch");

    @TempDir
    Path dir;

    private String jarWith(String name, byte[] library) throws IOException {
        Path jar = dir.resolve(name);
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(jar))) {
            z.putNextEntry(new ZipEntry("jni/i386-Linux/libjffi-1.2.so"));
            z.write(new byte[] {9, 9});
            z.putNextEntry(new ZipEntry("jni/" + ARCH + "-Linux/libjffi-1.2.so"));
            z.write(library);
        }
        return jar.toString();
    }

    @Test
    void extractsOnceIntoADirectoryNamedByTheLibrarysBytes() throws IOException {
        Path cache = dir.resolve("cache");
        String a = jarWith("a.jar", new byte[] {1, 2, 3});
        List<String> first = JffiLibrary.optionsFor(cache, List.of(dir.resolve("user").toString(), a), 17, List.of());
        assertEquals(1, first.size(), first.toString());
        assertTrue(first.get(0).startsWith(JffiLibrary.BOOT_PATH + cache.resolve("jffi")), first.toString());
        Path lib = Path.of(first.get(0).substring(JffiLibrary.BOOT_PATH.length())).resolve("libjffi-1.2.so");
        assertEquals(List.of((byte) 1, (byte) 2, (byte) 3), boxed(Files.readAllBytes(lib)), "this machine's library");
        FileTime written = FileTime.fromMillis(Files.getLastModifiedTime(lib).toMillis() - 60_000);
        Files.setLastModifiedTime(lib, written);

        assertEquals(first, JffiLibrary.optionsFor(cache, List.of(a), 17, List.of()), "the same jar, the same path");
        assertEquals(written, Files.getLastModifiedTime(lib), "a library in place is not written again");
        List<String> other = JffiLibrary.optionsFor(cache, List.of(jarWith("b.jar", new byte[] {4})), 17, List.of());
        assertNotEquals(first, other, "another jffi, another directory: a file in place never changes");
        try (var files = Files.list(lib.getParent())) {
            assertEquals(1, files.count(), "no temporary file left beside the library");
        }
    }

    @Test
    void onlyForWorkersThatLoadJffiAndNeverOverTheUsersSettings() throws IOException {
        Path cache = dir.resolve("cache");
        List<String> cp = List.of(jarWith("a.jar", new byte[] {1}));
        assertEquals(List.of(), JffiLibrary.optionsFor(cache, cp, 25, List.of()), "JDK 22+ workers use FFM");
        assertEquals(1, JffiLibrary.optionsFor(cache, cp, 25, List.of("-Dprefork.native=jnr")).size());
        assertEquals(1, JffiLibrary.optionsFor(cache, cp, -1, List.of()).size(), "an unknown JDK may load jffi");
        assertEquals(List.of(), JffiLibrary.optionsFor(cache, cp, 17, List.of("-Djffi.boot.library.path=/x")));
        assertEquals(List.of(), JffiLibrary.optionsFor(cache, List.of(dir.resolve("none.jar").toString()), 17,
                List.of()), "no jar has it: jffi extracts its own, as before");
    }

    @Test
    void aJnrWorkerJvmMapsTheExtractedLibrary() throws Exception {
        // The jffi native jar on this test's classpath stands in for prefork-worker-runtime.jar.
        URL so = ClassLoader.getSystemResource("jni/" + ARCH + "-Linux/libjffi-1.2.so");
        assertTrue(so != null && so.getProtocol().equals("jar"), "jffi's native jar on the test classpath: " + so);
        String jar = Path.of(java.net.URI.create(so.getPath().substring(0, so.getPath().indexOf('!')))).toString();
        List<String> options = JffiLibrary.optionsFor(dir.resolve("cache"), List.of(jar), 17, List.of());
        assertEquals(1, options.size(), options.toString());
        Path lib = Path.of(options.get(0).substring(JffiLibrary.BOOT_PATH.length())).resolve("libjffi-1.2.so");

        assertEquals("jffi=" + lib, probe(options), "with the option, the worker maps the shared copy");
        assertNotEquals("jffi=" + lib, probe(List.of()), "without it, jffi extracts a copy of its own");
    }

    /** Runs the runtime's worker-side probe on jnr-ffi; returns its "jffi=..." word. */
    private String probe(List<String> options) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(WorkerLauncher.currentJava().toString(),
                "--enable-native-access=ALL-UNNAMED", "-Dprefork.native=jnr"));
        cmd.addAll(options);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.prefork.internal.nativeio.WorkerSideProbe",
                dir.resolve("none.sock").toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out;
        p.getOutputStream().close();
        try (InputStream in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
        } finally {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("probe ok backend=jnr jffi="), out);
        return out.substring(out.indexOf("jffi="));
    }

    private static List<Byte> boxed(byte[] b) {
        List<Byte> out = new ArrayList<>();
        for (byte x : b) {
            out.add(x);
        }
        return out;
    }
}
