package io.prefork.examples;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * Echoes every byte it receives back to the client until the client shuts down its side (EOF), then returns.
 *
 * <p>Demonstrates that the passed connection is a plain blocking {@link SocketChannel}: this worker uses only
 * {@code read} and {@code write} on a {@link ByteBuffer}, no streams and no protocol. Any TCP client works, e.g.
 * {@code nc 127.0.0.1 <port>}.
 *
 * <p>No worker settings. Note that blocking channel reads ignore {@code SO_TIMEOUT} (only the socket adaptor's
 * streams honour it), so an idle client holds its handler thread until it closes.
 */
public final class EchoWorker implements Worker {

    private static final int BUFFER_BYTES = 8 * 1024;

    /** Creates the worker; the runtime calls this public no-argument constructor. */
    public EchoWorker() {
    }

    @Override
    public void handle(Connection connection) throws IOException {
        SocketChannel channel = connection.channel();
        // A heap buffer: the JDK copies it through a cached per-thread direct buffer, which is cheaper than
        // allocating (and later freeing) a direct buffer for every connection.
        ByteBuffer buffer = ByteBuffer.allocate(BUFFER_BYTES);
        while (channel.read(buffer) >= 0) {
            buffer.flip();
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
            buffer.clear();
        }
    }
}
