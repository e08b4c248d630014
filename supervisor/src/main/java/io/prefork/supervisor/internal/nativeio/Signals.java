package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

/**
 * POSIX signal handling through the JDK's {@code sun.misc.Signal} (module jdk.unsupported, exported, stable from
 * JDK 8 to 25), reached reflectively: javac flags any direct use of {@code sun.misc} with a warning that cannot be
 * suppressed, and this build treats warnings as errors.
 *
 * <p>Handlers run on a JVM "SIGxxx handler" thread, not in signal context, but they should still only post an
 * event to the thread that owns the state (gunicorn's arbiter does the same: the handler enqueues, the loop acts).
 */
public final class Signals {
    private Signals() {
    }

    /**
     * Installs {@code action} for signal {@code name} ("TERM", "INT", "HUP", ...).
     *
     * @return null when installed; otherwise why not, for a warning. HotSpot refuses a signal it reserves (all of
     *     HUP, INT and TERM under {@code -Xrs}), and silently installs nothing for HUP, INT or TERM when the process
     *     started with that signal ignored ({@code nohup} ignores HUP; a non-interactive shell starts background
     *     jobs with INT ignored): {@code Signal.handle} then returns {@code SIG_IGN} as if it had worked, and the
     *     signal stays ignored.
     */
    public static String handle(String name, Runnable action) {
        return handle(name, action, false);
    }

    /**
     * Installs {@code action} for signal {@code name}, as {@link #handle(String, Runnable)} does; with
     * {@code evenIfIgnored}, a signal ignored since the process started (SIG_IGN inherited across exec) is first
     * given back its default disposition, so that the JVM installs the handler: what Python's
     * {@code signal.signal} does for gunicorn, whose HUP reloads under {@code nohup} too. The default disposition
     * (terminate) lasts only from that reset to the JVM's install, a few microseconds at start.
     */
    public static String handle(String name, Runnable action, boolean evenIfIgnored) {
        String problem = install(name, action);
        Integer number = NUMBERS.get(name);
        if (problem == null || !evenIfIgnored || number == null || !problem.startsWith(IGNORED_AT_START)) {
            return problem;
        }
        if (Native.LIBC.signal(number, 0 /* SIG_DFL */) == -1L /* SIG_ERR */) {
            return problem + " (and signal(" + number + ", SIG_DFL) failed: errno " + Native.errno() + ")";
        }
        return install(name, action);
    }

    private static final String IGNORED_AT_START = "it was ignored when this process started";
    private static final java.util.Map<String, Integer> NUMBERS = java.util.Map.of("HUP", 1, "INT", 2, "TERM", 15);

    private static String install(String name, Runnable action) {
        try {
            Class<?> signalClass = Class.forName("sun.misc.Signal");
            Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
            Object signal = signalClass.getConstructor(String.class).newInstance(name);
            Object handler = Proxy.newProxyInstance(Signals.class.getClassLoader(), new Class<?>[] {handlerClass},
                    (proxy, method, args) -> {
                        if (method.getName().equals("handle")) {
                            action.run();
                            return null;
                        }
                        if (method.getName().equals("toString")) {
                            return "prefork handler for SIG" + name;
                        }
                        if (method.getName().equals("hashCode")) {
                            return System.identityHashCode(proxy);
                        }
                        return proxy == args[0];
                    });
            Method handle = signalClass.getMethod("handle", signalClass, handlerClass);
            Object previous = handle.invoke(null, signal, handler);
            if (previous == handlerClass.getField("SIG_IGN").get(null) && SHUTDOWN_SIGNALS.contains(name)) {
                return IGNORED_AT_START + " (nohup ignores HUP; a non-interactive shell starts "
                        + "background jobs with INT ignored), and the JVM keeps it ignored";
            }
            return null;
        } catch (InvocationTargetException e) {
            return "the JVM reserves it (" + e.getCause().getMessage() + "; started with -Xrs?)";
        } catch (ReflectiveOperationException | IllegalArgumentException e) {
            return "the JVM does not let it be handled (" + e + ")";
        }
    }

    /** The signals HotSpot uses for shutdown hooks, and leaves ignored if they were ignored at start. */
    private static final java.util.Set<String> SHUTDOWN_SIGNALS = java.util.Set.of("HUP", "INT", "TERM");
}
