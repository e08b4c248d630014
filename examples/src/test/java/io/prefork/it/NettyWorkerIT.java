package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** {@link HttpFrameworkContract} for the Netty 4.2 pipeline worker. */
class NettyWorkerIT extends HttpFrameworkContract {
    @Override
    String workerClass() {
        return "io.prefork.examples.NettyWorker";
    }

    /**
     * Netty's HttpServerCodec (8 KiB of headers by default) marks the request as failed to decode, and the example's
     * handler answers such a request 400 (NettyHttpHandler): the codec, not the handler's routing, decided.
     */
    @Test
    void nettysCodecRefusesAnOversizedHeaderBlock() throws Exception {
        assertEquals(400, oversizedHeaderAnswer().status());
    }
}
