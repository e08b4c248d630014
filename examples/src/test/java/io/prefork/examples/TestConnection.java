package io.prefork.examples;

import io.prefork.worker.Connection;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.time.Instant;

/** A {@link Connection} around a channel the test accepted itself. */
record TestConnection(long id, SocketChannel channel, InetSocketAddress remoteAddress, InetSocketAddress localAddress,
        Instant acceptedAt) implements Connection {
}
