package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.NativeException;
import jnr.ffi.LibraryLoader;

/**
 * Anonymous memory with a descriptor ({@code memfd_create(2)}), for the region each worker shares with the supervisor
 * ({@code io.prefork.internal.wire.SharedRegion}). Not a file in the private bootstrap directory: a memfd has no
 * name anyone could open, needs no cleanup when the supervisor is killed, and cannot fill a disk.
 */
public final class Memfd {
    /** The one call; the runtime's {@code LibC} is shared with workers, which never create regions. */
    public interface MemfdLib {
        int memfd_create(String name, int flags);
    }

    private static final MemfdLib LIB = LibraryLoader.create(MemfdLib.class).load("c");
    /** Not inherited by any program the supervisor starts: a worker gets its region only through SCM_RIGHTS. */
    private static final int MFD_CLOEXEC = 1;

    private Memfd() {
    }

    /**
     * A new, empty memfd, close-on-exec.
     *
     * @param name shown in {@code /proc/PID/fd} as {@code /memfd:NAME}, for whoever debugs
     * @return its descriptor, owned by the caller
     */
    public static int create(String name) throws NativeException {
        int fd = LIB.memfd_create(name, MFD_CLOEXEC);
        if (fd < 0) {
            throw new NativeException("memfd_create(" + name + ", MFD_CLOEXEC)", jnr.ffi.Runtime.getRuntime(LIB).getLastError());
        }
        return fd;
    }
}
