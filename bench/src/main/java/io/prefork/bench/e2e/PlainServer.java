package io.prefork.bench.e2e;

import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import io.prefork.worker.WorkerContext;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The baseline of the end-to-end benchmark ({@code bench/scripts/e2e.sh}, {@code bench/E2E.md}): the same
 * {@link Worker} served by one plain JVM, with no supervisor and no descriptor handoff.
 *
 * <p>It mirrors what the supervisor does with {@code --workers N --concurrency 1}, minus the process boundary: one
 * thread accepts (blocking {@link ServerSocketChannel#accept}, as the supervisor's loop accepts on one thread), and
 * hands each {@link SocketChannel} through a bounded queue ({@code --queue-size}, as the supervisor's) to N handler
 * threads. Each handler thread owns its own {@link Worker} instance, started with its own index and concurrency 1,
 * so a worker that is not thread-safe behaves here exactly as in a prefork worker process; like the worker runtime,
 * the handler thread closes the channel when {@code handle} returns or throws.
 *
 * <p>The worker class is loaded by name from the classpath (the examples jar is put there by the script), so the
 * bench module needs no compile-time dependency on the examples.
 *
 * <pre>
 * java -cp bench/target/benchmarks.jar:examples/target/prefork-examples.jar io.prefork.bench.e2e.PlainServer \
 *     --listen 127.0.0.1:0 --threads 2 --worker io.prefork.examples.HelloHttpWorker
 * </pre>
 *
 * Once listening and every worker is started it prints one line on stdout, for scripts to wait for:
 * {@code plain: ready on 127.0.0.1:PORT with N thread(s) of CLASS}. SIGTERM stops it (the JVM's default handling);
 * connections in flight are cut, which is fine for a benchmark that stops it only after the load run.
 */
public final class PlainServer {
    private static final String USAGE = "usage: PlainServer --listen HOST:PORT [--threads N] [--worker CLASS]"
            + " [--backlog N] [--queue-size N] [--worker-setting KEY=VALUE]...";

    private final ServerSocketChannel server;
    private final BlockingQueue<Accepted> queue;
    private final List<Worker> workers = new ArrayList<>();
    private final AtomicLong nextId = new AtomicLong(1);

    private PlainServer(ServerSocketChannel server, int queueSize) {
        this.server = server;
        this.queue = new ArrayBlockingQueue<>(queueSize);
    }

    public static void main(String[] args) throws Exception {
        String listen = null;
        int threads = 2;
        String workerClass = "io.prefork.examples.HelloHttpWorker";
        int backlog = 1024;
        int queueSize = 1024;
        Map<String, String> settings = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) {
                usage("missing value for " + a);
            }
            String v = args[++i];
            switch (a) {
                case "--listen" -> listen = v;
                case "--threads" -> threads = Integer.parseInt(v);
                case "--worker" -> workerClass = v;
                case "--backlog" -> backlog = Integer.parseInt(v);
                case "--queue-size" -> queueSize = Integer.parseInt(v);
                case "--worker-setting" -> {
                    int eq = v.indexOf('=');
                    if (eq <= 0) {
                        usage("--worker-setting " + v + ": expected KEY=VALUE");
                    }
                    settings.put(v.substring(0, eq), v.substring(eq + 1));
                }
                default -> usage("unknown option " + a);
            }
        }
        if (listen == null) {
            usage("--listen is required");
        }
        if (threads < 1 || queueSize < 1 || backlog < 1) {
            usage("--threads, --queue-size and --backlog must be at least 1");
        }
        int colon = listen.lastIndexOf(':');
        if (colon <= 0) {
            usage("--listen " + listen + ": expected HOST:PORT");
        }
        InetSocketAddress address = new InetSocketAddress(listen.substring(0, colon),
                Integer.parseInt(listen.substring(colon + 1)));

        ServerSocketChannel server = ServerSocketChannel.open();
        server.bind(address, backlog);
        PlainServer plain = new PlainServer(server, queueSize);
        plain.startWorkers(workerClass, threads, Map.copyOf(settings));
        Runtime.getRuntime().addShutdownHook(new Thread(plain::stop, "plain-stop"));

        InetSocketAddress bound = (InetSocketAddress) server.getLocalAddress();
        // Autoflush, and UTF-8 regardless of the platform default: a script greps this line.
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        out.println("plain: ready on " + bound.getAddress().getHostAddress() + ":" + bound.getPort() + " with "
                + threads + " thread(s) of " + workerClass);
        plain.acceptLoop();
    }

    private static void usage(String problem) {
        System.err.println("PlainServer: " + problem + "\n" + USAGE);
        System.exit(2);
    }

    /** One worker instance per handler thread, started before the ready line, as worker processes are. */
    private void startWorkers(String workerClass, int threads, Map<String, String> settings) throws Exception {
        Class<?> c = Class.forName(workerClass, true, ClassLoader.getSystemClassLoader());
        long pid = ProcessHandle.current().pid();
        for (int i = 0; i < threads; i++) {
            Worker w = (Worker) c.getConstructor().newInstance();
            w.start(new Context(i, pid, settings));
            workers.add(w);
        }
        int n = 0;
        for (Worker w : workers) {
            Thread t = new Thread(() -> serveLoop(w), "plain-handler-" + ++n); // named as the runtime's are
            t.setDaemon(true);
            t.start();
        }
    }

    private void acceptLoop() throws InterruptedException {
        while (true) {
            SocketChannel ch;
            try {
                ch = server.accept(); // blocking; the channel comes back in blocking mode, as a handed-off one does
            } catch (ClosedChannelException e) {
                return; // stopping
            } catch (IOException e) {
                // EMFILE and friends: the connection stays in the backlog; do not spin.
                System.err.println("plain: accept failed: " + e);
                Thread.sleep(100);
                continue;
            }
            // put() blocks when the queue is full, leaving further connections in the kernel backlog, which is
            // what the supervisor does when its queue is full.
            queue.put(new Accepted(nextId.getAndIncrement(), ch, Instant.now()));
        }
    }

    private void serveLoop(Worker worker) {
        while (true) {
            Accepted a;
            try {
                a = queue.take();
            } catch (InterruptedException e) {
                return;
            }
            try {
                // A plain server has no one to park with: a connection parked by its handler stays on this thread,
                // which serves it again (as a blocking server does between keep-alive requests).
                Conn c = new Conn(a, new byte[0]);
                worker.handle(c);
                while (c.parked != null && a.channel.isOpen()) {
                    c = new Conn(a, c.parked);
                    worker.handle(c);
                }
            } catch (Exception e) {
                System.err.println("plain: handler failed on connection " + a.id + ": " + e);
            } finally {
                try {
                    a.channel.close();
                } catch (IOException ignored) {
                    // The descriptor is released even when close reports an error.
                }
            }
        }
    }

    private void stop() {
        try {
            server.close();
        } catch (IOException ignored) {
            // stopping anyway
        }
        for (Worker w : workers) {
            try {
                w.stop();
            } catch (Exception e) {
                System.err.println("plain: " + w.getClass().getName() + ".stop() failed: " + e);
            }
        }
    }

    private static final class Accepted {
        final long id;
        final SocketChannel channel;
        final Instant acceptedAt;

        Accepted(long id, SocketChannel channel, Instant acceptedAt) {
            this.id = id;
            this.channel = channel;
            this.acceptedAt = acceptedAt;
        }
    }

    private static final class Conn implements Connection {
        private final Accepted a;
        private final ByteBuffer unread;
        private java.io.InputStream input;
        /** The unread bytes the handler parked with, or null if it did not park. */
        byte[] parked;

        Conn(Accepted a, byte[] unread) {
            this.a = a;
            this.unread = ByteBuffer.wrap(unread).asReadOnlyBuffer();
        }

        @Override
        public boolean resumed() {
            return unread.capacity() > 0;
        }

        @Override
        public ByteBuffer unread() {
            return unread;
        }

        @Override
        public java.io.InputStream input() throws IOException {
            if (input == null) {
                byte[] b = new byte[unread.remaining()];
                unread.duplicate().get(b);
                input = new java.io.SequenceInputStream(new java.io.ByteArrayInputStream(b),
                        a.channel.socket().getInputStream());
            }
            return input;
        }

        @Override
        public void park(ByteBuffer bytes) {
            byte[] b = new byte[bytes == null ? 0 : bytes.remaining()];
            if (bytes != null) {
                bytes.duplicate().get(b);
            }
            parked = b;
        }

        @Override
        public long id() {
            return a.id;
        }

        @Override
        public SocketChannel channel() {
            return a.channel;
        }

        @Override
        public InetSocketAddress remoteAddress() {
            try {
                return (InetSocketAddress) a.channel.getRemoteAddress();
            } catch (IOException e) {
                return null; // closed or reset: there is no address to report any more
            }
        }

        @Override
        public InetSocketAddress localAddress() {
            try {
                return (InetSocketAddress) a.channel.getLocalAddress();
            } catch (IOException e) {
                return null;
            }
        }

        @Override
        public Instant acceptedAt() {
            return a.acceptedAt;
        }
    }

    private static final class Context implements WorkerContext {
        private final int index;
        private final long pid;
        private final Map<String, String> settings;

        Context(int index, long pid, Map<String, String> settings) {
            this.index = index;
            this.pid = pid;
            this.settings = settings;
        }

        @Override
        public int index() {
            return index;
        }

        @Override
        public long pid() {
            return pid;
        }

        @Override
        public int concurrency() {
            return 1;
        }

        @Override
        public Map<String, String> settings() {
            return settings;
        }
    }
}
