package io.prefork.worker;

import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.time.Instant;

/**
 * One TCP connection accepted by the supervisor and passed to this worker.
 *
 * <p>{@link #channel()} is a genuine {@link SocketChannel} of the JDK's default provider, made from the descriptor
 * that arrived over the supervisor channel: {@code socket().getInputStream()}, {@code setSoTimeout},
 * TCP options, {@code configureBlocking(false)} with a {@link java.nio.channels.Selector}, and
 * {@code getRemoteAddress()} all behave as for a channel the worker accepted itself.
 *
 * <p><b>Sharp edges.</b> The worker runtime owns the channel and closes it after {@link Worker#handle} returns. A
 * channel closed while registered with a {@code Selector} keeps its descriptor until that selector selects again,
 * and an unclosed channel leaks its descriptor even after garbage collection: close your selectors too.
 */
public interface Connection {

    /** The supervisor's id for this connection: unique for the life of the supervisor, increasing with accept order. */
    long id();

    /** The connection, in blocking mode on arrival. Owned by the runtime: see the class comment. */
    SocketChannel channel();

    /** The client's address, as the supervisor saw it at accept time. */
    InetSocketAddress remoteAddress();

    /**
     * The server-side address the client connected to, as the channel knows it: on a wildcard listen address
     * ({@code 0.0.0.0}, {@code [::]}) the machine's address the client actually reached, which tells apart
     * connections that came in through different addresses.
     */
    InetSocketAddress localAddress();

    /** When the supervisor accepted the connection (wall clock). */
    Instant acceptedAt();
}
