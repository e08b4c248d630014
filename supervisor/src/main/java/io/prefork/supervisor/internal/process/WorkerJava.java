package io.prefork.supervisor.internal.process;

import io.prefork.supervisor.ConfigException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code --worker-java}: the JVM the workers run on, given as a {@code java} executable or as a JDK home (people
 * copy either from {@code JAVA_HOME} or {@code which java}). Resolved and checked once, at configuration, so a
 * wrong path is one line naming it rather than N workers that fail to start.
 */
public final class WorkerJava {
    /** The oldest Java the worker runtime runs on: its classes are compiled with {@code --release 17}. */
    public static final int MINIMUM_FEATURE = 17;
    private static final Pattern JAVA_VERSION = Pattern.compile("(?m)^JAVA_VERSION=\"(\\d+)(?:\\.[^\"]*)?\"");

    private WorkerJava() {
    }

    /**
     * The java executable {@code given} names: itself if it is a file, {@code bin/java} under it if it is a
     * directory.
     *
     * @throws ConfigException naming {@code --worker-java} and the path, when there is no executable java there,
     *     or when its JDK says (in its {@code release} file) that it is older than {@link #MINIMUM_FEATURE}
     */
    public static Path resolve(Path given) {
        Path java = Files.isDirectory(given) ? given.resolve("bin").resolve("java") : given;
        if (!Files.exists(given)) {
            throw new ConfigException("--worker-java", given, "does not exist; give a java executable (e.g. "
                    + "/usr/lib/jvm/jdk-25/bin/java) or a JDK home (e.g. /usr/lib/jvm/jdk-25)");
        }
        if (!Files.isRegularFile(java)) {
            throw new ConfigException("--worker-java", given, "is a directory without bin/java; give a JDK home "
                    + "(the directory that has bin/java) or the java executable itself");
        }
        if (!Files.isExecutable(java)) {
            throw new ConfigException("--worker-java", java, "is not executable by this user; check its permissions"
                    + " (chmod +x) or give another JDK");
        }
        int feature = feature(java);
        if (feature > 0 && feature < MINIMUM_FEATURE) {
            throw new ConfigException("--worker-java", given, "is Java " + feature + "; the worker runtime needs "
                    + "Java " + MINIMUM_FEATURE + " or newer");
        }
        return java.toAbsolutePath();
    }

    /**
     * The feature version (17, 25...) of the JDK that {@code java} belongs to, from the {@code release} file every
     * JDK and JRE image carries beside {@code bin}; -1 when there is none (a wrapper script, a distribution's
     * symlink farm): then the worker JVM itself is the judge.
     */
    public static int feature(Path java) {
        Path real;
        try {
            real = java.toRealPath();
        } catch (IOException e) {
            return -1;
        }
        Path bin = real.getParent();
        Path home = bin == null ? null : bin.getParent();
        if (home == null) {
            return -1;
        }
        try {
            Matcher m = JAVA_VERSION.matcher(Files.readString(home.resolve("release"), StandardCharsets.UTF_8));
            if (m.find()) {
                int major = Integer.parseInt(m.group(1));
                // Java 8 and older say "1.8.0_x".
                return major == 1 ? 8 : major;
            }
        } catch (IOException | NumberFormatException e) {
            // no release file, or an unexpected one
        }
        return -1;
    }
}
