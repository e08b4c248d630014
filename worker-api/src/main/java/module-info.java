/**
 * The Prefork worker API: implement {@link io.prefork.worker.Worker}; the supervisor's worker runtime calls it with
 * each {@link io.prefork.worker.Connection}.
 *
 * <p>This descriptor serves modular builds only (it names what a {@code requires io.prefork.worker} may read). On a
 * classpath, where workers normally run, a module descriptor hides nothing; what keeps the runtime's internals and
 * its native libraries away from a worker author is that they live in another artifact,
 * {@code prefork-worker-runtime}, which the supervisor puts on the worker's classpath at run time.
 */
module io.prefork.worker {
    exports io.prefork.worker;
}
