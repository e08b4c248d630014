package io.prefork.bench.e2e;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The mixed load of issue 11's head-of-line benchmark, loopback only and bounded: CLIENTS closed-loop clients, each
 * opening a connection, sending one {@code Connection: close} request, reading the whole response and starting over.
 * One request in SLOW_EVERY (counted over all clients, so exactly that share) asks {@code HelloHttpWorker} for
 * {@code /slow?ms=SLOW_MS}; the others for {@code /}. A warm-up of WARMUP seconds first, not recorded; then SECONDS
 * measured.
 *
 * <p>What it answers: how long a fast request waits when slow ones occupy handlers. A server that queues a
 * connection behind a busy handler while another is free shows it in the fast requests' p99 and maximum; one that
 * does not keeps them near the unloaded latency. Reported for the fast requests: count, p50, p99, p99.9, max; for
 * the slow ones: count and p50 (SLOW_MS plus the same queueing); and errors (refused, reset, timed out after
 * 10 s, or any status but 200), which a correct server under this load never has.
 *
 * <pre>java -cp benchmarks.jar io.prefork.bench.e2e.HolLoad PORT [CLIENTS (16)] [SECONDS (10)] [WARMUP (3)]
 *     [SLOW_EVERY (10)] [SLOW_MS (200)]</pre>
 *
 * <p>The last line of its output is machine-readable: {@code hol fast N p50_us P p99_us P p999_us P max_us M slow N
 * slow_p50_us P errors E seconds S}.
 */
public final class HolLoad {
    private static final int TIMEOUT_MS = 10_000;

    private HolLoad() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args.length > 6) {
            System.err.println("usage: HolLoad PORT [CLIENTS (16)] [SECONDS (10)] [WARMUP (3)] [SLOW_EVERY (10)]"
                    + " [SLOW_MS (200)]");
            System.exit(2);
        }
        int port = arg(args, 0, "PORT", 0, 1, 65535);
        int clients = arg(args, 1, "CLIENTS", 16, 1, 1024);
        int seconds = arg(args, 2, "SECONDS", 10, 1, 600);
        int warmup = arg(args, 3, "WARMUP", 3, 0, 600);
        int slowEvery = arg(args, 4, "SLOW_EVERY", 10, 1, 1_000_000);
        int slowMs = arg(args, 5, "SLOW_MS", 200, 0, 10_000);

        byte[] fast = request("/");
        byte[] slow = request("/slow?ms=" + slowMs);
        AtomicLong counter = new AtomicLong();
        long start = System.nanoTime();
        long measureFrom = start + warmup * 1_000_000_000L;
        long end = measureFrom + seconds * 1_000_000_000L;
        List<Client> all = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            Client c = new Client(port, fast, slow, slowEvery, counter, measureFrom, end);
            c.thread = new Thread(c, "hol-client-" + i);
            all.add(c);
            c.thread.start();
        }
        Samples fastSamples = new Samples();
        Samples slowSamples = new Samples();
        long errors = 0;
        String firstError = null;
        for (Client c : all) {
            c.thread.join();
            fastSamples.addAll(c.fast);
            slowSamples.addAll(c.slow);
            errors += c.errors;
            if (firstError == null) {
                firstError = c.firstError;
            }
        }
        long[] f = fastSamples.sorted();
        long[] s = slowSamples.sorted();
        System.out.printf("HolLoad: %d clients, %d s measured after %d s warm-up, 1 request in %d asks /slow?ms=%d%n",
                clients, seconds, warmup, slowEvery, slowMs);
        System.out.printf("fast requests: %d, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms%n", f.length,
                pct(f, 0.5) / 1e3, pct(f, 0.99) / 1e3, pct(f, 0.999) / 1e3, pct(f, 1) / 1e3);
        System.out.printf("slow requests: %d, p50 %.2f ms; errors: %d%s%n", s.length, pct(s, 0.5) / 1e3, errors,
                firstError == null ? "" : " (first: " + firstError + ")");
        System.out.printf("hol fast %d p50_us %d p99_us %d p999_us %d max_us %d slow %d slow_p50_us %d errors %d"
                        + " seconds %d%n", f.length, pct(f, 0.5), pct(f, 0.99), pct(f, 0.999), pct(f, 1), s.length,
                pct(s, 0.5), errors, seconds);
    }

    private static int arg(String[] args, int i, String name, int dflt, int min, int max) {
        if (args.length <= i) {
            if (i == 0) {
                throw new IllegalArgumentException(name + " is required");
            }
            return dflt;
        }
        int v;
        try {
            v = Integer.parseInt(args[i]);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + "=" + args[i] + ": expected an integer from " + min + " to "
                    + max, e);
        }
        if (v < min || v > max) {
            throw new IllegalArgumentException(name + "=" + v + ": expected an integer from " + min + " to " + max);
        }
        return v;
    }

    private static byte[] request(String target) {
        return ("GET " + target + " HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
    }

    /** The nearest-rank percentile of sorted latencies, in microseconds; q = 1 is the maximum; 0 if none. */
    private static long pct(long[] sortedNanos, double q) {
        if (sortedNanos.length == 0) {
            return 0;
        }
        int rank = (int) Math.ceil(q * sortedNanos.length);
        return sortedNanos[Math.max(0, Math.min(sortedNanos.length, rank) - 1)] / 1000;
    }

    /** A growable array of nanosecond latencies. */
    private static final class Samples {
        long[] v = new long[1024];
        int n;

        void add(long x) {
            if (n == v.length) {
                v = Arrays.copyOf(v, n * 2);
            }
            v[n++] = x;
        }

        void addAll(Samples o) {
            for (int i = 0; i < o.n; i++) {
                add(o.v[i]);
            }
        }

        long[] sorted() {
            long[] r = Arrays.copyOf(v, n);
            Arrays.sort(r);
            return r;
        }
    }

    private static final class Client implements Runnable {
        final int port;
        final byte[] fastRequest;
        final byte[] slowRequest;
        final int slowEvery;
        final AtomicLong counter;
        final long measureFrom;
        final long end;
        final Samples fast = new Samples();
        final Samples slow = new Samples();
        final byte[] buf = new byte[4096];
        long errors;
        String firstError;
        Thread thread;

        Client(int port, byte[] fastRequest, byte[] slowRequest, int slowEvery, AtomicLong counter, long measureFrom,
                long end) {
            this.port = port;
            this.fastRequest = fastRequest;
            this.slowRequest = slowRequest;
            this.slowEvery = slowEvery;
            this.counter = counter;
            this.measureFrom = measureFrom;
            this.end = end;
        }

        @Override
        public void run() {
            for (long t0 = System.nanoTime(); t0 < end; t0 = System.nanoTime()) {
                boolean isSlow = counter.getAndIncrement() % slowEvery == 0;
                String error = exchange(isSlow ? slowRequest : fastRequest);
                long took = System.nanoTime() - t0;
                // Counted by when it started: a request begun in the warm-up is not measured.
                if (t0 < measureFrom) {
                    continue;
                }
                if (error != null) {
                    errors++;
                    if (firstError == null) {
                        firstError = error;
                    }
                } else {
                    (isSlow ? slow : fast).add(took);
                }
            }
        }

        /** One connection, one request, the whole response; null if it was a 200, else what went wrong. */
        private String exchange(byte[] request) {
            try (Socket s = new Socket()) {
                s.setSoTimeout(TIMEOUT_MS);
                s.connect(new InetSocketAddress("127.0.0.1", port), TIMEOUT_MS);
                s.getOutputStream().write(request);
                InputStream in = s.getInputStream();
                int len = 0;
                for (int r; (r = in.read(buf, len, buf.length - len)) > 0; ) {
                    len += r;
                    if (len == buf.length) {
                        return "response longer than " + buf.length + " bytes";
                    }
                }
                String head = new String(buf, 0, Math.min(len, 12), StandardCharsets.US_ASCII);
                return head.startsWith("HTTP/1.1 200") ? null : "status line " + head.trim();
            } catch (IOException e) {
                return e.toString();
            }
        }
    }
}
