package io.prefork.internal.nativeio;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.stream.Stream;

/** Test helpers around raw descriptors: identity via /proc, counting, accepting with a deadline. */
public final class TestFds {
    private TestFds() {
    }

    /** What /proc/self/fd/N points to, e.g. {@code socket:[12345]}: equal for two descriptors of one open file. */
    public static String target(int fd) {
        try {
            return Files.readSymbolicLink(Paths.get("/proc/self/fd/" + fd)).toString();
        } catch (IOException e) {
            throw new UncheckedIOException("descriptor " + fd + " is not open", e);
        }
    }

    /**
     * Whether descriptor {@code fd} is open and still refers to {@code target} (from {@link #target}): a closed
     * number that something else in this JVM (a class loader opening a jar, another test's leftover thread) has
     * already reused does not count.
     */
    public static boolean isOpenAs(int fd, String target) {
        try {
            return Files.readSymbolicLink(Paths.get("/proc/self/fd/" + fd)).toString().equals(target);
        } catch (IOException e) {
            return false; // not open
        }
    }

    public static boolean isOpen(int fd) {
        return Files.exists(Paths.get("/proc/self/fd/" + fd), java.nio.file.LinkOption.NOFOLLOW_LINKS);
    }

    /** Entries of /proc/self/fd (the listing's own directory descriptor counts the same every time). */
    public static int count() throws IOException {
        try (Stream<Path> s = Files.list(Paths.get("/proc/self/fd"))) {
            return (int) s.count();
        }
    }

    /** A descriptor that is open but not a socket (an eventfd), owned by the caller. */
    public static int eventfd() throws NativeException {
        return Native.check(Native.LIBC.eventfd(0, Native.EFD_NONBLOCK | Native.EFD_CLOEXEC), "eventfd()");
    }
}
