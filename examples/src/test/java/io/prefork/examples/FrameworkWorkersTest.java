package io.prefork.examples;

import static io.prefork.examples.WorkerHarness.HOST;
import static io.prefork.examples.WorkerHarness.TIMEOUT;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.it.HttpClient;
import io.prefork.worker.Worker;
import java.nio.channels.SocketChannel;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * JettyWorker and NettyWorker in this JVM, without a supervisor: {@code handle} lasts exactly as long as the
 * framework serves the connection, and {@code stop} ends a {@code handle} still in progress.
 */
@Timeout(value = 60, unit = SECONDS)
class FrameworkWorkersTest {

    static Stream<Supplier<Worker>> workers() {
        return Stream.of(JettyWorker::new, NettyWorker::new);
    }

    @ParameterizedTest
    @MethodSource("workers")
    void handleReturnsWhenTheFrameworkClosesAfterConnectionClose(Supplier<Worker> factory) throws Exception {
        Worker worker = factory.get();
        worker.start(FakeContext.of(Map.of()));
        try (WorkerHarness harness = new WorkerHarness(worker)) {
            HttpClient.Response r = HttpClient.get(HOST, harness.port(), "/", TIMEOUT);
            assertEquals(200, r.status());
            assertEquals("Hello from prefork worker " + ProcessHandle.current().pid() + "\n", r.body());
            harness.awaitHandled();
        } finally {
            worker.stop();
        }
    }

    @ParameterizedTest
    @MethodSource("workers")
    void stopEndsAHandleStillServingAKeptAliveConnection(Supplier<Worker> factory) throws Exception {
        Worker worker = factory.get();
        worker.start(FakeContext.of(Map.of("keepAliveTimeoutMs", "600000")));
        try (WorkerHarness harness = new WorkerHarness(worker);
             HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
            assertEquals(200, client.get("/").status());
            worker.stop();
            harness.awaitHandled(); // would time out if handle() outlived the server
            assertTrue(client.awaitServerClose(), "stop closed the connection");
        }
    }

    @ParameterizedTest
    @MethodSource("workers")
    void aBadKeepAliveTimeoutIsABootFailureNamingTheSetting(Supplier<Worker> factory) {
        Worker worker = factory.get();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> worker.start(FakeContext.of(Map.of("keepAliveTimeoutMs", "0"))));
        assertEquals("worker setting keepAliveTimeoutMs=0 is invalid: expected an integer >= 1", e.getMessage());
    }

    @Test
    void theConnectorRefusesAChannelBeforeTheServerRuns() throws Exception {
        Server server = new Server();
        PreforkConnector connector = new PreforkConnector(server, 1, new HttpConnectionFactory());
        try (SocketChannel channel = SocketChannel.open()) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> connector.serve(channel));
            assertTrue(e.getMessage().contains("start the Server"), e.getMessage());
        }
    }
}
