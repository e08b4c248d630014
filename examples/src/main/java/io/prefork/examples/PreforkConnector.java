package io.prefork.examples;

import java.io.IOException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.ManagedSelector;
import org.eclipse.jetty.io.SelectorManager;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.AbstractConnector;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.thread.Scheduler;

/**
 * A Jetty 12 connector with no socket of its own: it serves connections accepted elsewhere (by the Prefork
 * supervisor) and handed to it with {@link #serve(SocketChannel)}.
 *
 * <p>Built only from Jetty's public extension points, the ones its own connectors use: an {@link AbstractConnector}
 * with no acceptor threads (as {@code LocalConnector} is), and a {@link SelectorManager} whose public
 * {@link SelectorManager#accept(SelectableChannel, Object) accept(channel, attachment)} registers a channel the
 * caller accepted (the documented entry for "a channel accepted by {@code ServerSocketChannel.accept()}"). From there
 * on Jetty owns the channel exactly as if its {@code ServerConnector} had accepted it: non-blocking, under Jetty's
 * selector, with Jetty's idle timeout ({@link #setIdleTimeout}) and keep-alive.
 *
 * <p><b>Ownership.</b> After {@code serve} the channel is Jetty's until the returned future completes; Jetty closes
 * it (end of stream, idle timeout, {@code Connection: close}, an error, or the server stopping), and only then does
 * the future complete. The caller (the Prefork runtime) may close it again afterwards, which is harmless.
 */
public final class PreforkConnector extends AbstractConnector {

    private final ChannelSelectors selectors;

    // Channel -> "Jetty has closed it". Entries leave when the end point closes or the accept fails, so the map
    // holds only connections Jetty is serving.
    private final Map<SelectableChannel, CompletableFuture<Void>> open = new ConcurrentHashMap<>();

    /**
     * @param server    the server this connector belongs to
     * @param selectors how many selector threads (1 is plenty for one worker process)
     * @param factories the protocols, e.g. an {@code HttpConnectionFactory}
     */
    public PreforkConnector(Server server, int selectors, ConnectionFactory... factories) {
        // No executor, scheduler or buffer pool of its own (the server's are used); no acceptor threads: 0.
        super(server, null, null, null, 0, factories);
        this.selectors = new ChannelSelectors(getExecutor(), getScheduler(), selectors);
        addBean(this.selectors, true);
    }

    /**
     * Hands Jetty one connected channel and returns at once.
     *
     * @param channel a connected socket channel, in either blocking mode (it is made non-blocking here)
     * @return completes when Jetty has closed the channel; exceptionally if Jetty could not take it
     * @throws IOException           if the channel cannot be made non-blocking (e.g. it is already closed)
     * @throws IllegalStateException if the connector is not running
     */
    public CompletableFuture<Void> serve(SocketChannel channel) throws IOException {
        if (!isRunning()) {
            throw new IllegalStateException("PreforkConnector is " + getState() + ", not running: start the Server "
                    + "before handing it connections");
        }
        CompletableFuture<Void> closed = new CompletableFuture<>();
        channel.configureBlocking(false);
        // What ServerConnector does for the channels it accepts (its acceptedTcpNoDelay defaults to true).
        channel.socket().setTcpNoDelay(true);
        open.put(channel, closed);
        selectors.accept(channel);
        return closed;
    }

    /** Never called: with no acceptor threads, connections come only through {@link #serve}. */
    @Override
    protected void accept(int acceptorID) {
        throw new UnsupportedOperationException("PreforkConnector does not accept; hand it channels with serve()");
    }

    /** This connector has no transport of its own (as Jetty's {@code LocalConnector}, it answers itself). */
    @Override
    public Object getTransport() {
        return this;
    }

    private void closed(SelectableChannel channel, Throwable failure) {
        CompletableFuture<Void> f = open.remove(channel);
        if (f != null) {
            if (failure == null) {
                f.complete(null);
            } else {
                f.completeExceptionally(failure);
            }
        }
    }

    /** Jetty's selector manager, with the end points and connections {@code ServerConnector}'s would create. */
    private final class ChannelSelectors extends SelectorManager {

        ChannelSelectors(Executor executor, Scheduler scheduler, int selectors) {
            super(executor, scheduler, selectors);
        }

        @Override
        protected EndPoint newEndPoint(SelectableChannel channel, ManagedSelector selector, SelectionKey key) {
            SocketChannelEndPoint endPoint = new SocketChannelEndPoint((SocketChannel) channel, selector, key,
                    getScheduler());
            endPoint.setIdleTimeout(getIdleTimeout());
            return endPoint;
        }

        @Override
        public Connection newConnection(SelectableChannel channel, EndPoint endPoint, Object attachment) {
            return getDefaultConnectionFactory().newConnection(PreforkConnector.this, endPoint);
        }

        @Override
        protected void endPointOpened(EndPoint endPoint) {
            super.endPointOpened(endPoint);
            onEndPointOpened(endPoint); // the connector's bookkeeping (connection count, graceful stop)
        }

        @Override
        protected void endPointClosed(EndPoint endPoint) {
            onEndPointClosed(endPoint);
            super.endPointClosed(endPoint);
            // Called after the end point closed its channel (SocketChannelEndPoint closes it, then has the selector
            // destroy the end point, which lands here), so the channel really is closed when the future completes.
            closed(((SocketChannelEndPoint) endPoint).getChannel(), null);
        }

        @Override
        protected void onAcceptFailed(SelectableChannel channel, Throwable cause) {
            super.onAcceptFailed(channel, cause);
            // Jetty has closed the channel already (e.g. the server is stopping).
            closed(channel, cause);
        }
    }
}
