package io.prefork.it;

/** {@link HttpFrameworkContract} for the Jetty 12 servlet worker. */
class JettyWorkerIT extends HttpFrameworkContract {
    @Override
    String workerClass() {
        return "io.prefork.examples.JettyWorker";
    }
}
