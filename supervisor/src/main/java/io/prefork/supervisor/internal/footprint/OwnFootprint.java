package io.prefork.supervisor.internal.footprint;

import com.sun.management.HotSpotDiagnosticMXBean;
import com.sun.management.VMOption;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.ObjectName;

/**
 * Keeps the supervisor's own JVM small without asking for JVM flags: it is started with {@code java -jar}, so on a
 * machine with gigabytes of memory HotSpot picks G1 with an initial heap of 1/64 of it, touches a young generation
 * sized from that while the supervisor starts, and keeps what it touched (and the collector's per-region tables)
 * committed. Measured in bench/README.md ("Memory: where it goes"): most of an idle supervisor's resident set above a
 * bare JVM's is that heap, and native memory the JIT compilers freed but glibc kept.
 *
 * <p>What a running JVM can change about itself: the <em>manageable</em> flags, through
 * {@link HotSpotDiagnosticMXBean#setVMOption}. {@link #tune} lowers the free-heap ratios (so a collection gives back
 * what the live data does not need) and, with G1, turns on its periodic collection while idle (JEP 346: it returns
 * the unused heap a burst of load left committed). A flag the user set on the command line is left as they set it.
 * {@link #release} is called once the workers are ready: one full collection shrinks the heap to the new ratios, and
 * {@code System.trim_native_heap} (the jcmd command, through its MBean) hands freed native memory back to the OS.
 *
 * <p>Only for the command line ({@code Main}), which owns its JVM; an application embedding {@code Supervisor} keeps
 * its own heap policy.
 */
public final class OwnFootprint {
    /** Below G1's defaults (40 and 70): the heap is shrunk to at most 1/(1 - 0.3) of the live data after a GC. */
    static final int MIN_HEAP_FREE_RATIO = 10;
    static final int MAX_HEAP_FREE_RATIO = 30;
    /** G1's periodic collection while idle (no other collection in that long), in ms. */
    static final long G1_PERIODIC_GC_INTERVAL_MS = 60_000;
    /**
     * How often {@link #start}'s thread trims the native heap. As the workers' {@code TrimNativeHeapInterval}: memory
     * freed after the first trim (G1's full-collection structures, the compilers' arenas of a burst of load) was held
     * until the next one, and with 30 s between them an idle JDK 25 supervisor read 100 MiB for half a minute and
     * 80 after (bench/README.md, issue 12). A trim with little to give back costs well under a millisecond.
     */
    public static final long TRIM_EVERY_MS = 5_000;

    private OwnFootprint() {
    }

    /**
     * Sets the manageable flags above where the user left them at their defaults; returns one line per flag set (for
     * the log), or why nothing was. Never throws: a JVM without these flags (not HotSpot) is left as it is.
     */
    public static List<String> tune() {
        HotSpotDiagnosticMXBean hotspot = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
        List<String> done = new ArrayList<>();
        if (hotspot == null) {
            done.add("not a HotSpot JVM: heap flags left alone");
            return done;
        }
        // Min before Max: HotSpot checks Min <= Max on every set, and both defaults are above the new values.
        set(hotspot, "MinHeapFreeRatio", Integer.toString(MIN_HEAP_FREE_RATIO), done);
        set(hotspot, "MaxHeapFreeRatio", Integer.toString(MAX_HEAP_FREE_RATIO), done);
        if ("true".equals(value(hotspot, "UseG1GC"))) {
            set(hotspot, "G1PeriodicGCInterval", Long.toString(G1_PERIODIC_GC_INTERVAL_MS), done);
        }
        return done;
    }

    private static void set(HotSpotDiagnosticMXBean hotspot, String flag, String value, List<String> done) {
        VMOption option;
        try {
            option = hotspot.getVMOption(flag);
        } catch (IllegalArgumentException absent) {
            done.add(flag + ": not in this JVM");
            return;
        }
        if (option.getOrigin() != VMOption.Origin.DEFAULT) {
            done.add(flag + " " + option.getValue() + ": left as given (" + option.getOrigin() + ")");
            return;
        }
        try {
            hotspot.setVMOption(flag, value);
            done.add(flag + " " + option.getValue() + " -> " + value);
        } catch (IllegalArgumentException | SecurityException e) {
            done.add(flag + ": not set (" + e.getMessage() + ")");
        }
    }

    private static String value(HotSpotDiagnosticMXBean hotspot, String flag) {
        try {
            return hotspot.getVMOption(flag).getValue();
        } catch (IllegalArgumentException absent) {
            return null;
        }
    }

    /**
     * Starts a daemon thread that calls {@link #release} once, passes its report to {@code log}, then trims the native
     * heap every {@code trimEveryMs}: the JIT compilers' arenas (tens of MiB at the peak of a large compilation, some
     * time after a burst of load) are freed to glibc, which keeps them until told otherwise. That is what HotSpot's
     * own {@code -XX:TrimNativeHeapInterval} does, which cannot be set on a running JVM. A trim takes a fraction of a
     * millisecond when there is little to give back.
     */
    public static Thread start(long trimEveryMs, Consumer<String> log) {
        Thread t = new Thread(() -> {
            log.accept(release());
            try {
                while (true) {
                    Thread.sleep(trimEveryMs);
                    trimNativeHeap();
                }
            } catch (InterruptedException stop) {
                Thread.currentThread().interrupt();
            }
        }, "prefork-footprint");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /**
     * One full collection (the heap shrinks to the ratios {@link #tune} set; a no-op under
     * {@code -XX:+DisableExplicitGC}), then the native heap trimmed. Stops every thread for the collection: a few
     * milliseconds on the supervisor's heap, once, while idle. Returns the trim's own one-line report (resident
     * memory before and after), or why there was none.
     */
    public static String release() {
        System.gc();
        return trimNativeHeap();
    }

    /** jcmd's {@code System.trim_native_heap}; returns its one-line report, or why there was none. */
    static String trimNativeHeap() {
        try {
            MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            ObjectName dcmd = new ObjectName("com.sun.management:type=DiagnosticCommand");
            // jcmd's System.trim_native_heap: malloc_trim(0) on glibc; JDK 17.0.9 and later, 21.0.1 and later.
            Object out = server.invoke(dcmd, "systemTrimNativeHeap", new Object[0], new String[0]);
            String text = String.valueOf(out).strip();
            int nl = text.lastIndexOf('\n');
            return nl < 0 ? text : text.substring(nl + 1);
        } catch (JMException | RuntimeException e) {
            return "native heap not trimmed (" + e + ")";
        }
    }
}
