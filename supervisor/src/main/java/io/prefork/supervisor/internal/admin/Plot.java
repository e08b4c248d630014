package io.prefork.supervisor.internal.admin;

import java.util.Locale;

/**
 * A small line plot as inline SVG: a history series, newest sample at the right edge, the y axis from 0 to a round
 * number at or above the largest value. Drawn on the server so the status page needs no script and no library.
 *
 * <p>A missing sample ({@code NaN}) breaks the line: a gap says "not measured", where a drop to 0 would claim a
 * measurement. While the history is shorter than the window, the line starts part-way across, so the time axis is
 * the same on every page load.
 */
final class Plot {
    static final int WIDTH = 320;
    static final int HEIGHT = 110;
    private static final int LEFT = 40;
    private static final int RIGHT = 8;
    private static final int TOP = 8;
    private static final int BOTTOM = 18;

    private Plot() {
    }

    /**
     * Appends one {@code <figure>}: a caption with the latest and largest values, then the SVG.
     *
     * @param capacity the window in samples (the x axis spans it whatever the number of values)
     * @param decimals digits after the point in the labels (0 for counts)
     */
    static void render(StringBuilder h, String title, double[] values, int capacity, long minutes, int decimals) {
        double max = 0;
        double last = Double.NaN;
        for (double v : values) {
            if (!Double.isNaN(v)) {
                max = Math.max(max, v);
                last = v;
            }
        }
        // A count plotted up to 1 would label its half-way line "0.5" or, rounded, "1" twice: counts go up to 2 at least.
        double top = decimals == 0 ? Math.max(2, niceCeiling(max)) : niceCeiling(max);
        double plotW = WIDTH - LEFT - RIGHT;
        double plotH = HEIGHT - TOP - BOTTOM;
        String label = StatusPage.esc(title);
        h.append("<figure><figcaption><b>").append(label).append("</b>: now ")
                .append(Double.isNaN(last) ? "&ndash;" : num(last, decimals)).append(", max ")
                .append(num(max, decimals)).append("</figcaption>\n")
                .append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(WIDTH).append("\" height=\"")
                .append(HEIGHT).append("\" viewBox=\"0 0 ").append(WIDTH).append(' ').append(HEIGHT)
                .append("\" role=\"img\" aria-label=\"").append(label).append(", last ").append(minutes)
                .append(" minutes\"><title>").append(label).append("</title>\n");
        // Frame, a half-way grid line, the axis labels.
        h.append("<rect x=\"").append(LEFT).append("\" y=\"").append(TOP).append("\" width=\"").append(fmt(plotW))
                .append("\" height=\"").append(fmt(plotH)).append("\" fill=\"#fafafa\" stroke=\"#bbb\"/>\n")
                .append("<line x1=\"").append(LEFT).append("\" x2=\"").append(fmt(LEFT + plotW)).append("\" y1=\"")
                .append(fmt(TOP + plotH / 2)).append("\" y2=\"").append(fmt(TOP + plotH / 2))
                .append("\" stroke=\"#ddd\" stroke-dasharray=\"3 3\"/>\n");
        axisLabel(h, LEFT - 4, TOP + 9, "end", num(top, top < 10 && decimals > 0 ? decimals : 0));
        // Half of 5 is 2.5: shown as such, not rounded to a 3 that the line would contradict.
        int midDecimals = top < 10 && decimals > 0 ? decimals : top / 2 == Math.rint(top / 2) ? 0 : 1;
        axisLabel(h, LEFT - 4, TOP + plotH / 2 + 4, "end", num(top / 2, midDecimals));
        axisLabel(h, LEFT - 4, TOP + plotH, "end", "0");
        axisLabel(h, LEFT, HEIGHT - 4, "start", "-" + minutes + " min");
        axisLabel(h, LEFT + plotW, HEIGHT - 4, "end", "now");
        // The series: one polyline per run of samples without a gap.
        double step = plotW / (capacity - 1);
        int offset = capacity - values.length;
        StringBuilder points = new StringBuilder();
        int run = 0;
        for (int i = 0; i <= values.length; i++) {
            boolean gap = i == values.length || Double.isNaN(values[i]);
            if (gap) {
                if (run == 1) {
                    // A lone sample between gaps: a dot, or it would not show at all.
                    String[] xy = points.toString().trim().split(",");
                    h.append("<circle cx=\"").append(xy[0]).append("\" cy=\"").append(xy[1])
                            .append("\" r=\"1.5\" fill=\"#1f5fb0\"/>\n");
                } else if (run > 1) {
                    h.append("<polyline fill=\"none\" stroke=\"#1f5fb0\" stroke-width=\"1.5\" points=\"")
                            .append(points.toString().trim()).append("\"/>\n");
                }
                points.setLength(0);
                run = 0;
                continue;
            }
            double x = LEFT + (offset + i) * step;
            double y = TOP + plotH - Math.min(values[i], top) / top * plotH;
            points.append(fmt(x)).append(',').append(fmt(y)).append(' ');
            run++;
        }
        if (values.length == 0) {
            axisLabel(h, LEFT + plotW / 2, TOP + plotH / 2 + 4, "middle", "no samples yet");
        }
        h.append("</svg></figure>\n");
    }

    private static void axisLabel(StringBuilder h, double x, double y, String anchor, String text) {
        h.append("<text x=\"").append(fmt(x)).append("\" y=\"").append(fmt(y)).append("\" text-anchor=\"")
                .append(anchor).append("\">").append(StatusPage.esc(text)).append("</text>\n");
    }

    /** The smallest of 1, 2, 5 times a power of ten that is at least {@code max}; 1 for 0. */
    static double niceCeiling(double max) {
        if (!(max > 0)) {
            return 1;
        }
        double p = Math.pow(10, Math.floor(Math.log10(max)));
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * p >= max * (1 - 1e-9)) {
                return m * p;
            }
        }
        return 10 * p;
    }

    private static String num(double v, int decimals) {
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.1f", v);
    }
}
