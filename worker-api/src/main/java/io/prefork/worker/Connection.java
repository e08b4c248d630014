package io.prefork.worker;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
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
     * as {@link #remoteAddress()}. A connection resumed after {@link #park} (see {@link #resumed()}) no longer
     * knows the balancer: the header is read once, and the supervisor keeps only the client's address, so there
     * this is the client's address too. A default method, so that implementations outside the runtime (test
     * doubles) need no change.
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

    /**
     * True if this connection was served before, parked ({@link #park}) and handed out again because the client sent
     * more; false for a connection just accepted. The id and {@link #acceptedAt()} stay those of the accept.
     */
    boolean resumed();

    /**
     * The bytes the previous handler of a {@link #resumed()} connection had read from the socket and not used (for
     * example a pipelined request), which come before anything {@link #channel()} reads; empty otherwise. A
     * read-only view, the same buffer on every call: consume it once.
     *
     * <p><b>Sharp edge: raw reads never see these bytes.</b> They left the socket's receive queue when the previous
     * handler read them, and TCP has no way to put bytes back into it; {@link #channel()} is the genuine socket, so
     * {@code channel().read(...)}, {@code channel().socket().getInputStream()} and a {@code Selector} see only what
     * the client sent after them (a selector may even find nothing to read while a whole request waits here). The
     * rule, exactly:
     * <ul>
     *   <li>read through {@link #input()}, which yields the remaining bytes of this buffer and then the socket's; or
     *       take them from this buffer before reading the channel;</li>
     *   <li>this buffer and {@link #input()} share one position: what is taken from one is not seen again through
     *       the other, and reading the channel directly consumes none of it;</li>
     *   <li>bytes of it a handler does not consume are not carried over by themselves: to park again, pass them
     *       first in {@link #park}'s {@code unread}, or they are lost.</li>
     * </ul>
     * A framework that reads only the channel (a servlet container's connector, Netty) must therefore be given these
     * bytes explicitly, or the connection not be parked by a handler that reads beyond its request.
     */
    ByteBuffer unread();

    /**
     * The connection's input: first what remains of the {@link #unread()} bytes, then the socket's stream
     * ({@code channel().socket().getInputStream()}, so {@code setSoTimeout} applies). The same stream on every call;
     * it reads the {@link #unread()} buffer itself, so the two share one position (see there).
     */
    InputStream input() throws IOException;

    /**
     * Asks for this connection to be parked instead of closed when {@link Worker#handle} returns: the worker gives it
     * back to the supervisor, which holds it with no worker involved until the client sends its next request (or
     * closes, or stays idle for the supervisor's {@code --keep-alive} seconds), then hands it to a handler again, in
     * any worker, as {@link #resumed()}, with {@code unread} first.
     *
     * <p>Parking is safe only when all of these hold when {@code handle} returns:
     * <ul>
     *   <li>the response to every request read so far has been written completely (flushed; nothing is buffered in
     *       a stream of yours), and the connection is between requests of a protocol where the client speaks next;</li>
     *   <li>{@code unread} holds exactly the bytes read from the socket and not yet used (at most 4096; empty when
     *       there are none), from its position to its limit: they are copied now, not consumed;</li>
     *   <li>nothing else holds the channel: no other thread uses it, it is not registered with a {@code Selector},
     *       and no state of this connection is kept in the worker (the next request may go to another worker);</li>
     *   <li>the channel is still open and neither half is shut down; TLS or other stateful layers are not
     *       parkable.</li>
     * </ul>
     * If the connection cannot be parked after all (the channel was closed, the supervisor is gone), it is closed as
     * usual. The last call wins; {@code park(null)} is {@code park} with no unread bytes.
     *
     * @throws IllegalArgumentException if more than 4096 bytes remain in {@code unread}
     */
    void park(ByteBuffer unread);
}
