package io.prefork.supervisor.internal.process;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Enumeration;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * jffi's native library ({@code libjffi-1.2.so}), which jnr-ffi needs, extracted once for all workers instead of once
 * per worker JVM. By default jffi copies the library out of its jar into a new temporary file in every JVM that
 * starts, then loads it from there; measured on JDK 17 that was about 35 ms of a worker's boot (bench/README.md). But
 * jffi first tries {@code -Djffi.boot.library.path}: the supervisor copies the library into its cache directory, in a
 * directory named by a hash of its bytes (so a new jffi gets a new directory and a file in place never changes), and
 * gives workers that path.
 *
 * <p>Only for workers that load jnr-ffi: on JDK 22+ the worker runtime calls libc through the JDK's FFM API and loads
 * no jffi at all (unless {@code -Dprefork.native=jnr}). Never over the user's own jffi settings. Any failure only means
 * jffi extracts its library itself, as before.
 */
final class JffiLibrary {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");
    static final String BOOT_PATH = "-Djffi.boot.library.path=";

    private JffiLibrary() {
    }

    /**
     * The options that point {@code java}'s workers at an extracted copy in {@code cacheDir}, extracting it from the
     * first of {@code classpath}'s jars that carries one for this machine; empty where that does not apply or fails.
     */
    static List<String> optionsFor(Path cacheDir, List<String> classpath, int javaFeature, List<String> userOptions) {
        boolean loadsJffi = javaFeature < 22 || userOptions.contains("-Dprefork.native=jnr");
        if (!loadsJffi || userOptions.stream().anyMatch(o -> o.startsWith("-Djffi."))) {
            return List.of();
        }
        String dir = "jni/" + arch() + "-Linux/";
        for (String entry : classpath) {
            if (!entry.endsWith(".jar") || !Files.isRegularFile(Path.of(entry))) {
                continue;
            }
            try (ZipFile jar = new ZipFile(entry)) {
                for (Enumeration<? extends ZipEntry> e = jar.entries(); e.hasMoreElements(); ) {
                    ZipEntry z = e.nextElement();
                    String name = z.getName();
                    if (name.startsWith(dir) && name.endsWith(".so") && name.indexOf('/', dir.length()) < 0) {
                        Path extracted = extract(jar, z, cacheDir);
                        return List.of(BOOT_PATH + extracted.getParent());
                    }
                }
            } catch (IOException | RuntimeException e) {
                LOG.info("jffi's native library is not shared between workers (each extracts its own copy): {}",
                        e.toString());
                return List.of();
            }
        }
        return List.of();
    }

    /** jffi's name for this machine's architecture in {@code jni/<arch>-Linux/}. */
    private static String arch() {
        String a = System.getProperty("os.arch", "");
        return a.equals("amd64") ? "x86_64" : a;
    }

    private static Path extract(ZipFile jar, ZipEntry entry, Path cacheDir) throws IOException {
        byte[] bytes;
        try (InputStream in = jar.getInputStream(entry)) {
            bytes = in.readAllBytes();
        }
        MessageDigest d;
        try {
            d = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e); // every JDK has SHA-256
        }
        Path dir = cacheDir.resolve("jffi").resolve(HexFormat.of().formatHex(d.digest(bytes), 0, 12));
        String fileName = entry.getName().substring(entry.getName().lastIndexOf('/') + 1);
        Path target = dir.resolve(fileName);
        if (Files.isRegularFile(target) && Files.size(target) == bytes.length) {
            return target;
        }
        Files.createDirectories(dir);
        // Written beside the target, then renamed over it: a worker never maps a half-written library, and two
        // supervisors extracting at once both end with the same complete file.
        Path temp = Files.createTempFile(dir, fileName, ".tmp");
        try {
            Files.write(temp, bytes);
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(temp);
        }
        return target;
    }
}
