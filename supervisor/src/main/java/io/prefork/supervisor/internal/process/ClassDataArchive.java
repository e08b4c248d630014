package io.prefork.supervisor.internal.process;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A class-data-sharing archive of the workers' own classes, made and used by the supervisor without being asked: on
 * a worker JDK of 25 or newer an AOT cache (JEP 483, made in one step as JEP 514 allows: classes loaded and linked
 * ahead of time, the JDK's own included), else a dynamic AppCDS archive (JDK 13+). Its file is named by a hash of
 * the JDK, of the user's worker JVM options (system properties and logging aside) and of every classpath jar's path,
 * size and modification time, so new jars, a new JDK or other options get a new archive and an old one is never
 * used with the wrong classes (an AOT cache made with other options can be refused, and a refused one costs the
 * worker the JDK's own archive too: {@code -XX:+UseCompactObjectHeaders} against a cache made without it loaded 0
 * of 1,602 classes from any archive).
 * When there is none yet, one worker at a time is started with {@code -XX:AOTCacheOutput} or
 * {@code -XX:ArchiveClassesAtExit} into a temporary file, which the JVM writes as it exits (a recycle, a reload, the
 * supervisor's stop; for an AOT cache the exiting JVM starts a child JVM that assembles it, and waits for it); the
 * supervisor then renames it into place, so a worker killed half-way through writing leaves no archive that others
 * would map. Every later worker maps it with {@code -XX:AOTCache} or {@code -XX:SharedArchiveFile}.
 *
 * <p>Nothing here can stop a worker from starting: the JVM's default {@code -Xshare:auto} (and
 * {@code -XX:AOTMode=auto}) ignores an archive it cannot use, any I/O failure here only means no archive, and the
 * whole thing is off when the user passes any archive option of their own, or when the classpath has a directory
 * (archives hold classes from jars only). Measured effect in bench/README.md.
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
    /**
     * The same for an AOT cache's messages (JDK 24+ only: older JVMs refuse an unknown log tag), among them a
     * warning per class of the runtime jar's {@code META-INF/versions/22} at every training, which JDK 25 cannot
     * archive ("not defined from ... as claimed").
     */
    static final String QUIET_AOT = "-Xlog:aot=off";

    /** The oldest JDK whose workers get an AOT cache: JDK 25 makes one in one step (JEP 514). */
    static final int AOT_FEATURE = 25;

    /** Which kind of archive, by the workers' JDK. */
    enum Kind {
        /** Dynamic AppCDS: {@code -XX:ArchiveClassesAtExit} to make, {@code -XX:SharedArchiveFile} to use. */
        DYNAMIC(".jsa", "-XX:ArchiveClassesAtExit=", "-XX:SharedArchiveFile=", List.of(QUIET)),
        /** AOT cache: {@code -XX:AOTCacheOutput} to make, {@code -XX:AOTCache} to use. */
        AOT(".aot", "-XX:AOTCacheOutput=", "-XX:AOTCache=", List.of(QUIET, QUIET_AOT));

        final String suffix;
        final String train;
        final String use;
        final List<String> quiet;

        Kind(String suffix, String train, String use, List<String> quiet) {
            this.suffix = suffix;
            this.train = train;
            this.use = use;
            this.quiet = quiet;
        }

        /**
         * The kind for workers whose JDK is {@code feature} (-1: unknown). An AOT cache from JDK 25 on: measured on
         * Temurin 25 (bench/README.md) its workers were ready sooner and smaller (RSS 52 against 57 MiB) than with
         * the dynamic archive; JDK 24 has the cache but only in two steps, which the supervisor does not run.
         */
        static Kind forFeature(int feature) {
            return feature >= AOT_FEATURE ? AOT : DYNAMIC;
        }
    }

    private final Path file;
    private final Kind kind;
    private final AtomicBoolean training = new AtomicBoolean();

    private ClassDataArchive(Path file, Kind kind) {
        this.file = file;
        this.kind = kind;
    }

    /**
     * The archive for this JDK, options and classpath under {@code cacheDir}, or null where it cannot or should not be
     * used.
     *
     * @param feature the workers' JDK feature version ({@link WorkerJava#feature}), which picks the {@link Kind}
     */
    static ClassDataArchive forWorkers(Path cacheDir, Path java, int feature, List<String> classpath,
                                       List<String> userOptions) {
        if (cacheDir == null || userOptions.stream().anyMatch(o -> USER_CDS.stream().anyMatch(o::startsWith))) {
            return null;
        }
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            Kind kind = Kind.forFeature(feature);
            d.update((java.toAbsolutePath() + "\n" + Runtime.version() + "\n" + feature + "\n")
                    .getBytes(StandardCharsets.UTF_8));
            for (String o : userOptions) {
                // VM and module options can make a JVM refuse an archive; system properties and logging cannot,
                // and some differ between runs of one deployment (a tag, a log file): each would train anew.
                if (!o.startsWith("-D") && !o.startsWith("-Xlog") && !o.startsWith("-verbose")) {
                    d.update(("option " + o + "\n").getBytes(StandardCharsets.UTF_8));
                }
            }
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
            String name = HexFormat.of().formatHex(d.digest(), 0, 12) + kind.suffix;
            return new ClassDataArchive(cacheDir.resolve(name), kind);
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

    /** Whether {@code options} (from {@link #optionsForNext}) make the worker write an archive as it exits. */
    static boolean trains(List<String> options) {
        return options.stream().anyMatch(o -> o.startsWith(Kind.DYNAMIC.train) || o.startsWith(Kind.AOT.train));
    }

    /**
     * The options for the next worker: map the archive if there is one; else, if no worker is writing one, this
     * worker writes it at exit (to {@code temp}, which {@link #trainerExited} renames). Empty otherwise.
     */
    List<String> optionsForNext(Path temp) {
        List<String> out = new ArrayList<>();
        if (Files.isRegularFile(file)) {
            out.add(kind.use + file);
        } else if (training.compareAndSet(false, true)) {
            out.add(kind.train + temp);
        } else {
            return List.of();
        }
        out.addAll(kind.quiet);
        return out;
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
            all = s.filter(p -> p.getFileName().toString().endsWith(Kind.DYNAMIC.suffix)
                    || p.getFileName().toString().endsWith(Kind.AOT.suffix)).sorted(java.util.Comparator.comparing(
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
                // The AOT training's configuration, which the assembling JVM deletes when it gets that far.
                Files.deleteIfExists(temp.resolveSibling(temp.getFileName() + ".config"));
            } catch (IOException e) {
                // Only a stray temporary file in the cache directory.
            }
            training.set(false);
        }
    }
}
