package io.prefork.bench.e2e;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * The idle keep-alive load of issue 15, loopback only and bounded: opens N keep-alive connections to a local HTTP
 * server, sends one request on each (so that a parking server parks them all), then lets them idle for a phase,
 * then for another phase sends a request on 1% of them each second (random ones, one at a time, each answered
 * before the next). Samples a process's RSS and CPU time (from /proc) at each phase's end: the supervisor's, given
 * its pid.
 *
 * <pre>java -cp benchmarks.jar io.prefork.bench.e2e.ParkedLoad PORT PID [CONNECTIONS [PHASE_SECONDS]]</pre>
 */
public final class ParkedLoad {
    private static final byte[] REQUEST = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    private ParkedLoad() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: ParkedLoad PORT PID [CONNECTIONS (10000)] [PHASE_SECONDS (30)]");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        long pid = Long.parseLong(args[1]);
        int n = args.length > 2 ? Integer.parseInt(args[2]) : 10_000;
        int phase = args.length > 3 ? Integer.parseInt(args[3]) : 30;
        if (n < 1 || n > 60_000 || phase < 1 || phase > 600) {
            throw new IllegalArgumentException("CONNECTIONS 1..60000 and PHASE_SECONDS 1..600, not " + n + ", " + phase);
        }
        ByteBuffer buf = ByteBuffer.allocate(4096);
        List<SocketChannel> conns = new ArrayList<>(n);
        long t0 = System.nanoTime();
        try {
            for (int i = 0; i < n; i++) {
                SocketChannel c = SocketChannel.open(new InetSocketAddress("127.0.0.1", port));
                conns.add(c);
                exchange(c, buf);
            }
            System.out.printf("opened %d keep-alive connections, one request each, in %.1f s%n", n,
                    (System.nanoTime() - t0) / 1e9);
            Sample start = Sample.of(pid);
            Thread.sleep(phase * 1000L);
            Sample idle = Sample.of(pid);
            System.out.printf("idle %d s: supervisor RSS %d MB, CPU %.2f%% of one core%n", phase, idle.rssKb / 1024,
                    100.0 * (idle.cpuTicks - start.cpuTicks) / (phase * 100.0));
            Random random = new Random(15);
            int perSecond = Math.max(1, n / 100);
            long[] latencies = new long[perSecond * phase];
            int done = 0;
            long next = System.nanoTime();
            for (int s = 0; s < phase; s++) {
                for (int i = 0; i < perSecond; i++) {
                    long r0 = System.nanoTime();
                    exchange(conns.get(random.nextInt(n)), buf);
                    latencies[done++] = System.nanoTime() - r0;
                }
                next += 1_000_000_000L;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
            }
            Sample active = Sample.of(pid);
            Arrays.sort(latencies, 0, done);
            System.out.printf("1%% active %d s (%d requests/s): supervisor RSS %d MB, CPU %.2f%% of one core; "
                            + "latency median %.2f ms, p99 %.2f ms, max %.2f ms%n", phase, perSecond,
                    active.rssKb / 1024, 100.0 * (active.cpuTicks - idle.cpuTicks) / (phase * 100.0),
                    latencies[done / 2] / 1e6, latencies[(int) (done * 0.99)] / 1e6, latencies[done - 1] / 1e6);
        } finally {
            for (SocketChannel c : conns) {
                c.close();
            }
        }
    }

    /** Sends one request and reads its whole response (Content-Length framed, small). */
    private static void exchange(SocketChannel c, ByteBuffer buf) throws IOException {
        c.write(ByteBuffer.wrap(REQUEST));
        buf.clear();
        while (true) {
            if (c.read(buf) < 0) {
                throw new IOException("server closed a keep-alive connection");
            }
            String head = new String(buf.array(), 0, buf.position(), StandardCharsets.ISO_8859_1);
            int end = head.indexOf("\r\n\r\n");
            if (end >= 0) {
                int cl = head.toLowerCase().indexOf("content-length:");
                int len = Integer.parseInt(head.substring(cl + 15, head.indexOf("\r\n", cl)).trim());
                if (buf.position() >= end + 4 + len) {
                    return;
                }
            }
        }
    }

    /** RSS (kB) and CPU ticks (user + system, at 100 per second) of a process. */
    private record Sample(long rssKb, long cpuTicks) {
        static Sample of(long pid) throws IOException {
            long rss = 0;
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    rss = Long.parseLong(line.replaceAll("\\D", ""));
                }
            }
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            // After the command: field 3 is state, so utime (14) and stime (15) are at 11 and 12 here.
            return new Sample(rss, Long.parseLong(f[11]) + Long.parseLong(f[12]));
        }
    }
}
