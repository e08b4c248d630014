package io.prefork.supervisor.internal.footprint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link OwnFootprint} in a JVM of its own (it changes the flags of the JVM it runs in, which must not be this test
 * JVM), started with the flags a test needs: {@link Probe} prints what it did and the flags after.
 */
@Timeout(60)
class OwnFootprintTest {

    /** Runs in the child JVM: tune, then make garbage so the heap grows, then release; prints key=value lines. */
    public static final class Probe {
        public static void main(String[] args) {
            for (String line : OwnFootprint.tune()) {
                System.out.println("tuned=" + line);
            }
            HotSpotDiagnosticMXBean hotspot = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
            for (String flag : List.of("MinHeapFreeRatio", "MaxHeapFreeRatio", "G1PeriodicGCInterval")) {
                System.out.println(flag + "=" + hotspot.getVMOption(flag).getValue());
            }
            // 256 MiB of short-lived garbage in 1 MiB arrays: the young generation is used, as a starting
            // supervisor's is (a sink keeps the allocations from being optimised away).
            long sink = 0;
            for (int i = 0; i < 256; i++) {
                byte[] b = new byte[1 << 20];
                b[i] = (byte) i;
                sink += b[i];
            }
            System.out.println("sink=" + sink);
            System.out.println("committedBefore=" + ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted());
            System.out.println("released=" + OwnFootprint.release());
            System.out.println("committedAfter=" + ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted());
        }
    }

    private static Map<String, String> probe(String... jvmOptions) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of(jvmOptions));
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Probe.class.getName());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out;
        try {
            out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the probe JVM exits");
        } finally {
            p.destroyForcibly();
        }
        assertEquals(0, p.exitValue(), out);
        Map<String, String> kv = new LinkedHashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                kv.merge(line.substring(0, eq), line.substring(eq + 1), (a, b) -> a + "\n" + b);
            }
        }
        kv.put("output", out);
        return kv;
    }

    @Test
    void lowersTheFreeRatiosAndTurnsOnG1sPeriodicCollectionButNotBelowXms() throws Exception {
        // G1, as java -jar gets on 2 or more CPUs; -Xms makes the minimum heap 256 MiB too, so nothing shrinks.
        Map<String, String> r = probe("-XX:+UseG1GC", "-Xms256m", "-Xmx1g");
        String out = r.get("output");
        assertEquals(Integer.toString(OwnFootprint.MIN_HEAP_FREE_RATIO), r.get("MinHeapFreeRatio"), out);
        assertEquals(Integer.toString(OwnFootprint.MAX_HEAP_FREE_RATIO), r.get("MaxHeapFreeRatio"), out);
        assertEquals(Long.toString(OwnFootprint.G1_PERIODIC_GC_INTERVAL_MS), r.get("G1PeriodicGCInterval"), out);
        assertTrue(Long.parseLong(r.get("committedAfter")) >= 256L << 20, "not below -Xms: " + out);
        assertTrue(r.get("released").startsWith("Trim native heap") || r.get("released").startsWith(
                "native heap not trimmed"), out);
    }

    @Test
    void theHeapShrinksBelowItsErgonomicInitialSize() throws Exception {
        // An initial heap chosen by ergonomics, as under java -jar (1/64 of the memory: MaxRAM pretends 16 GiB), not
        // by -Xms, which would also set the minimum the heap may shrink to (8 MiB otherwise).
        Map<String, String> r = probe("-XX:+UseG1GC", "-XX:MaxRAM=16g");
        String out = r.get("output");
        long before = Long.parseLong(r.get("committedBefore"));
        long after = Long.parseLong(r.get("committedAfter"));
        assertTrue(before >= 200L << 20, "the heap started at 256 MiB: " + out);
        assertTrue(after <= 32L << 20, "one collection with the new ratios gives most of it back: " + after + "\n" + out);
    }

    @Test
    void leavesAFlagTheUserSetAsTheySetIt() throws Exception {
        Map<String, String> r = probe("-XX:+UseG1GC", "-XX:MaxHeapFreeRatio=50", "-XX:G1PeriodicGCInterval=0");
        String out = r.get("output");
        assertEquals("50", r.get("MaxHeapFreeRatio"), out);
        assertEquals("0", r.get("G1PeriodicGCInterval"), out);
        assertEquals(Integer.toString(OwnFootprint.MIN_HEAP_FREE_RATIO), r.get("MinHeapFreeRatio"), out);
        assertTrue(r.get("tuned").contains("MaxHeapFreeRatio 50: left as given (VM_CREATION)"), out);
    }

    @Test
    void noPeriodicCollectionOutsideG1() throws Exception {
        Map<String, String> r = probe("-XX:+UseSerialGC");
        String out = r.get("output");
        assertEquals("0", r.get("G1PeriodicGCInterval"), out);
        assertEquals(Integer.toString(OwnFootprint.MAX_HEAP_FREE_RATIO), r.get("MaxHeapFreeRatio"), out);
        assertTrue(!r.get("tuned").contains("G1PeriodicGCInterval"), out);
    }
}
