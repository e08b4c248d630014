package io.prefork.examples;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;

/**
 * The routes of {@link NettyWorker}, one instance per connection (it keeps the state of the request being read).
 *
 * <p>{@code /echo} streams: the response head goes out when the request head arrives, each body piece is written as
 * it is read, and reading pauses while the client is slower to read than to send (auto-read off until the channel
 * is writable again), so a body of any size passes through a bounded amount of memory.
 */
final class NettyHttpHandler extends ChannelInboundHandlerAdapter {

    private static final byte[] HELLO =
            ("Hello from prefork worker " + HttpExchange.PID + "\n").getBytes(StandardCharsets.UTF_8);
    private static final String PID = Long.toString(HttpExchange.PID);

    /** Whether the body pieces of the current request are echoed (true) or dropped (false). */
    private boolean echoing;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpRequest request) {
            onRequest(ctx, request);
        }
        if (msg instanceof HttpContent content) {
            if (echoing) {
                // The piece (and its buffer) passes to the write; LastHttpContent ends the chunked or sized response.
                ctx.write(msg);
                if (content instanceof LastHttpContent) {
                    echoing = false;
                }
                return;
            }
        }
        ReferenceCountUtil.release(msg);
    }

    private void onRequest(ChannelHandlerContext ctx, HttpRequest request) {
        if (request.decoderResult().isFailure()) {
            // Closed once the answer is written: a close right after the write, before the flush that
            // channelReadComplete would do, drops the queued 400 and the client sees the connection end unanswered.
            ChannelFuture written = reply(ctx, request, HttpResponseStatus.BAD_REQUEST, new byte[0]);
            ctx.flush();
            written.addListener(ChannelFutureListener.CLOSE);
            return;
        }
        String path = request.uri();
        int query = path.indexOf('?');
        if (query >= 0) {
            path = path.substring(0, query);
        }
        if (path.equals("/echo") && request.method().equals(HttpMethod.POST)) {
            HttpResponse head = new DefaultHttpResponse(request.protocolVersion(), HttpResponseStatus.OK);
            String type = request.headers().get(HttpHeaderNames.CONTENT_TYPE);
            head.headers().set(HttpHeaderNames.CONTENT_TYPE, type != null ? type : "application/octet-stream");
            head.headers().set("X-Prefork-Worker", PID);
            if (HttpUtil.isContentLengthSet(request)) {
                HttpUtil.setContentLength(head, HttpUtil.getContentLength(request, 0L));
            } else {
                HttpUtil.setTransferEncodingChunked(head, true);
            }
            HttpUtil.setKeepAlive(head, HttpUtil.isKeepAlive(request));
            ctx.write(head);
            echoing = true;
        } else {
            reply(ctx, request, HttpResponseStatus.OK, HELLO);
        }
    }

    private static ChannelFuture reply(ChannelHandlerContext ctx, HttpRequest request, HttpResponseStatus status,
            byte[] body) {
        boolean head = request.method().equals(HttpMethod.HEAD);
        ByteBuf content = head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(body);
        FullHttpResponse response = new DefaultFullHttpResponse(request.protocolVersion(), status, content);
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN + "; charset=utf-8");
        response.headers().set("X-Prefork-Worker", PID);
        HttpUtil.setContentLength(response, body.length);
        // HttpServerKeepAliveHandler closes the connection after this response when the request did not keep alive.
        HttpUtil.setKeepAlive(response, HttpUtil.isKeepAlive(request));
        return ctx.write(response);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        ctx.flush();
        if (!ctx.channel().isWritable()) {
            // The client reads slower than it sends: stop reading until what is queued has drained.
            ctx.channel().config().setAutoRead(false);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            ctx.channel().config().setAutoRead(true);
        } else {
            ctx.flush();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent) {
            ctx.close(); // idle past keepAliveTimeoutMs
        } else {
            ctx.fireUserEventTriggered(evt);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // A reset by the client, or a malformed stream: nothing more can be said on this connection.
        ctx.close();
    }
}
