package io.prefork.supervisor.internal.process;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * Test-only worker, run inside a worker JVM that {@link GiveBackProtocolErrorTest} starts. {@link #handle} tells the
 * client it has started by writing {@link #ENTERED}, then blocks until the client closes (or a minute passes, so an
 * abandoned worker cannot hang forever). It prints to standard error what the test checks: the JDK it runs on, the
 * thread that runs {@code handle()} and {@code stop()}, and whether {@code handle()} ever returned.
 */
public final class BlockingHandlerWorker implements Worker {
    /** The byte handle() writes to the client once it runs. */
    public static final int ENTERED = 'H';
    static final String PREFIX = "blocking-worker: ";

    @Override
    public void start(WorkerContext context) {
        System.err.println(PREFIX + "started on Java " + Runtime.version() + ", concurrency " + context.concurrency());
    }

    @Override
    public void handle(Connection connection) throws IOException {
        System.err.println(PREFIX + "handle(" + connection.id() + ") entered on thread "
                + Thread.currentThread().getName());
        SocketChannel ch = connection.channel();
        ch.write(ByteBuffer.wrap(new byte[] {(byte) ENTERED}));
        ch.socket().setSoTimeout(60_000);
        InputStream in = ch.socket().getInputStream();
        try {
            while (in.read() >= 0) {
                // The test's client sends nothing; wait for its close.
            }
        } catch (SocketTimeoutException e) {
            System.err.println(PREFIX + "handle(" + connection.id() + ") gave up waiting for the client");
        }
        System.err.println(PREFIX + "handle(" + connection.id() + ") returned");
    }

    @Override
    public void stop() {
        System.err.println(PREFIX + "stop() on thread " + Thread.currentThread().getName());
    }
}
