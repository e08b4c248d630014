package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import jnr.unixsocket.Credentials;
import jnr.unixsocket.UnixServerSocketChannel;
import jnr.unixsocket.UnixSocketAddress;
import jnr.unixsocket.UnixSocketChannel;
import jnr.unixsocket.UnixSocketOptions;

/**
 * The supervisor's end of the bootstrap: the private endpoint that workers connect back to, to receive their end of
 * the supervisor's socketpair. The worker's end, and the whole handshake, are described in the worker runtime's
 * {@code io.prefork.internal.nativeio.Bootstrap}:
 *
 * <ol>
 *   <li>This server listens on {@code boot.sock} in a fresh directory of mode 0700 (socket 0600), so only its own
 *       user can connect; both are removed on {@link #close()}, or by the next supervisor if this one was killed
 *       ({@link PrivateDirectories}).</li>
 *   <li>The supervisor starts the worker with a one-time random token in its environment (not on its command line,
 *       which any user can read in {@code /proc}).</li>
 *   <li>The worker connects and writes the token and a newline. The server reads the peer's credentials from the
 *       kernel (SO_PEERCRED), so the supervisor can check that the connecting pid is the process it started.</li>
 *   <li>The supervisor sends one byte with the worker's channel end attached, then one with its shared region's
 *       descriptor, and closes the connection.</li>
 * </ol>
 */
public final class BootstrapServer implements Closeable {
    /** Longest token line accepted, so a confused peer cannot make the server buffer without bound. */
    static final int MAX_TOKEN_BYTES = 128;

    private final Path directory;
    private final Path socket;
    private final UnixServerSocketChannel channel;
    private volatile boolean closed;

    private BootstrapServer(Path directory, Path socket, UnixServerSocketChannel channel) {
        this.directory = directory;
        this.socket = socket;
        this.channel = channel;
    }

    /** Creates the private directory and listens in it, for workers of the supervisor's own user. */
    public static BootstrapServer open() throws IOException {
        return open(-1, -1);
    }

    /**
     * Like {@link #open()}, for workers that run as {@code uid}:{@code gid} ({@code --user}; -1 for ours): the
     * directory and the socket are given to that user, still 0700 and 0600, so that it, and only it (and root), can
     * connect. The token and SO_PEERCRED checks are unchanged.
     */
    public static BootstrapServer open(int uid, int gid) throws IOException {
        Path dir = PrivateDirectories.create("prefork-");
        Path sock = dir.resolve("boot.sock");
        UnixServerSocketChannel ch = UnixServerSocketChannel.open();
        try {
            ch.socket().bind(new UnixSocketAddress(sock.toFile()), 64);
            Native.setCloseOnExec(ch.getFD());
            Files.setPosixFilePermissions(sock, PosixFilePermissions.fromString("rw-------"));
            if (uid >= 0) {
                for (Path p : new Path[] {sock, dir}) {
                    Files.setAttribute(p, "unix:gid", gid);
                    Files.setAttribute(p, "unix:uid", uid);
                }
            }
        } catch (IOException | RuntimeException e) {
            ch.close();
            Files.deleteIfExists(sock);
            Files.deleteIfExists(dir);
            throw e;
        }
        return new BootstrapServer(dir, sock, ch);
    }

    public Path path() {
        return socket;
    }

    /**
     * Blocks for the next worker and reads its token. A peer that sends no token line within
     * {@code readTimeoutMs} is dropped and the next one awaited.
     *
     * @return the arrival, which the caller owns and must close; null once this server is closed
     */
    public Arrival accept(int readTimeoutMs) throws IOException {
        while (!closed) {
            UnixSocketChannel c;
            try {
                c = channel.accept();
            } catch (IOException | RuntimeException e) {
                // Closing the server from another thread surfaces here in several shapes (EINVAL after
                // shutdown, NotYetBoundException once jnr has marked the channel closed): all mean "stop".
                if (closed) {
                    return null;
                }
                throw e;
            }
            if (c == null) {
                continue;
            }
            try {
                Native.setCloseOnExec(c.getFD());
                c.setOption(UnixSocketOptions.SO_RCVTIMEO, readTimeoutMs);
                Credentials cred = c.getOption(UnixSocketOptions.SO_PEERCRED);
                String token = readLine(c);
                if (token != null) {
                    return new Arrival(token, cred.getPid(), cred.getUid(), c);
                }
            } catch (IOException e) {
                // A peer that vanished or stalled mid-handshake: drop it, keep serving the others.
            }
            c.close();
        }
        return null;
    }

    /**
     * One line (without its newline) of at most {@link #MAX_TOKEN_BYTES}, or null at end of stream or if none came
     * within the socket's receive timeout or that many bytes: the one-line handshakes here and in
     * {@link UpgradeEndpoint}.
     */
    static String readLine(UnixSocketChannel c) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(MAX_TOKEN_BYTES);
        while (buf.hasRemaining()) {
            if (c.read(buf) <= 0) {
                return null;
            }
            for (int i = 0; i < buf.position(); i++) {
                if (buf.get(i) == '\n') {
                    return new String(buf.array(), 0, i, StandardCharsets.US_ASCII);
                }
            }
        }
        return null;
    }

    /** Stops accepting (waking a blocked {@link #accept}) and removes the socket file and its directory. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        // shutdown() wakes a thread blocked in accept(); close() alone does not on Linux.
        Native.shutdown(channel.getFD());
        try {
            channel.close();
        } catch (IOException ignored) {
            // Nothing useful to do: the files are removed below either way.
        }
        try {
            Files.deleteIfExists(socket);
            Files.deleteIfExists(directory);
        } catch (IOException ignored) {
            // Best effort: a leftover empty 0700 directory in the temp dir is harmless.
        }
    }

    /** A worker that connected: who it says it is (token) and who the kernel says it is (pid, uid). */
    public static final class Arrival implements Closeable {
        public final String token;
        public final long pid;
        public final int uid;
        private final UnixSocketChannel channel;

        Arrival(String token, long pid, int uid, UnixSocketChannel channel) {
            this.token = token;
            this.pid = pid;
            this.uid = uid;
            this.channel = channel;
        }

        /**
         * Sends the worker its channel end, then its shared region's descriptor, one per message ('K' then 'R'): on a
         * stream socket each message with SCM_RIGHTS stays a message of its own, so the worker's two one-byte
         * receives get one descriptor each. The caller keeps (and then closes) its own copies.
         */
        public void sendChannel(int channelFd, int regionFd) throws NativeException {
            Native.sendWithDescriptor(channel.getFD(), new byte[] {'K'}, channelFd);
            Native.sendWithDescriptor(channel.getFD(), new byte[] {'R'}, regionFd);
        }

        @Override
        public void close() {
            try {
                channel.close();
            } catch (IOException ignored) {
                // Closing a unix socket we only wrote to has nothing to report.
            }
        }
    }
}
