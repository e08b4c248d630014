package io.prefork.supervisor.internal.nativeio;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicBoolean;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sending end of systemd's notification socket ({@code $NOTIFY_SOCKET}, sd_notify(3)): one unbound, non-blocking
 * AF_UNIX SOCK_DGRAM socket; each message is one datagram of {@code KEY=VALUE} lines.
 *
 * <p>Why jnr-unixsocket: the JDK's Unix-domain support (JDK 16+) has stream sockets only, and systemd's socket is a
 * datagram one. {@link UnixDatagramChannel} sends to a path or, with a leading NUL, to a Linux abstract address
 * (systemd spells those {@code @name}); both were checked against a receiver bound by Python and by the tests.
 *
 * <p>Never in the way: the socket is non-blocking, so a receiver whose queue is full (systemd stuck) costs an EAGAIN,
 * not a stalled loop; a failed send is logged once, and every later one is dropped silently, as sd_notify(3)
 * recommends that a failure to notify be ignored. Thread-safe: the loop thread (events, watchdog pings) and the
 * status sampler both send; the lock is held only for one non-blocking sendto.
 *
 * <p>Owner: this object, from {@link #open} to {@link #close()}. jnr opens the socket without {@code SOCK_CLOEXEC}
 * (gunicorn asks for it); it does not leak into worker JVMs all the same, because {@code WorkerLauncher} starts them
 * with {@code ProcessBuilder}, whose child closes every descriptor above 2 before exec.
 */
public final class NotifySocket implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");
    /** sun_path is 108 bytes on Linux, including the terminating NUL of a path (an abstract name has none). */
    private static final int MAX_PATH_BYTES = 107;

    private final String name;
    private final UnixSocketAddress address;
    private final UnixDatagramChannel channel;
    private final AtomicBoolean warned = new AtomicBoolean();
    private boolean closed;

    private NotifySocket(String name, UnixSocketAddress address, UnixDatagramChannel channel) {
        this.name = name;
        this.address = address;
        this.channel = channel;
    }

    /**
     * Opens a socket for sending to {@code notifySocket}, as {@code $NOTIFY_SOCKET} gives it: an absolute path, or
     * {@code @name} for an abstract address.
     *
     * @throws IOException naming the variable and its value: another form ({@code vsock:}, systemd 253+, for
     *     virtual machines), too long, or the socket cannot be created
     */
    public static NotifySocket open(String notifySocket) throws IOException {
        String path;
        if (notifySocket.startsWith("@")) {
            path = "\0" + notifySocket.substring(1);
        } else if (notifySocket.startsWith("/")) {
            path = notifySocket;
        } else {
            throw new IOException("NOTIFY_SOCKET=" + notifySocket + ": only a path (/run/...) or an abstract "
                    + "address (@name) is supported");
        }
        if (path.getBytes(StandardCharsets.UTF_8).length > MAX_PATH_BYTES) {
            throw new IOException("NOTIFY_SOCKET=" + notifySocket + ": longer than " + MAX_PATH_BYTES + " bytes");
        }
        UnixDatagramChannel channel = UnixDatagramChannel.open();
        try {
            channel.configureBlocking(false);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        return new NotifySocket(notifySocket, new UnixSocketAddress(path), channel);
    }

    /** Sends one message; false if it was not sent (logged the first time). Never throws. */
    public synchronized boolean send(String message) {
        if (closed) {
            return false; // a watchdog answer that arrives as the supervisor ends: nothing to tell any more
        }
        try {
            int n = channel.send(ByteBuffer.wrap(message.getBytes(StandardCharsets.UTF_8)), address);
            if (n > 0) {
                return true;
            }
            warnOnce("its queue is full (the service manager is not reading)");
        } catch (IOException | RuntimeException e) {
            warnOnce(String.valueOf(e.getMessage() != null ? e.getMessage() : e));
        }
        return false;
    }

    private void warnOnce(String why) {
        if (warned.compareAndSet(false, true)) {
            LOG.warn("cannot notify the service manager at NOTIFY_SOCKET={}: {}; further failures are not logged",
                    name, why);
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            // Unbound datagram socket: nothing was pending.
        }
    }
}
