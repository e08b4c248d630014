package io.prefork.examples;

import io.prefork.worker.Worker;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Runs one {@link Worker#handle} the way the worker runtime would, without a supervisor: listens on 127.0.0.1, and on
 * a background thread accepts one connection, hands it to the worker, and closes the channel when {@code handle}
 * returns (the runtime owns the channel); a handler that parks the connection gets it again, resumed, with its
 * unread bytes. The test connects a client to {@link #port()} and later calls
 * {@link #awaitHandled}, which rethrows whatever {@code handle} threw.
 */
final class WorkerHarness implements AutoCloseable {

    static final String HOST = "127.0.0.1";
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final ServerSocketChannel listener;
    private final ExecutorService executor;
    private final Future<Void> handled;
    private final java.util.concurrent.atomic.AtomicInteger parks = new java.util.concurrent.atomic.AtomicInteger();

    WorkerHarness(Worker worker) throws IOException {
        listener = ServerSocketChannel.open();
        try {
            listener.bind(new InetSocketAddress(InetAddress.getByName(HOST), 0));
        } catch (IOException e) {
            listener.close();
            throw e;
        }
        executor = Executors.newSingleThreadExecutor(task -> {
            Thread thread = new Thread(task, "worker-handle");
            thread.setDaemon(true); // a stuck handler must not keep the test JVM alive
            return thread;
        });
        handled = executor.submit(() -> {
            try (SocketChannel channel = listener.accept()) {
                TestConnection c = new TestConnection(1, channel, (InetSocketAddress) channel.getRemoteAddress(),
                        (InetSocketAddress) channel.getLocalAddress(), Instant.now());
                worker.handle(c);
                // Parked: the supervisor would hand it out again once the client speaks; the harness does at once,
                // and the handler's next read waits for the client as it would have.
                while (c.parked != null && channel.isOpen()) {
                    parks.incrementAndGet();
                    c = c.resume();
                    worker.handle(c);
                }
            }
            return null;
        });
    }

    /** How often the handler parked the connection. */
    int parks() {
        return parks.get();
    }

    int port() throws IOException {
        return ((InetSocketAddress) listener.getLocalAddress()).getPort();
    }

    /**
     * Waits for {@code handle} to return and the channel to be closed.
     *
     * @throws Exception what {@code handle} threw, or a {@link java.util.concurrent.TimeoutException}
     */
    void awaitHandled() throws Exception {
        try {
            handled.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Exception exception) {
                throw exception;
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw e;
        }
    }

    @Override
    public void close() throws IOException {
        // Interrupting a thread blocked on an interruptible channel closes that channel, so this never hangs.
        executor.shutdownNow();
        listener.close();
        try {
            executor.awaitTermination(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
