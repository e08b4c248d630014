package io.prefork.internal.nativeio;

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
     * @return false if the JVM refuses the signal (reserved, e.g. under -Xrs)
     */
    public static boolean handle(String name, Runnable action) {
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
            handle.invoke(null, signal, handler);
            return true;
        } catch (ReflectiveOperationException | IllegalArgumentException e) {
            return false;
        }
    }

    /** Makes the process ignore signal {@code name}; false if the JVM refuses. */
    public static boolean ignore(String name) {
        try {
            Class<?> signalClass = Class.forName("sun.misc.Signal");
            Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
            Object signal = signalClass.getConstructor(String.class).newInstance(name);
            Object ign = handlerClass.getField("SIG_IGN").get(null);
            signalClass.getMethod("handle", signalClass, handlerClass).invoke(null, signal, ign);
            return true;
        } catch (ReflectiveOperationException | IllegalArgumentException e) {
            return false;
        }
    }
}
