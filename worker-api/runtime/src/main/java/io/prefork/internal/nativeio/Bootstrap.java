package io.prefork.internal.nativeio;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * How a worker JVM gets its end of the supervisor's socketpair.
 *
 * <p>A worker is started with {@link ProcessBuilder}, which closes every descriptor above 2 in the child: good,
 * because then the worker inherits nothing of the supervisor's (listening socket, other workers' channels), but it
 * means the socketpair end cannot be inherited either. So the worker connects back to a private filesystem endpoint
 * and receives its end there, over SCM_RIGHTS:
 *
 * <ol>
 *   <li>The supervisor listens on {@code boot.sock} in a fresh directory of mode 0700 (socket 0600), so only its own
 *       user can connect (its side is the supervisor's {@code BootstrapServer}).</li>
 *   <li>It starts the worker with a one-time random token in its environment (not on its command line, which any
 *       user can read in {@code /proc}).</li>
 *   <li>The worker connects and writes the token and a newline. The server reads the peer's credentials from the
 *       kernel (SO_PEERCRED), so the supervisor can check that the connecting pid is the process it started.</li>
 *   <li>The supervisor sends one byte with the worker's channel end attached, then one byte with the descriptor of
 *       the memory the worker shares with it ({@code SharedRegion}), and closes the connection.</li>
 * </ol>
 */
public final class Bootstrap {
    private Bootstrap() {
    }

    /** What the bootstrap hands a worker: its channel and its shared region's descriptor, both the caller's. */
    public static final class Handed {
        public final ControlChannel channel;
        public final int regionFd;

        Handed(ControlChannel channel, int regionFd) {
            this.channel = channel;
            this.regionFd = regionFd;
        }
    }

    /**
     * The worker's end: connects to {@code path}, presents {@code token} and receives its channel end, then its
     * shared region's descriptor.
     *
     * @return the channel to the supervisor and the region's descriptor, owned by the caller
     * @throws IOException naming the step that failed (and then owning nothing)
     */
    public static Handed connect(Path path, String token, int timeoutMs) throws IOException {
        // Plain socket calls through the backend rather than jnr-unixsocket's channel: that library alone loaded
        // about a hundred classes into every worker (its own jnr-ffi binding of libc, jnr-enxio, jnr-constants).
        int fd = Syscalls.connectUnix(path, timeoutMs);
        try {
            Syscalls.sendAll(fd, (token + "\n").getBytes(StandardCharsets.US_ASCII));
            byte[] tag = new byte[1];
            int[] got = Syscalls.receiveWithDescriptor(fd, tag);
            if (got[1] < 0) {
                throw new IOException("the supervisor at " + path + " closed the bootstrap connection without sending "
                        + "a channel (" + (got[0] == 0 ? "token refused or supervisor stopping" : "no descriptor") + ")");
            }
            int[] region;
            try {
                region = Syscalls.receiveWithDescriptor(fd, tag);
            } catch (IOException e) {
                Syscalls.closeQuietly(got[1]);
                throw e;
            }
            if (region[1] < 0 || tag[0] != 'R') {
                Syscalls.closeQuietly(got[1]);
                Syscalls.closeQuietly(region[1]);
                throw new IOException("the supervisor at " + path + " sent a channel but no shared region (a "
                        + "supervisor of an older Prefork release?): run the supervisor and workers from the same "
                        + "release");
            }
            return new Handed(new ControlChannel(got[1]), region[1]);
        } finally {
            Syscalls.closeQuietly(fd);
        }
    }
}
