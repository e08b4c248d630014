package io.prefork.supervisor.internal.process;

import io.prefork.internal.runtime.BootFailure;
import io.prefork.supervisor.ConfigException;
import io.prefork.worker.Worker;
import java.io.IOException;
import java.lang.reflect.Modifier;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarFile;

/**
 * Checks, before any worker JVM is started, that {@code --worker} names a loadable class implementing
 * {@link Worker} with a public no-argument constructor. Loading does not initialise the class (no static
 * initialiser of user code runs in the supervisor); it turns the commonest mistakes (a typo in the class name, a
 * wrong jar) into one clear line and exit code 2 instead of N failing JVMs.
 */
public final class WorkerClassCheck {
    private WorkerClassCheck() {
    }

    public static void check(String className, List<Path> classpath) {
        check(className, classpath, false);
    }

    /**
     * @param otherJava whether workers run on another JVM ({@code --worker-java}): then a class compiled for a newer
     *     Java than this one is not an error here (the worker JVM may well run it; if not, its boot says so)
     */
    public static void check(String className, List<Path> classpath, boolean otherJava) {
        for (Path p : classpath) {
            checkReadable(p);
        }
        URL[] urls = new URL[classpath.size()];
        for (int i = 0; i < urls.length; i++) {
            try {
                urls[i] = classpath.get(i).toUri().toURL();
            } catch (MalformedURLException e) {
                throw new ConfigException("--worker-classpath", classpath.get(i), "is not a usable path: " + e.getMessage());
            }
        }
        // Parent: the loader that has io.prefork.worker, so Worker is the same interface on both sides.
        try (URLClassLoader loader = new URLClassLoader(urls, Worker.class.getClassLoader())) {
            Class<?> c;
            try {
                c = Class.forName(className, false, loader);
            } catch (ClassNotFoundException e) {
                if (!className.equals(e.getMessage())) {
                    throw new ConfigException("--worker", className, "cannot be loaded: " + BootFailure.advice(e));
                }
                throw new ConfigException("--worker", className, "class not found on --worker-classpath "
                        + classpath + "; check the class name (package included) and the classpath");
            } catch (UnsupportedClassVersionError e) {
                if (otherJava) {
                    return; // this JVM cannot read it; the worker JVM checks it as it boots
                }
                throw new ConfigException("--worker", className, BootFailure.tooNew(e));
            } catch (LinkageError e) {
                throw new ConfigException("--worker", className, "cannot be loaded: " + BootFailure.advice(e));
            }
            if (!Worker.class.isAssignableFrom(c)) {
                throw new ConfigException("--worker", className, "does not implement " + Worker.class.getName());
            }
            // The JVM checks only the class's own access flags (not its enclosing class's) when the runtime, in
            // another package, calls its constructor; an inner (non-static) class has no no-argument constructor.
            if (!Modifier.isPublic(c.getModifiers())) {
                throw new ConfigException("--worker", className, "is not public; the worker runtime can only create "
                        + "public classes");
            }
            if (c.getEnclosingClass() != null && !Modifier.isStatic(c.getModifiers())) {
                throw new ConfigException("--worker", className, "is an inner class; make it static or top-level");
            }
            if (c.isInterface() || Modifier.isAbstract(c.getModifiers())) {
                throw new ConfigException("--worker", className, "is abstract; name a concrete class");
            }
            try {
                c.getConstructor();
            } catch (NoSuchMethodException e) {
                throw new ConfigException("--worker", className, "needs a public no-argument constructor");
            } catch (LinkageError e) {
                throw new ConfigException("--worker", className, "cannot be loaded: " + BootFailure.advice(e));
            }
        } catch (IOException e) {
            // Closing the loader only releases jar handles; nothing to report.
        }
    }

    /**
     * A classpath entry that is a file must be a readable jar: a class loader skips a corrupt one without a word, so
     * the worker class in it would be reported as "not found" instead of the jar as broken.
     */
    private static void checkReadable(Path p) {
        if (Files.isDirectory(p)) {
            return;
        }
        try (JarFile jar = new JarFile(p.toFile())) {
            jar.size(); // opening reads the central directory: a truncated or non-zip file fails there
        } catch (IOException e) {
            throw new ConfigException("--worker-classpath", p, "cannot be read as a jar (" + e.getMessage()
                    + "); it is damaged or not a jar: build or download it again");
        }
    }
}
