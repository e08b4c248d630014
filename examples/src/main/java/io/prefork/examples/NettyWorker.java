package io.prefork.examples;

import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerExpectContinueHandler;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.netty.handler.timeout.IdleStateHandler;
import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;
import java.util.concurrent.TimeUnit;

/**
 * A Netty 4.2 HTTP pipeline in each worker process, with the routes of {@link JettyWorker}: {@code /echo} echoes a
 * POST body of any size, streamed, chunked or not; every other path answers as {@link HelloHttpWorker} does.
 *
 * <p>Each passed {@link java.nio.channels.SocketChannel} is wrapped as it is ({@code new NioSocketChannel(channel)},
 * the constructor Netty's own server channel uses for the channels it accepts) and registered with this worker's
 * event loop, which then runs it non-blocking under Netty's selector. {@link #handle} waits for the channel's close
 * future, so the supervisor counts the connection in flight for as long as Netty serves it, keep-alive included.
 *
 * <p>Worker settings:
 * <ul>
 *   <li>{@code keepAliveTimeoutMs} (default 5000, at least 1): how long a connection may stay idle (no read and no
 *       write) before it is closed.</li>
 * </ul>
 */
public final class NettyWorker implements Worker {

    private EventLoopGroup group;
    private int keepAliveTimeoutMs;

    /** Creates the worker; the runtime calls this public no-argument constructor. */
    public NettyWorker() {
    }

    @Override
    public void start(WorkerContext context) {
        keepAliveTimeoutMs = Settings.intSetting(context, "keepAliveTimeoutMs",
                HelloHttpWorker.DEFAULT_KEEP_ALIVE_TIMEOUT_MS, 1);
        // One event loop serves any number of connections; a second only helps when there are several to serve.
        int loops = Math.min(context.concurrency(), Math.min(2, Runtime.getRuntime().availableProcessors()));
        group = new MultiThreadIoEventLoopGroup(loops, NioIoHandler.newFactory());
    }

    @Override
    public void handle(Connection connection) throws Exception {
        // Netty makes the channel non-blocking and owns it from here until it closes it.
        Channel channel = new NioSocketChannel(connection.channel());
        channel.pipeline().addLast(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(
                        new IdleStateHandler(0, 0, keepAliveTimeoutMs, TimeUnit.MILLISECONDS),
                        new HttpServerCodec(),
                        new HttpServerExpectContinueHandler(),
                        new HttpServerKeepAliveHandler(),
                        new NettyHttpHandler());
            }
        });
        group.register(channel).sync();
        channel.closeFuture().await();
    }

    @Override
    public void stop() throws Exception {
        if (group != null) {
            // Closes the channels still registered, which ends their handle(); bounded, as stop() must be.
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(2, TimeUnit.SECONDS);
        }
    }
}
