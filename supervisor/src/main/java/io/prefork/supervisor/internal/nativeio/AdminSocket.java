package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;

/**
 * The descriptor-level steps of handing the admin endpoint's listening socket over in an upgrade. The endpoint is the
 * JDK's {@code HttpServer}, which binds a socket of its own and shows no descriptor: the old supervisor finds it by
 * address ({@link #find}) to send a duplicate; the new one puts the received socket in place of the one its own
 * server bound ({@link #replace}), so both serve one socket, one accept queue, and the port never stops answering.
 */
public final class AdminSocket {
    /** {@code dup2}: the runtime's {@code LibC} is shared with workers, which never need it. */
    public interface DupLib {
        int dup2(int oldFd, int newFd);
    }

    private static final DupLib LIB = LibraryLoader.create(DupLib.class).load("c");
    private static final jnr.ffi.Runtime RUNTIME = jnr.ffi.Runtime.getRuntime(LIB);
    private static final int SO_ACCEPTCONN = 30;

    private AdminSocket() {
    }

    /**
     * The descriptor of this process's listening TCP socket bound to exactly {@code bound} (its real port), looked
     * up in {@code /proc/self/fd} with getsockname; -1 if there is none. The number stays valid only while its owner
     * (the admin server) keeps the socket open.
     */
    public static int find(InetSocketAddress bound) throws IOException {
        Pointer name = Native.allocate(Native.SOCKADDR_BYTES);
        Pointer length = Native.allocate(4);
        Pointer value = Native.allocate(4);
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : (Iterable<Path>) fds::iterator) {
                int fd = Integer.parseInt(p.getFileName().toString());
                String target;
                try {
                    target = Files.readSymbolicLink(p).toString();
                } catch (IOException gone) {
                    continue; // closed since listed (the directory's own descriptor, for one)
                }
                if (!target.startsWith("socket:")) {
                    continue;
                }
                length.putInt(0, Native.SOCKADDR_BYTES);
                if (Native.LIBC.getsockname(fd, name, length) < 0) {
                    continue;
                }
                int family = name.getShort(0);
                if (family != Native.AF_INET && family != Native.AF_INET6) {
                    continue;
                }
                length.putInt(0, 4);
                if (Native.LIBC.getsockopt(fd, Native.SOL_SOCKET, SO_ACCEPTCONN, value, length) < 0
                        || value.getInt(0) == 0) {
                    continue;
                }
                if (bound.equals(Native.sockaddr(name))) {
                    return fd;
                }
            }
        }
        return -1;
    }

    /** A close-on-exec duplicate of {@code fd}, owned by the caller. */
    public static int duplicate(int fd) throws NativeException {
        return Native.check(Native.LIBC.fcntl(fd, Native.F_DUPFD_CLOEXEC, 3), "fcntl(fd=" + fd + ", F_DUPFD_CLOEXEC)");
    }

    /**
     * Makes descriptor {@code target} refer to {@code source}'s socket ({@code dup2}: the socket {@code target} had is
     * closed, atomically), close-on-exec again (dup2 clears the flag), then closes {@code source}.
     */
    public static void replace(int target, int source) throws NativeException {
        if (LIB.dup2(source, target) < 0) {
            throw new NativeException("dup2(" + source + ", " + target + ")", RUNTIME.getLastError());
        }
        Native.setCloseOnExec(target);
        Native.closeQuietly(source);
    }
}
