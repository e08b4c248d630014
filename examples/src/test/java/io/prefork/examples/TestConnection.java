package io.prefork.examples;

import io.prefork.worker.Connection;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Instant;

/**
 * A {@link Connection} around a channel the test accepted itself. Parking is recorded ({@link #parked}) so that the
 * {@link WorkerHarness} can hand the connection to the worker again, resumed, as the supervisor would.
 */
final class TestConnection implements Connection {
    private final long id;
    private final SocketChannel channel;
    private final InetSocketAddress remoteAddress;
    private final InetSocketAddress localAddress;
    private final Instant acceptedAt;
    private final boolean resumed;
    private final ByteBuffer unread;
    private InputStream input;
    /** The unread bytes the handler parked with (a copy), or null if it did not park. */
    byte[] parked;

    TestConnection(long id, SocketChannel channel, InetSocketAddress remoteAddress, InetSocketAddress localAddress,
                   Instant acceptedAt) {
        this(id, channel, remoteAddress, localAddress, acceptedAt, false, new byte[0]);
    }

    TestConnection(long id, SocketChannel channel, InetSocketAddress remoteAddress, InetSocketAddress localAddress,
                   Instant acceptedAt, boolean resumed, byte[] unread) {
        this.id = id;
        this.channel = channel;
        this.remoteAddress = remoteAddress;
        this.localAddress = localAddress;
        this.acceptedAt = acceptedAt;
        this.resumed = resumed;
        this.unread = ByteBuffer.wrap(unread).asReadOnlyBuffer();
    }

    /** The same connection handed out again after a park, as the supervisor does when the client speaks. */
    TestConnection resume() {
        return new TestConnection(id, channel, remoteAddress, localAddress, acceptedAt, true, parked);
    }

    @Override
    public long id() {
        return id;
    }

    @Override
    public SocketChannel channel() {
        return channel;
    }

    @Override
    public InetSocketAddress remoteAddress() {
        return remoteAddress;
    }

    @Override
    public InetSocketAddress localAddress() {
        return localAddress;
    }

    @Override
    public Instant acceptedAt() {
        return acceptedAt;
    }

    @Override
    public boolean resumed() {
        return resumed;
    }

    @Override
    public ByteBuffer unread() {
        return unread;
    }

    @Override
    public InputStream input() throws IOException {
        if (input == null) {
            byte[] b = new byte[unread.remaining()];
            unread.duplicate().get(b);
            input = new SequenceInputStream(new ByteArrayInputStream(b), channel.socket().getInputStream());
        }
        return input;
    }

    @Override
    public void park(ByteBuffer bytes) {
        byte[] b = new byte[bytes == null ? 0 : bytes.remaining()];
        if (bytes != null) {
            bytes.duplicate().get(b);
        }
        parked = b;
    }
}
