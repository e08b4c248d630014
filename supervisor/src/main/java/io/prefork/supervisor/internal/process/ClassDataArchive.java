package io.prefork.supervisor.internal.process;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A class-data-sharing archive of the workers' own classes (dynamic AppCDS, JDK 13+), made and used by the
 * supervisor without being asked. Its file is named by a hash of the JDK and of every classpath jar's path, size
 * and modification time, so new jars or a new JDK get a new archive and an old one is never used with the wrong
 * classes. When there is none yet, one worker at a time is started with {@code -XX:ArchiveClassesAtExit} into a
 * temporary file, which the JVM writes as it exits (a recycle, a reload, the supervisor's stop); the supervisor
 * then renames it into place, so a worker killed half-way through writing leaves no archive that others would map.
 * Every later worker maps it with {@code -XX:SharedArchiveFile}.
 *
 * <p>Nothing here can stop a worker from starting: the JVM's default {@code -Xshare:auto} ignores an archive it
 * cannot use, any I/O failure here only means no archive, and the whole thing is off when the user passes any
 * archive option of their own, or when the classpath has a directory (AppCDS archives jars only). Measured effect in
 * bench/README.md.
 */
final class ClassDataArchive {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");
    /** Options of the user's that mean they manage class data sharing themselves. */
    private static final List<String> USER_CDS = List.of("-Xshare", "-XX:SharedArchiveFile", "-XX:ArchiveClassesAtExit",
            "-XX:AOTCache", "-XX:AOTMode", "-XX:AOTConfiguration", "-XX:+AutoCreateSharedArchive",
            "-XX:SharedClassListFile", "-XX:-UseSharedSpaces");

    /**
     * Without it every worker on JDK 25 prints "[error][cds] Mismatched values for property jdk.module.addopens ...
     * Disabling optimized module handling" (the JDK's base archive was dumped without the worker's --add-opens): no
     * error, only the JDK's archived module graph going unused, as it does without this archive too. An archive the
     * JVM cannot use is ignored either way (-Xshare:auto); its messages would only be noise in the supervisor's log.
     */
    static final String QUIET = "-Xlog:cds=off";

    private final Path file;
    private final AtomicBoolean training = new AtomicBoolean();

    private ClassDataArchive(Path file) {
        this.file = file;
    }

    /** The archive for this JDK and classpath under {@code cacheDir}, or null where it cannot or should not be used. */
    static ClassDataArchive forWorkers(Path cacheDir, Path java, List<String> classpath, List<String> userOptions) {
        if (cacheDir == null || userOptions.stream().anyMatch(o -> USER_CDS.stream().anyMatch(o::startsWith))) {
            return null;
        }
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update((java.toAbsolutePath() + "\n" + Runtime.version() + "\n").getBytes(StandardCharsets.UTF_8));
            for (String e : classpath) {
                Path p = Path.of(e);
                if (!e.endsWith(".jar") || !Files.isRegularFile(p)) {
                    return null;
                }
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                d.update((p.toAbsolutePath() + "\n" + a.size() + "\n" + a.lastModifiedTime().toMillis() + "\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
            Files.createDirectories(cacheDir);
            String name = HexFormat.of().formatHex(d.digest(), 0, 12) + ".jsa";
            return new ClassDataArchive(cacheDir.resolve(name));
        } catch (IOException | NoSuchAlgorithmException | RuntimeException e) {
            LOG.warn("no class-data-sharing archive for workers (they start without it): {}", e.toString());
            return null;
        }
    }

    /** The default cache directory: $XDG_CACHE_HOME/prefork/cds, else ~/.cache/prefork/cds. */
    static Path defaultCacheDir() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("prefork").resolve("cds");
    }

    Path file() {
        return file;
    }

    /**
     * The options for the next worker: map the archive if there is one; else, if no worker is writing one, this
     * worker writes it at exit (to {@code temp}, which {@link #trainerExited} renames). Empty otherwise.
     */
    List<String> optionsForNext(Path temp) {
        if (Files.isRegularFile(file)) {
            return List.of("-XX:SharedArchiveFile=" + file, QUIET);
        }
        if (training.compareAndSet(false, true)) {
            return List.of("-XX:ArchiveClassesAtExit=" + temp, QUIET);
        }
        return List.of();
    }

    /** Archives kept in the cache directory, newest first; every new build of the jars makes a new one. */
    static final int KEEP = 8;

    /**
     * Removes all but the {@link #KEEP} newest archives. One still mapped by a running JVM stays readable (an unlinked
     * file lives on while mapped); a supervisor whose archive went simply trains a new one.
     */
    private void prune() throws IOException {
        List<Path> all;
        try (java.util.stream.Stream<Path> s = Files.list(file.getParent())) {
            all = s.filter(p -> p.getFileName().toString().endsWith(".jsa")).sorted(java.util.Comparator.comparing(
                    (Path p) -> p.toFile().lastModified()).reversed()).toList();
        }
        for (Path p : all.subList(Math.min(KEEP, all.size()), all.size())) {
            if (!p.equals(file)) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** A temporary file name, unique to one worker, beside the archive. */
    Path tempFor(String token) {
        return file.resolveSibling(file.getFileName() + "." + token + ".tmp");
    }

    /** The worker that was writing the archive to {@code temp} exited: keep what it wrote, if it wrote it all. */
    void trainerExited(Path temp, int exitCode) {
        try {
            if (Files.isRegularFile(temp) && Files.size(temp) > 0 && (exitCode == 0 || exitCode == 143)) {
                Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                LOG.info("class-data-sharing archive for workers written: {} ({} KiB)", file, Files.size(file) / 1024);
                prune();
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("cannot keep the workers' class-data-sharing archive {}: {}", file, e.toString());
        } finally {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException e) {
                // Only a stray temporary file in the cache directory.
            }
            training.set(false);
        }
    }
}
