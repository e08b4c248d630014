package io.prefork.supervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.image.BufferedImage;
import java.io.File;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The status page as a person sees it: loaded in headless Chromium from a real supervisor under a little load, and
 * screenshot to {@code target/status-page.png} (look at it). Checks what a browser adds to the HTML checks of
 * {@code StatusPagePlotsTest}: the page renders, at the window's size, and the inline SVG plots are drawn (pixels of
 * the plot line's colour). Skipped where Chromium is not installed (Debian: {@code apt-get install chromium};
 * {@code .ci/run} installs it on CI).
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class StatusPageBrowserTest {
    static final Duration WAIT = Duration.ofSeconds(60);
    /** The plot line's colour in Plot.java, #1f5fb0. */
    static final int LINE_RGB = 0x1f5fb0;
    /** The plot area's fill in Plot.java, #fafafa. */
    static final int PLOT_BACKGROUND_RGB = 0xfafafa;

    @TempDir
    Path profile;

    @AfterEach
    void killLeftovers() {
        ProcessHandle.current().descendants().forEach(ProcessHandle::destroyForcibly);
    }

    static Path chromium() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            for (String name : List.of("chromium", "chromium-browser")) {
                Path p = Path.of(dir, name);
                if (Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        return null;
    }

    @Test
    void theStatusPageRendersWithItsScoreboardAndPlots() throws Exception {
        Path chromium = chromium();
        assumeTrue(chromium != null, "Chromium is not installed (no chromium or chromium-browser on PATH; Debian: "
                + "apt-get install chromium): the page is checked as HTML only, by StatusPagePlotsTest");
        Supervisor s = Supervisor.start(AdminEndpointTest.config().admin("127.0.0.1:0").jmx(false).build());
        AtomicBoolean loading = new AtomicBoolean(true);
        AtomicReference<Throwable> loadFailure = new AtomicReference<>();
        List<Thread> load = new ArrayList<>();
        try {
            s.ready().get(WAIT.toSeconds(), TimeUnit.SECONDS);
            InetSocketAddress listen = s.listenAddress();
            for (int i = 0; i < 2; i++) {
                Thread t = new Thread(() -> {
                    try {
                        while (loading.get()) {
                            AdminEndpointTest.request(listen);
                        }
                    } catch (Throwable e) {
                        loadFailure.compareAndSet(null, e);
                    }
                }, "load-" + i);
                t.start();
                load.add(t);
            }
            // A few seconds of samples, so the plots have lines: wait until the page shows some.
            HttpClient http = HttpClient.newHttpClient();
            URI page = URI.create("http://127.0.0.1:" + s.adminAddress().getPort() + "/");
            long deadline = System.nanoTime() + WAIT.toNanos();
            String html;
            do {
                assertTrue(System.nanoTime() < deadline, "no plot line on the page within " + WAIT);
                Thread.sleep(200); // the polling interval
                html = http.send(HttpRequest.newBuilder(page).timeout(Duration.ofSeconds(10)).build(),
                        HttpResponse.BodyHandlers.ofString()).body();
            } while (html.split("<polyline ", -1).length - 1 < 4);

            Path png = Path.of("target", "status-page.png").toAbsolutePath();
            Files.deleteIfExists(png);
            Process p = new ProcessBuilder(chromium.toString(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--user-data-dir=" + profile, "--screenshot=" + png, "--window-size=1200,900",
                    page.toString())
                    .redirectErrorStream(true).redirectOutput(profile.resolve("chromium.log").toFile()).start();
            assertTrue(p.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS), "Chromium did not finish within " + WAIT);
            String log = Files.readString(profile.resolve("chromium.log"));
            assertEquals(0, p.exitValue(), log);
            assertTrue(Files.exists(png), "no screenshot; Chromium said:\n" + log);
            BufferedImage image = ImageIO.read(png.toFile());
            assertEquals(1200, image.getWidth());
            assertEquals(900, image.getHeight());
            int line = 0;
            int plotArea = 0;
            for (int y = 0; y < image.getHeight(); y++) {
                for (int x = 0; x < image.getWidth(); x++) {
                    int rgb = image.getRGB(x, y) & 0xffffff;
                    line += near(rgb, LINE_RGB) ? 1 : 0;
                    plotArea += rgb == PLOT_BACKGROUND_RGB ? 1 : 0;
                }
            }
            // Four plot areas of 272 x 84 px drawn (most of them visible in the window), and their lines: a few
            // seconds of samples at the right edge of each, tens of pixels. A page without the SVG has neither.
            assertTrue(plotArea > 3 * 272 * 84, "only " + plotArea + " pixels of plot background in " + png);
            assertTrue(line > 20, "only " + line + " pixels of the plot line's colour in " + png);
            System.out.println("status page screenshot: " + png);
        } finally {
            loading.set(false);
            for (Thread t : load) {
                t.join(TimeUnit.SECONDS.toMillis(20));
            }
            s.close();
        }
        if (loadFailure.get() != null) {
            throw new AssertionError("the load failed", loadFailure.get());
        }
    }

    /** Within antialiasing distance of a colour. */
    private static boolean near(int rgb, int target) {
        for (int shift = 0; shift <= 16; shift += 8) {
            if (Math.abs(((rgb >> shift) & 0xff) - ((target >> shift) & 0xff)) > 24) {
                return false;
            }
        }
        return true;
    }
}
