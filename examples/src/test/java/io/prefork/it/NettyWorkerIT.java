package io.prefork.it;

/** {@link HttpFrameworkContract} for the Netty 4.2 pipeline worker. */
class NettyWorkerIT extends HttpFrameworkContract {
    @Override
    String workerClass() {
        return "io.prefork.examples.NettyWorker";
    }
}
