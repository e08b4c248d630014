package io.prefork.internal.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.net.SocketException;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Boot failures name the real cause; handler failures from a client that went away are not alarms. */
@Timeout(10)
class BootFailureTest {
    private static final String W = "com.example.MyWorker";

    @Test
    void theWorkerClassItselfNotFoundIsNamedAsSuch() {
        String m = BootFailure.describe(W, new ClassNotFoundException(W), false);
        assertTrue(m.startsWith("worker class 'com.example.MyWorker' was not found on the worker classpath"), m);
    }

    /** The reported bug: Class.forName of a missing driver inside start() blamed the worker class. */
    @Test
    void aClassMissingInsideStartIsTheOneNamed() {
        ClassNotFoundException e = new ClassNotFoundException("org.postgresql.Driver");
        String m = BootFailure.describe(W, e, true);
        List<String> lines = m.lines().toList();
        assertEquals("worker class 'com.example.MyWorker'.start() failed: class 'org.postgresql.Driver' is missing "
                + "from the worker classpath (ClassNotFoundException); add the jar that has it to --worker-classpath",
                lines.get(0));
        assertTrue(lines.get(1).startsWith("  error: java.lang.ClassNotFoundException: org.postgresql.Driver at "),
                m);
        assertEquals(2, lines.size(), m);
    }

    /** A dependency of the worker class missing while loading it (NoClassDefFoundError, with slashes). */
    @Test
    void aDependencyMissingWhileLoadingIsNamedWithDots() {
        String m = BootFailure.describe(W, new NoClassDefFoundError("com/lib/Helper"), false);
        assertTrue(m.startsWith("worker class 'com.example.MyWorker' could not be loaded: class 'com.lib.Helper' is "
                + "missing from the worker classpath (NoClassDefFoundError)"), m);
    }

    @Test
    void theCauseChainIsOneLinePerCause() {
        Exception root = new IOException("connection refused");
        Exception mid = new IllegalStateException("pool init failed", root);
        Exception top = new RuntimeException("cannot start", mid);
        List<String> lines = BootFailure.describe(W, new InvocationTargetException(top), false).lines().toList();
        assertTrue(lines.get(0).startsWith("worker class 'com.example.MyWorker' constructor failed: "
                + "java.lang.RuntimeException: cannot start"), lines.get(0));
        assertTrue(lines.get(1).startsWith("  error: java.lang.RuntimeException: cannot start at "), lines.get(1));
        assertTrue(lines.get(2).startsWith("  caused by: java.lang.IllegalStateException: pool init failed at "),
                lines.get(2));
        assertTrue(lines.get(3).startsWith("  caused by: java.io.IOException: connection refused at "), lines.get(3));
        assertEquals(4, lines.size());
        // Made here, in the runtime's own package: the first frame outside the JDK and the runtime is JUnit's.
        assertTrue(lines.get(1).contains(" at org.junit."), "the first frame of the caller: " + lines.get(1));
    }

    /** Java N writes class file version N + 44; the JVM's message has the version. */
    @Test
    void aClassForANewerJavaSaysWhichJavaAndWhatToDo() {
        UnsupportedClassVersionError e = new UnsupportedClassVersionError("com/example/MyWorker has been compiled by "
                + "a more recent version of the Java Runtime (class file version 69.0), this version of the Java "
                + "Runtime only recognizes class file versions up to 61.0");
        String m = BootFailure.describe(W, e, false);
        int here = Runtime.version().feature();
        assertTrue(m.startsWith("worker class 'com.example.MyWorker' could not be loaded: class "
                + "'com.example.MyWorker' was compiled for Java 25 (class file version 69), but workers run on Java "
                + here + "; compile it with --release " + here + " (or lower), or run the workers on a newer JDK "
                + "with --worker-java"), m);
    }

    /** A class whose static initialiser failed earlier is not a missing one. */
    @Test
    void couldNotInitializeIsNotMissing() {
        NoClassDefFoundError e = new NoClassDefFoundError("Could not initialize class com.lib.Helper");
        assertEquals(null, BootFailure.missingClass(e));
        assertTrue(BootFailure.describe(W, e, true).startsWith("worker class 'com.example.MyWorker'.start() failed: "
                + "java.lang.NoClassDefFoundError: Could not initialize class com.lib.Helper"));
    }

    @Test
    void aClientThatWentAwayIsRecognisedThroughCauses() {
        assertTrue(HandlerFailure.clientWentAway(new SocketException("Connection reset")));
        assertTrue(HandlerFailure.clientWentAway(new IOException("Connection reset by peer")));
        assertTrue(HandlerFailure.clientWentAway(new java.io.UncheckedIOException(new IOException("Broken pipe"))));
        assertFalse(HandlerFailure.clientWentAway(new IOException("No space left on device")));
        assertFalse(HandlerFailure.clientWentAway(new IllegalStateException("bug")));
    }
}
