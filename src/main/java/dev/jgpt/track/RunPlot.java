package dev.jgpt.track;

import de.erichseifert.vectorgraphics2d.VectorGraphics2D;
import de.erichseifert.vectorgraphics2d.svg.SVGProcessor;
import de.erichseifert.vectorgraphics2d.util.PageSize;
import dev.jgpt.JgptException;
import dev.jgpt.io.AtomicFiles;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.XYStyler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The curves of one or more runs in one picture, with XChart: training and validation loss on top,
 * then HellaSwag, learning rate, gradient norm and tokens/s, runs overlaid in their own colors. For
 * GPT-2 124M's shape it adds build-nanogpt's reference lines (GPT-2 124M's validation loss on
 * FineWeb-Edu, GPT-2's and GPT-3's 124M HellaSwag). A run that diverged (a NaN or infinite loss or
 * gradient norm, {@link RunInfo#divergedAt()}) is drawn up to its last applied step and marked where
 * it diverged.
 */
public final class RunPlot {
    /** What the x axis counts. */
    public enum XAxis {
        STEPS, TOKENS
    }

    private static final int WIDTH = 1280, TOP_HEIGHT = 440, PANEL_HEIGHT = 330;
    /** Matplotlib's tab10, which readers of build-nanogpt's plots know. */
    private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c), new Color(0xd62728),
            new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f), new Color(0xbcbd22), new Color(0x17becf)};
    private static final Color REFERENCE = new Color(0xc0392b), REFERENCE_2 = new Color(0x7d3c98);

    static {
        System.setProperty("java.awt.headless", "true"); // plots are drawn off screen, also where there is no display
    }

    private RunPlot() {
    }

    /** Draws the runs into {@code out}, PNG or SVG by its extension; what could not be drawn goes to {@code problems}. */
    public static void write(List<RunInfo> runs, XAxis x, Path out, Problems problems) {
        String file = out.getFileName().toString().toLowerCase(Locale.ROOT);
        boolean svg = file.endsWith(".svg");
        if (!svg && !file.endsWith(".png")) throw new JgptException("--out " + out + ": the file must end in .png or .svg");
        AtomicFiles.checkNotUnderAFile(out, "--out"); // said before drawing
        if (Files.isDirectory(out)) throw new JgptException("--out " + out + ": is a folder; give a .png or .svg file");
        List<XYChart> charts = charts(runs, x, problems);
        int height = TOP_HEIGHT + (charts.size() / 2) * PANEL_HEIGHT; // the small panels two to a row
        byte[] bytes;
        try {
            if (svg) {
                VectorGraphics2D g = new VectorGraphics2D();
                paint(g, charts, height);
                ByteArrayOutputStream b = new ByteArrayOutputStream();
                new SVGProcessor().getDocument(g.getCommands(), new PageSize(0, 0, WIDTH, height)).writeTo(b);
                bytes = b.toByteArray();
            } else {
                BufferedImage image = new BufferedImage(WIDTH, height, BufferedImage.TYPE_INT_RGB);
                Graphics2D g = image.createGraphics();
                paint(g, charts, height);
                g.dispose();
                ByteArrayOutputStream b = new ByteArrayOutputStream();
                ImageIO.write(image, "png", b);
                bytes = b.toByteArray();
            }
        } catch (IOException e) {
            throw new JgptException(out + ": cannot draw (" + e.getMessage() + ")", e);
        } catch (Error | RuntimeException e) {
            if (String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT).contains("font")) {
                throw new JgptException("drawing text needs fonts, and Java found none (" + e.getMessage()
                        + "); install fontconfig and a font, e.g. apt-get install fontconfig fonts-dejavu-core", e);
            }
            throw e;
        }
        writeBytes(out, bytes);
    }

    private static void writeBytes(Path out, byte[] bytes) {
        try {
            AtomicFiles.write(out, tmp -> Files.write(tmp, bytes));
        } catch (IOException e) {
            throw JgptException.io(out, "write", e); // AtomicFiles names the file already; this is for the compiler
        }
    }

    /** The loss chart full width on top, the others two by two below it. */
    private static void paint(Graphics2D g, List<XYChart> charts, int height) {
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, WIDTH, height);
        for (int i = 0; i < charts.size(); i++) {
            boolean wide = i == 0 || (i == charts.size() - 1 && i % 2 == 1); // the loss, and a small panel left alone on its row
            int x = wide ? 0 : ((i - 1) % 2) * (WIDTH / 2);
            int y = i == 0 ? 0 : TOP_HEIGHT + ((i - 1) / 2) * PANEL_HEIGHT;
            int w = wide ? WIDTH : WIDTH / 2;
            int h = i == 0 ? TOP_HEIGHT : PANEL_HEIGHT;
            Graphics2D sub = (Graphics2D) g.create(x, y, w, h);
            charts.get(i).paint(sub, w, h);
            sub.dispose();
        }
    }

    /** The panels that have something to show; the loss panel always comes first. */
    static List<XYChart> charts(List<RunInfo> runs, XAxis x, Problems problems) {
        if (runs.isEmpty()) throw new JgptException("no runs to plot");
        boolean reference = runs.stream().anyMatch(RunInfo::isGpt2Small);
        String xTitle = x == XAxis.TOKENS ? "tokens" : "step";
        Map<String, Integer> seen = new HashMap<>();
        List<String> labels = new ArrayList<>();
        for (RunInfo r : runs) {
            int n = seen.merge(r.name(), 1, Integer::sum);
            labels.add(n == 1 ? r.name() : r.name() + " (" + n + ")");
        }
        double[] scale = new double[runs.size()];
        for (int i = 0; i < runs.size(); i++) {
            Double batch = runs.get(i).configNumber("train.total_batch_size");
            scale[i] = x == XAxis.STEPS ? 1 : batch == null ? Double.NaN : batch;
            if (Double.isNaN(scale[i])) {
                problems.add("no batch " + runs.get(i).dir(), runs.get(i).name() + ": no train.total_batch_size in its config;"
                        + " left out of the tokens axis");
            }
        }

        XYChart loss = chart("Loss", xTitle, "loss", TOP_HEIGHT, WIDTH); // linear: XChart labels a log axis at decades only
        XYChart hellaswag = chart("HellaSwag", xTitle, "acc_norm", PANEL_HEIGHT, WIDTH / 2);
        XYChart lr = chart("Learning rate", xTitle, "lr", PANEL_HEIGHT, WIDTH / 2);
        lr.getStyler().setYAxisDecimalPattern("0.0E0");
        XYChart norm = chart("Gradient norm (before clipping)", xTitle, "norm", PANEL_HEIGHT, WIDTH / 2);
        XYChart speed = chart("Throughput", xTitle, "tokens/s", PANEL_HEIGHT, WIDTH / 2);
        double xMin = Double.POSITIVE_INFINITY, xMax = Double.NEGATIVE_INFINITY;
        boolean anyHellaSwag = false;

        for (int i = 0; i < runs.size(); i++) {
            RunInfo r = runs.get(i);
            if (Double.isNaN(scale[i])) continue;
            Color color = COLORS[i % COLORS.length];
            String label = labels.get(i);
            int diverged = r.divergedAt();
            Series train = series(r, "train", "loss", scale[i], diverged);
            Series val = series(r, "val", "loss", scale[i], -1);
            if (train.size() > 0) line(loss, label + " train", train, new Color(color.getRed(), color.getGreen(), color.getBlue(), 140), false);
            if (val.size() > 0) line(loss, label + " val", val, color, true).setLineWidth(2.5f);
            if (diverged >= 0) {
                double y = train.size() > 0 ? train.ys[train.size() - 1] : val.size() > 0 ? val.ys[0] : Double.NaN;
                if (!Double.isNaN(y)) {
                    XYSeries m = loss.addSeries(label + " diverged at step " + diverged, new double[] {diverged * scale[i]}, new double[] {y});
                    m.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
                    m.setMarker(SeriesMarkers.CROSS);
                    m.setMarkerColor(Color.RED);
                }
            }
            Series hs = series(r, "hellaswag", "acc_norm", scale[i], -1);
            if (hs.size() > 0) {
                anyHellaSwag = true;
                line(hellaswag, label, hs, color, true);
            }
            Series rate = series(r, "train", "lr", scale[i], diverged);
            if (rate.size() > 0) line(lr, label, rate, color, false);
            Series n = series(r, "train", "norm", scale[i], diverged);
            if (n.size() > 0) line(norm, label, n, color, false);
            Series tps = series(r, "train", "tok_per_sec", scale[i], diverged);
            if (tps.size() > 0) line(speed, label, tps, color, false);
            for (Series s : List.of(train, val, hs, rate)) {
                if (s.size() > 0) {
                    xMin = Math.min(xMin, s.xs[0]);
                    xMax = Math.max(xMax, s.xs[s.size() - 1]);
                }
            }
        }
        if (xMin > xMax) throw new JgptException("nothing to plot: " + String.join(", ", labels) + " recorded no metrics yet");
        if (xMin == xMax) xMax = xMin + 1;
        if (reference) {
            reference(loss, "OpenAI GPT-2 124M val loss (" + RunInfo.GPT2_124M_VAL_LOSS + ")", RunInfo.GPT2_124M_VAL_LOSS, xMin, xMax, REFERENCE);
            reference(hellaswag, "OpenAI GPT-2 124M (" + RunInfo.GPT2_124M_HELLASWAG + ")", RunInfo.GPT2_124M_HELLASWAG, xMin, xMax, REFERENCE);
            reference(hellaswag, "OpenAI GPT-3 124M (" + RunInfo.GPT3_124M_HELLASWAG + ")", RunInfo.GPT3_124M_HELLASWAG, xMin, xMax, REFERENCE_2);
        }
        for (XYChart c : List.of(loss, hellaswag, lr, norm, speed)) roundTicks(c);
        List<XYChart> charts = new ArrayList<>();
        charts.add(loss);
        if (anyHellaSwag || reference) charts.add(hellaswag);
        for (XYChart c : List.of(lr, norm, speed)) if (!c.getSeriesMap().isEmpty()) charts.add(c);
        return charts;
    }

    /**
     * Labels both axes on round numbers, each panel over its own range. Where a panel's values are
     * equally spaced to within 1e-4 — steps 0, 1, 2, ...; tokens 0, 1024, ...; and, as XChart measures
     * it absolutely, any learning rate, whose neighbouring values differ by less — XChart puts its
     * ticks on every n-th value (0, 4480, 8960, ...; 2.0E-3, 1.9E-3, 1.8E-3, 1.7E-3, 1.5E-3, ...)
     * rather than on multiples of 1, 2 or 5 times a power of ten with a check that the labels fit, as
     * it does for any other values. An invisible point inside the panel, half way between two whole
     * steps and half way up, makes the values unequally spaced on both axes. Every x tick XChart keeps
     * is labelled; only fractions of a step or token are left blank.
     */
    private static void roundTicks(XYChart c) {
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        double yMin = Double.POSITIVE_INFINITY, yMax = Double.NEGATIVE_INFINITY;
        for (XYSeries s : c.getSeriesMap().values()) {
            for (int i = 0; i < s.getXData().length; i++) {
                min = Math.min(min, s.getXData()[i]);
                max = Math.max(max, s.getXData()[i]);
                double y = s.getYData()[i];
                if (Double.isFinite(y)) {
                    yMin = Math.min(yMin, y);
                    yMax = Math.max(yMax, y);
                }
            }
        }
        if (max - min >= 1 && yMin <= yMax) {
            XYSeries off = c.addSeries(" off-grid", new double[] {min + 0.5}, new double[] {(yMin + yMax) / 2}); // inside: the ranges stay
            off.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            off.setMarker(SeriesMarkers.NONE);
            off.setShowInLegend(false);
        }
        // XChart refuses an empty label
        c.getStyler().setxAxisTickLabelsFormattingFunction(v -> v == Math.rint(v) ? label(v) : " ");
    }

    /** 1500 as "1,500", 2_500_000 as "2.5M". */
    private static String label(double v) {
        double a = Math.abs(v);
        if (a >= 1e6) return String.format(Locale.ROOT, "%sM", new java.text.DecimalFormat("0.##").format(v / 1e6));
        return new java.text.DecimalFormat("#,##0.##").format(v);
    }

    /** x and y of one field over one type of entries, up to (not including) step {@code stopAt} when it is >= 0. */
    record Series(double[] xs, double[] ys) {
        int size() {
            return xs.length;
        }

    }

    private static Series series(RunInfo r, String type, String field, double xScale, int stopAt) {
        List<Metrics.Entry> es = r.entries().stream()
                .filter(e -> e.type().equals(type) && e.hasNumber(field) && (stopAt < 0 || e.step() < stopAt)
                        && Double.isFinite(e.number(field)))
                .toList();
        ToDoubleFunction<Metrics.Entry> y = e -> e.number(field);
        return new Series(es.stream().mapToDouble(e -> e.step() * xScale).toArray(), es.stream().mapToDouble(y).toArray());
    }

    /**
     * The points of {@code s} a line drawn {@code columns} pixels wide shows: in each column, the
     * first, lowest, highest and last of the points that fall in it, in their order (M4, Jugel et al.,
     * VLDB 2014). A line through them looks as the line through all of them, and a GPT-2 124M run's
     * 19,073 steps are at most 4 x 1280 points: its curves in an SVG were 33 MB for two runs.
     */
    static Series thin(Series s, int columns) {
        int n = s.size();
        double x0 = n == 0 ? 0 : s.xs[0], span = n == 0 ? 0 : s.xs[n - 1] - x0;
        if (n <= 4 * columns || !(span > 0)) return s;
        boolean[] keep = new boolean[n];
        for (int start = 0, end; start < n; start = end) {
            int column = column(s.xs[start], x0, span, columns), lo = start, hi = start;
            for (end = start; end < n && column(s.xs[end], x0, span, columns) == column; end++) {
                if (s.ys[end] < s.ys[lo]) lo = end;
                if (s.ys[end] > s.ys[hi]) hi = end;
            }
            keep[start] = keep[lo] = keep[hi] = keep[end - 1] = true;
        }
        int kept = 0;
        for (boolean k : keep) if (k) kept++;
        double[] xs = new double[kept], ys = new double[kept];
        for (int i = 0, j = 0; i < n; i++) {
            if (keep[i]) {
                xs[j] = s.xs[i];
                ys[j++] = s.ys[i];
            }
        }
        return new Series(xs, ys);
    }

    private static int column(double x, double x0, double span, int columns) {
        return (int) Math.max(0, Math.min(columns - 1, (x - x0) / span * columns));
    }

    private static XYChart chart(String title, String xTitle, String yTitle, int height, int width) {
        XYChart c = new XYChartBuilder().width(width).height(height).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        XYStyler s = c.getStyler();
        s.setChartBackgroundColor(Color.WHITE);
        s.setPlotBackgroundColor(Color.WHITE);
        s.setPlotBorderColor(new Color(0xbbbbbb));
        s.setPlotGridLinesColor(new Color(0xe6e6e6));
        s.setLegendBackgroundColor(new Color(255, 255, 255, 220));
        s.setLegendBorderColor(new Color(0xcccccc));
        s.setLegendPosition(Styler.LegendPosition.InsideNE);
        s.setChartTitleBoxVisible(false);
        s.setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        s.setLegendFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        s.setAxisTitleFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        s.setAxisTickLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        s.setMarkerSize(5);
        s.setToolTipsEnabled(false);
        s.setChartPadding(8);
        s.setPlotGridVerticalLinesVisible(false);
        return c;
    }

    private static XYSeries line(XYChart chart, String name, Series s, Color color, boolean markers) {
        if (!markers) s = thin(s, chart.getWidth());
        XYSeries series = chart.addSeries(name, s.xs, s.ys);
        series.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        series.setLineColor(color);
        series.setLineWidth(1.2f);
        series.setLineStyle(SeriesLines.SOLID);
        series.setMarker(markers ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
        series.setMarkerColor(color);
        return series;
    }

    private static void reference(XYChart chart, String name, double y, double xMin, double xMax, Color color) {
        XYSeries s = chart.addSeries(name, new double[] {xMin, xMax}, new double[] {y, y});
        s.setLineColor(color);
        s.setLineStyle(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[] {6, 4}, 0));
        s.setMarker(SeriesMarkers.NONE);
    }
}
