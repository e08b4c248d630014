package io.prefork.worker;

/**
 * The code a worker JVM runs. One instance per worker process, created by the worker runtime with its public
 * no-argument constructor.
 *
 * <h2>Lifecycle</h2>
 * <ol>
 *   <li>{@link #start(WorkerContext)} once, before any connection. If it throws, the worker reports a boot failure
 *       to the supervisor and exits with a reserved code; the supervisor then stops instead of respawning forever
 *       (the same rule as gunicorn's {@code WORKER_BOOT_ERROR}).</li>
 *   <li>{@link #handle(Connection)} once per connection, on one of at most {@link WorkerContext#concurrency()}
 *       runtime threads. With the default concurrency of 1 calls never overlap, so a handler that is not
 *       thread-safe (the classic legacy prefork case) needs no locking.</li>
 *   <li>{@link #stop()} once, when the worker is told to stop (the supervisor's graceful stop, or its channel to
 *       the supervisor closing). Handlers may still be running on other threads when it is called.</li>
 * </ol>
 *
 * <h2>Ownership of the connection</h2>
 * The runtime owns the {@link Connection#channel() channel}: it closes it when {@code handle} returns or throws, and
 * only then reports the connection done to the supervisor (which uses that report to balance load). A handler may
 * close it earlier; it must not keep using it after returning.
 *
 * <h2>Process isolation</h2>
 * A worker process may hold global state, leak, or call native code: that is what the process boundary is for.
 * The supervisor restarts a worker that dies; a connection the worker had already taken dies with it, a connection
 * still on its way to it is given to another worker.
 */
public interface Worker {

    /**
     * Called once before the first connection. Throwing here is a boot failure (see the class comment).
     *
     * @param context this worker's index, pid and settings
     * @throws Exception any failure; it is reported to the supervisor with its message
     */
    default void start(WorkerContext context) throws Exception {
    }

    /**
     * Serves one connection. Blocking I/O on {@code connection.channel()} (or its {@code socket()} streams) is the
     * expected style; the channel arrives in blocking mode. A handler that prefers non-blocking I/O may call
     * {@code configureBlocking(false)} and register the channel with its own {@link java.nio.channels.Selector}, but
     * must still finish with the connection before returning.
     *
     * @param connection the accepted connection; the runtime closes its channel after this returns
     * @throws Exception logged by the runtime; the connection is closed and the worker keeps serving
     */
    void handle(Connection connection) throws Exception;

    /**
     * Called once when the worker stops; release what {@link #start} acquired. Must not block for long: the
     * supervisor kills a worker that does not exit within its stop timeout.
     *
     * @throws Exception logged by the runtime
     */
    default void stop() throws Exception {
    }
}
