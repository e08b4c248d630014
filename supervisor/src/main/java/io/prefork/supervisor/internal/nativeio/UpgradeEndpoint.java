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
import java.util.ArrayList;
import java.util.List;
import jnr.ffi.Pointer;
import jnr.unixsocket.Credentials;
import jnr.unixsocket.UnixServerSocketChannel;
import jnr.unixsocket.UnixSocketAddress;
import jnr.unixsocket.UnixSocketChannel;
import jnr.unixsocket.UnixSocketOptions;

/**
 * How a supervisor upgrading itself (USR2) hands its listening sockets to the new supervisor it started, and learns
 * that the new one is ready. The new supervisor is started with {@code ProcessBuilder}, whose child closes every
 * descriptor above 2 before exec, so the sockets cannot simply be inherited (gunicorn's way, an fd number in the
 * environment): they travel over AF_UNIX with SCM_RIGHTS instead, like the workers' channels
 * ({@link BootstrapServer}), and arrive as new descriptors of the same sockets.
 *
 * <pre>
 *   old supervisor                                     new supervisor (its child)
 *   listens on DIR/upgrade.sock (DIR 0700, sock 0600)
 *   starts the new one with the path and a one-time
 *   token in its environment                    <----  connects, writes TOKEN '\n'
 *   checks the token, and the peer's pid
 *   (SO_PEERCRED) is the process it started
 *   one message per listener: 'L' + SCM_RIGHTS  ---->  receives each, in --listen order
 *   with --admin: 'A' + SCM_RIGHTS              ---->  its admin socket, served at once (AdminServer.adopt)
 *   'E' (the end)                               ---->  serves them (as inherited listeners), boots its workers
 *   waits                                       <----  "READY\n" once every worker is ready
 *   stops accepting, drains, exits                     (end of stream instead: it failed; the old one serves on)
 * </pre>
 */
public final class UpgradeEndpoint implements Closeable {
    private static final byte LISTENER = 'L';
    private static final byte ADMIN = 'A';
    private static final byte END = 'E';
    static final String READY = "READY";

    private final Path directory;
    private final Path socket;
    private final UnixServerSocketChannel channel;

    private UpgradeEndpoint(Path directory, Path socket, UnixServerSocketChannel channel) {
        this.directory = directory;
        this.socket = socket;
        this.channel = channel;
    }

    /** The old supervisor's end: a private directory and a socket in it, only for this process's user. */
    public static UpgradeEndpoint open() throws IOException {
        Path dir = PrivateDirectories.create("prefork-upgrade-");
        Path sock = dir.resolve("upgrade.sock");
        UnixServerSocketChannel ch = UnixServerSocketChannel.open();
        try {
            ch.socket().bind(new UnixSocketAddress(sock.toFile()), 1);
            Native.setCloseOnExec(ch.getFD());
            Files.setPosixFilePermissions(sock, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException | RuntimeException e) {
            ch.close();
            Files.deleteIfExists(sock);
            Files.deleteIfExists(dir);
            throw e;
        }
        return new UpgradeEndpoint(dir, sock, ch);
    }

    public Path path() {
        return socket;
    }

    /**
     * Waits up to {@code timeoutMs} for the new supervisor to connect; gives up early once {@code process} has
     * exited. A connection from another process, or with the wrong token, is closed and the wait goes on.
     *
     * @return the new supervisor's connection, owned by the caller; null when none came in time or it exited
     */
    public Peer accept(Process process, String token, long timeoutMs) throws IOException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        Pointer pollFd = Native.allocate(8);
        while (process.isAlive() && System.nanoTime() - deadline < 0) {
            pollFd.putInt(0, channel.getFD());
            pollFd.putShort(4, Native.POLLIN);
            pollFd.putShort(6, (short) 0);
            // A tenth of a second at most, to notice the process exiting (a failed boot) without a second thread.
            int ready = Native.LIBC.poll(pollFd, 1, 100);
            if (ready < 0 && Native.errno() != Native.EINTR) {
                throw new NativeException("poll(" + socket + ")", Native.errno());
            }
            if (ready <= 0) {
                continue;
            }
            UnixSocketChannel c = channel.accept();
            if (c == null) {
                continue;
            }
            try {
                Native.setCloseOnExec(c.getFD());
                c.setOption(UnixSocketOptions.SO_RCVTIMEO, 10_000);
                Credentials cred = c.getOption(UnixSocketOptions.SO_PEERCRED);
                String line = BootstrapServer.readLine(c);
                if (cred.getPid() == process.pid() && token.equals(line)) {
                    return new Peer(c);
                }
            } catch (IOException e) {
                // Vanished or stalled mid-handshake: not the one we wait for.
            }
            c.close();
        }
        return null;
    }

    /** Removes the socket and its directory; the connection a {@link Peer} holds stays open. */
    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // The files go below either way.
        }
        try {
            Files.deleteIfExists(socket);
            Files.deleteIfExists(directory);
        } catch (IOException ignored) {
            // Best effort: a leftover empty 0700 directory in the temp dir is harmless.
        }
    }

    /** What {@link Peer#awaitReady} saw. */
    public enum Readiness { READY, CLOSED, TIMEOUT }

    /** The old supervisor's connection to the new one. */
    public static final class Peer implements Closeable {
        private final UnixSocketChannel channel;

        Peer(UnixSocketChannel channel) {
            this.channel = channel;
        }

        /**
         * Sends each listener, in order, then the admin socket unless {@code adminFd} is -1; the caller keeps its own
         * descriptors (the peer gets new ones).
         */
        public void sendListeners(List<Integer> fds, int adminFd) throws NativeException {
            for (int fd : fds) {
                Native.sendWithDescriptor(channel.getFD(), new byte[] {LISTENER}, fd);
            }
            if (adminFd >= 0) {
                Native.sendWithDescriptor(channel.getFD(), new byte[] {ADMIN}, adminFd);
            }
            ByteBuffer end = ByteBuffer.wrap(new byte[] {END});
            try {
                channel.write(end);
            } catch (IOException e) {
                throw new NativeException("write(" + channel + ", end of listeners)", Native.EPIPE);
            }
        }

        /**
         * Waits up to {@code timeoutMs} for the new supervisor's "ready".
         *
         * @return {@code READY} when it said so; {@code CLOSED} at end of stream (it is exiting: a failed boot);
         *     {@code TIMEOUT} when the time passed first
         */
        public Readiness awaitReady(long timeoutMs) {
            try {
                channel.setOption(UnixSocketOptions.SO_RCVTIMEO, (int) Math.min(Integer.MAX_VALUE, timeoutMs));
                String line = BootstrapServer.readLine(channel);
                return READY.equals(line) ? Readiness.READY : Readiness.CLOSED;
            } catch (IOException e) {
                // SO_RCVTIMEO expiring surfaces as EAGAIN; anything else is the connection failing, i.e. closed.
                return String.valueOf(e.getMessage()).contains("temporarily unavailable") ? Readiness.TIMEOUT
                        : Readiness.CLOSED;
            }
        }

        @Override
        public void close() {
            try {
                channel.close();
            } catch (IOException ignored) {
                // Nothing to report on a socket we are done with.
            }
        }
    }

    /**
     * The new supervisor's end: connects to the old one, presents the token and receives the listeners.
     *
     * @return the connection, which says {@link Handover#ready()} later; its {@link Handover#listeners()} are the
     *     caller's, close-on-exec
     * @throws IOException naming the step that failed
     */
    public static Handover connect(Path path, String token) throws IOException {
        UnixSocketChannel c = UnixSocketChannel.open(new UnixSocketAddress(path.toFile()));
        List<Integer> fds = new ArrayList<>();
        int admin = -1;
        try {
            Native.setCloseOnExec(c.getFD());
            c.setOption(UnixSocketOptions.SO_RCVTIMEO, 30_000);
            c.write(ByteBuffer.wrap((token + "\n").getBytes(StandardCharsets.US_ASCII)));
            byte[] one = new byte[1];
            while (true) {
                int[] got = Native.receiveWithDescriptor(c.getFD(), one);
                if (got[0] == 0) {
                    throw new IOException("the old supervisor at " + path + " closed the connection before sending "
                            + "its listening sockets (token refused, or it is stopping)");
                }
                if (one[0] == END && got[1] < 0) {
                    break;
                }
                if (one[0] == ADMIN && got[1] >= 0 && admin < 0) {
                    admin = got[1];
                    continue;
                }
                if (one[0] != LISTENER || got[1] < 0) {
                    Native.closeQuietly(got[1]);
                    throw new IOException("the old supervisor at " + path + " sent '" + (char) one[0] + "' "
                            + (got[1] < 0 ? "without" : "with") + " a descriptor; expected listeners, the admin "
                            + "socket, then the end");
                }
                fds.add(got[1]);
            }
            return new Handover(c, fds, admin);
        } catch (IOException | RuntimeException e) {
            for (int fd : fds) {
                Native.closeQuietly(fd);
            }
            Native.closeQuietly(admin);
            c.close();
            throw e;
        }
    }

    /** The new supervisor's connection to the old one, until it says it is ready. */
    public static final class Handover implements Closeable {
        private final UnixSocketChannel channel;
        private final List<Integer> listeners;
        private final int admin;

        Handover(UnixSocketChannel channel, List<Integer> listeners, int admin) {
            this.channel = channel;
            this.listeners = List.copyOf(listeners);
            this.admin = admin;
        }

        /** The old supervisor's admin socket (the caller's, close-on-exec), or -1 when it sent none. */
        public int admin() {
            return admin;
        }

        /** The listening sockets received, in the old supervisor's --listen order. */
        public List<Integer> listeners() {
            return listeners;
        }

        /** Tells the old supervisor to stop accepting and drain; then closes the connection. */
        public void ready() throws IOException {
            try {
                channel.write(ByteBuffer.wrap((READY + "\n").getBytes(StandardCharsets.US_ASCII)));
            } finally {
                close();
            }
        }

        @Override
        public void close() {
            try {
                channel.close();
            } catch (IOException ignored) {
                // Closing is how a failed boot tells the old supervisor: nothing else to do.
            }
        }
    }
}
