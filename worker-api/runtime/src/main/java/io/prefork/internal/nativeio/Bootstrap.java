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
 *   <li>The supervisor sends one byte with the worker's channel end attached and closes the connection.</li>
 * </ol>
 */
public final class Bootstrap {
    private Bootstrap() {
    }

    /**
     * The worker's end: connects to {@code path}, presents {@code token} and receives its channel end.
     *
     * @return the channel to the supervisor, owned by the caller
     * @throws IOException naming the step that failed
     */
    public static ControlChannel connect(Path path, String token, int timeoutMs) throws IOException {
        // Plain socket calls through the backend rather than jnr-unixsocket's channel: that library alone loaded
        // about a hundred classes into every worker (its own jnr-ffi binding of libc, jnr-enxio, jnr-constants).
        int fd = Syscalls.connectUnix(path, timeoutMs);
        try {
            Syscalls.sendAll(fd, (token + "\n").getBytes(StandardCharsets.US_ASCII));
            int[] got = Syscalls.receiveWithDescriptor(fd, new byte[1]);
            if (got[1] < 0) {
                throw new IOException("the supervisor at " + path + " closed the bootstrap connection without sending "
                        + "a channel (" + (got[0] == 0 ? "token refused or supervisor stopping" : "no descriptor") + ")");
            }
            return new ControlChannel(got[1]);
        } finally {
            Syscalls.closeQuietly(fd);
        }
    }
}
