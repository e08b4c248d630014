package io.prefork.examples;

import static io.prefork.examples.WorkerHarness.HOST;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = SECONDS)
class EchoWorkerTest {

    @Test
    void echoesBytesUntilTheClientShutsDownItsOutput() throws Exception {
        try (WorkerHarness harness = new WorkerHarness(new EchoWorker());
                Socket client = new Socket(HOST, harness.port())) {
            client.setSoTimeout((int) WorkerHarness.TIMEOUT.toMillis());
            OutputStream out = client.getOutputStream();
            InputStream in = client.getInputStream();
            byte[] chunk = new byte[10_000]; // not a multiple of the worker's buffer size
            for (int round = 0; round < 20; round++) {
                // Write a chunk, read it back: never more in flight than the socket buffers hold, so no deadlock.
                Arrays.fill(chunk, (byte) round);
                chunk[0] = (byte) 0xff; // and a byte with the sign bit set
                out.write(chunk);
                out.flush();
                assertArrayEquals(chunk, in.readNBytes(chunk.length), "round " + round);
            }
            client.shutdownOutput();
            assertEquals(-1, in.read(), "the worker returns at EOF and the channel is closed");
            harness.awaitHandled();
        }
    }
}
