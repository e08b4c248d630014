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

    /**
     * The client's address. Without the supervisor's {@code --proxy-protocol}, the connection's peer as the
     * supervisor saw it at accept time. With it, the client's address as the balancer's PROXY protocol header gave it
     * (the runtime read and checked the header before {@link Worker#handle} was called); when the header names no
     * client (a v2 {@code LOCAL} header, such as a balancer's own health check, or v1 {@code UNKNOWN}), the
     * connection's peer, as the specification requires.
     */
    InetSocketAddress remoteAddress();

    /**
     * The connection's TCP peer as the supervisor accepted it. With {@code --proxy-protocol} that is the balancer
     * (one of {@code --proxy-allow-from}), while {@link #remoteAddress()} is the client behind it; without, the same
     * as {@link #remoteAddress()}. A default method, so that implementations outside the runtime (test doubles)
     * need no change.
     */
    default InetSocketAddress peerAddress() {
        return remoteAddress();
    }

    /**
     * The server-side address the client connected to, as the channel knows it (with {@code --proxy-protocol}, the
     * address the balancer connected to, not the balancer's own front end): on a wildcard listen address
     * ({@code 0.0.0.0}, {@code [::]}) the machine's address the client actually reached, which tells apart
     * connections that came in through different addresses.
     */
    InetSocketAddress localAddress();

    /** When the supervisor accepted the connection (wall clock). */
    Instant acceptedAt();
}
