package io.prefork.supervisor.internal.systemd;

import io.prefork.testing.Poll;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Predicate;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;

/**
 * What systemd does with {@code NOTIFY_SOCKET}, for tests: binds an AF_UNIX datagram socket (a path in a new
 * temporary directory, or an abstract address) and collects the datagrams sent to it, in arrival order.
 *
 * <p>Read continuously, by a daemon thread, as systemd reads: Linux queues at most
 * {@code /proc/sys/net/unix/max_dgram_qlen} (10 by default) unread datagrams per socket, after which a non-blocking
 * sender gets EAGAIN and the message is lost, so a test that read only when it looks would lose messages it is
 * about to wait for.
 */
public final class NotifyReceiver implements AutoCloseable {
    private final UnixDatagramChannel channel;
    private final Path dir;
    /** As {@code NOTIFY_SOCKET} spells it. */
    public final String notifySocket;
    private final List<String> received = new ArrayList<>();
    private final ByteBuffer buf = ByteBuffer.allocate(4096);
    private final Thread reader;
    private volatile boolean closed;

    private NotifyReceiver(UnixDatagramChannel channel, Path dir, String notifySocket) {
        this.channel = channel;
        this.dir = dir;
        this.notifySocket = notifySocket;
        this.reader = new Thread(this::readUntilClosed, "notify-receiver");
        this.reader.setDaemon(true);
        this.reader.start();
    }

    private void readUntilClosed() {
        while (!closed) {
            try {
                messages();
                Thread.sleep(2); // the polling interval: a jnr datagram channel has no receive timeout or selector
            } catch (IOException | InterruptedException e) {
                return;
            }
        }
    }

    /** Bound to {@code notify.sock} in a new temporary directory. */
    public static NotifyReceiver atPath() throws IOException {
        Path dir = Files.createTempDirectory("prefork-notify");
        Path sock = dir.resolve("notify.sock");
        return bind(new UnixSocketAddress(sock.toString()), dir, sock.toString());
    }

    /** Bound to a fresh abstract address, {@code @prefork-test-<uuid>}. */
    public static NotifyReceiver abstractAddress() throws IOException {
        String name = "prefork-test-" + UUID.randomUUID();
        return bind(new UnixSocketAddress("\0" + name), null, "@" + name);
    }

    private static NotifyReceiver bind(UnixSocketAddress address, Path dir, String notifySocket) throws IOException {
        UnixDatagramChannel ch = UnixDatagramChannel.open();
        try {
            ch.bind(address);
            ch.configureBlocking(false);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        return new NotifyReceiver(ch, dir, notifySocket);
    }

    /** Every datagram received so far (after draining the socket), in order. */
    public synchronized List<String> messages() throws IOException {
        while (true) {
            buf.clear();
            try {
                if (channel.receive(buf) == null) {
                    break;
                }
            } catch (IOException e) {
                // jnr reports a non-blocking receive with nothing queued (EAGAIN) as an exception.
                if (String.valueOf(e.getMessage()).contains("temporarily unavailable")) {
                    break;
                }
                throw e;
            }
            buf.flip();
            if (!buf.hasRemaining()) {
                break;
            }
            received.add(StandardCharsets.UTF_8.decode(buf).toString());
        }
        return List.copyOf(received);
    }

    /** Waits until a received message matches; fails naming what it waited for and what came. */
    public String await(Duration timeout, String what, Predicate<String> match) {
        List<String> seen = Poll.within(timeout).until("a notification matching " + what, this::messages,
                ms -> ms.stream().anyMatch(match));
        return seen.stream().filter(match).findFirst().orElseThrow();
    }

    /** The first lines of every message but STATUS and WATCHDOG ones: the service's lifecycle, in order. */
    public List<String> lifecycle() throws IOException {
        return messages().stream().map(m -> m.split("\n")[0])
                .filter(m -> !m.startsWith("STATUS=") && !m.equals("WATCHDOG=1")).toList();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        try {
            reader.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        channel.close();
        if (dir != null) {
            Files.deleteIfExists(dir.resolve("notify.sock"));
            Files.deleteIfExists(dir);
        }
    }
}
