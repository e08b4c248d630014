package io.prefork.internal.runtime;

import io.prefork.worker.Worker;
import java.lang.reflect.InvocationTargetException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Why a worker failed to boot, as a few lines for a person: a first line naming the real cause and what to do, then
 * one line per cause in the chain ({@code caused by: ... at the first frame}). The supervisor shows the first line
 * in its exit message and the worker prints all of them; not a stack trace, which buries the one line that matters
 * (a missing driver class) under fifty frames of reflection.
 *
 * <p>The cause decides the advice, not the place it surfaced: a {@code ClassNotFoundException} thrown by
 * {@code Class.forName("org.postgresql.Driver")} inside {@code start()} names the driver, not the worker class, and
 * an {@code UnsupportedClassVersionError} says which Java the class needs. Shared by the worker runtime (at boot)
 * and the supervisor's check of {@code --worker} before any worker starts.
 */
public final class BootFailure {
    /** Lines of cause chain shown at most: a chain deeper than this is a wrapper loop, not information. */
    private static final int MAX_CAUSES = 8;
    private static final Pattern CLASS_FILE_VERSION = Pattern.compile("class file version (\\d+)");

    private BootFailure() {
    }

    /**
     * The message for a failure while loading, constructing ({@code inStart} false) or starting ({@code inStart}
     * true) worker class {@code className}.
     */
    public static String describe(String className, Throwable t, boolean inStart) {
        Throwable cause = t instanceof InvocationTargetException && t.getCause() != null ? t.getCause() : t;
        String worker = "worker class '" + className + "'";
        String headline;
        if (!inStart && cause == t && t instanceof ClassNotFoundException && className.equals(t.getMessage())) {
            // Only the worker class itself, looked up by name, is "not found"; anything else is a dependency.
            return worker + " was not found on the worker classpath (--worker-classpath); check the class name "
                    + "(package included) and the classpath";
        } else if (!inStart && t instanceof NoSuchMethodException) {
            return worker + " has no public no-argument constructor";
        } else if (!inStart && t instanceof ClassCastException) {
            return worker + " does not implement " + Worker.class.getName();
        }
        String where = inStart ? ".start() failed: " : cause == t ? " could not be loaded: "
                : " constructor failed: ";
        headline = worker + where + advice(cause);
        return headline + chain(cause);
    }

    /**
     * What is wrong and what to do, for the first cause in {@code t}'s chain that has a known remedy (a missing
     * class, a class compiled for a newer Java); otherwise {@code t} itself.
     */
    public static String advice(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof UnsupportedClassVersionError) {
                return tooNew((UnsupportedClassVersionError) c);
            }
            String missing = missingClass(c);
            if (missing != null) {
                return "class '" + missing + "' is missing from the worker classpath (" + c.getClass().getSimpleName()
                        + "); add the jar that has it to --worker-classpath";
            }
            if (c.getCause() == c) {
                break;
            }
        }
        return String.valueOf(t);
    }

    /** The class a ClassNotFoundException or NoClassDefFoundError names (dots, not slashes), else null. */
    public static String missingClass(Throwable t) {
        if (!(t instanceof ClassNotFoundException || t instanceof NoClassDefFoundError) || t.getMessage() == null) {
            return null;
        }
        String m = t.getMessage();
        // "Could not initialize class X" is a class whose static initialiser failed earlier: not a missing one.
        if (m.startsWith("Could not initialize class ")) {
            return null;
        }
        return m.replace('/', '.');
    }

    /**
     * For a class compiled for a newer Java than this JVM's: which Java it needs and the two ways out. The JVM's
     * message has the class file version ({@code class file version 69.0}); Java N writes version N + 44.
     */
    public static String tooNew(UnsupportedClassVersionError e) {
        String m = String.valueOf(e.getMessage());
        int space = m.indexOf(' ');
        String cls = (space > 0 ? m.substring(0, space) : m).replace('/', '.');
        Matcher v = CLASS_FILE_VERSION.matcher(m);
        String needs = v.find() ? "Java " + (Integer.parseInt(v.group(1)) - 44) + " (class file version "
                + v.group(1) + ")" : "a newer Java";
        return "class '" + cls + "' was compiled for " + needs + ", but workers run on Java "
                + Runtime.version().feature() + "; compile it with --release " + Runtime.version().feature()
                + " (or lower), or run the workers on a newer JDK with --worker-java";
    }

    /**
     * The first frame of code that is neither the JDK's nor this runtime's (where the user's code called in), or
     * the first frame if there is none: a missing class surfaces deep inside the class loader.
     */
    private static StackTraceElement firstOwnFrame(StackTraceElement[] frames) {
        for (StackTraceElement f : frames) {
            String c = f.getClassName();
            if (!c.startsWith("java.") && !c.startsWith("jdk.") && !c.startsWith("sun.")
                    && !c.startsWith("io.prefork.internal.")) {
                return f;
            }
        }
        return frames.length > 0 ? frames[0] : null;
    }

    /** One line per throwable in the chain: {@code caused by: <it> at <its first frame>}. */
    static String chain(Throwable t) {
        StringBuilder out = new StringBuilder();
        int n = 0;
        for (Throwable c = t; c != null && n < MAX_CAUSES; c = c.getCause() == c ? null : c.getCause(), n++) {
            out.append("\n  ").append(n == 0 ? "error: " : "caused by: ").append(c);
            StackTraceElement frame = firstOwnFrame(c.getStackTrace());
            if (frame != null) {
                out.append(" at ").append(frame);
            }
        }
        return out.toString();
    }
}
