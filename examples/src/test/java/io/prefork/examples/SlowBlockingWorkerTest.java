package io.prefork.examples;

import static io.prefork.examples.WorkerHarness.HOST;
import static io.prefork.examples.WorkerHarness.TIMEOUT;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.it.HttpClient;
import io.prefork.it.HttpClient.Response;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = SECONDS)
class SlowBlockingWorkerTest {

    private static final String PID = Long.toString(ProcessHandle.current().pid());

    @Test
    void eachRequestTakesTheDelayAndCountsUp() throws Exception {
        SlowBlockingWorker worker = new SlowBlockingWorker();
        worker.start(FakeContext.of(Map.of("delayMs", "50")));
        try (WorkerHarness harness = new WorkerHarness(worker)) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                long started = System.nanoTime();
                for (int count = 1; count <= 3; count++) {
                    Response response = client.get("/");
                    assertEquals(200, response.status());
                    assertEquals(PID, response.header("X-Prefork-Worker"));
                    String body = "slow " + PID + " " + count + "\n";
                    assertEquals(body, response.body());
                    assertEquals(Integer.toString(body.length()), response.header("content-length"));
                }
                long elapsedMs = (System.nanoTime() - started) / 1_000_000;
                assertTrue(elapsedMs >= 3 * 50, "3 requests of 50 ms took only " + elapsedMs + " ms");
            }
            harness.awaitHandled();
        }
    }

    @Test
    void sharesTheHttpHandling() throws Exception {
        SlowBlockingWorker worker = new SlowBlockingWorker();
        worker.start(FakeContext.of(Map.of("delayMs", "0")));
        try (WorkerHarness harness = new WorkerHarness(worker)) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                Response response = client.request("GET", "/", Map.of("Connection", "close"));
                assertEquals("slow " + PID + " 1\n", response.body());
                assertEquals("close", response.header("connection"));
                assertTrue(client.awaitServerClose());
            }
            harness.awaitHandled();
        }
        try (WorkerHarness harness = new WorkerHarness(worker)) {
            try (HttpClient.KeepAlive client = new HttpClient.KeepAlive(HOST, harness.port(), TIMEOUT)) {
                client.sendRaw("GET /\r\n\r\n"); // HTTP/0.9-style: no version
                assertEquals(400, client.readResponse().status());
                assertTrue(client.awaitServerClose());
            }
            harness.awaitHandled();
        }
    }

    @Test
    void negativeDelayFailsStart() {
        assertThrows(IllegalArgumentException.class,
                () -> new SlowBlockingWorker().start(FakeContext.of(Map.of("delayMs", "-1"))));
    }
}
