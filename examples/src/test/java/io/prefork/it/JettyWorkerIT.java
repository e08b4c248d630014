package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** {@link HttpFrameworkContract} for the Jetty 12 servlet worker. */
class JettyWorkerIT extends HttpFrameworkContract {
    @Override
    String workerClass() {
        return "io.prefork.examples.JettyWorker";
    }

    /** Jetty's HttpConfiguration.requestHeaderSize (8 KiB by default) answers 431, before any servlet runs. */
    @Test
    void jettyItselfRefusesAnOversizedHeaderBlock() throws Exception {
        assertEquals(431, oversizedHeaderAnswer().status());
    }
}
