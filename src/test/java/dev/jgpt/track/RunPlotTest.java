package dev.jgpt.track;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;

import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the plot's panels hold: the runs overlaid, the reference lines, and a diverged run cut and marked. */
class RunPlotTest {
    @TempDir
    Path runs;

    @Test
    void panelsOverlayTheRunsWithReferenceLinesForGpt2Small() {
        RunInfo small = RunInfo.read(RunInfoTest.trainedRun(runs, "small"));
        Path gpt2Dir = RunInfoTest.trainedRun(runs, "gpt2", "model.preset=gpt2", "model.block_size=1024", "train.seq_len=64");
        try (RunDirectory run = RunDirectory.open(gpt2Dir, new PrintStream(new ByteArrayOutputStream()))) {
            run.logHellaSwag(5, 100, 25, 27);
            run.logHellaSwag(10, 100, 26, 29);
            run.logTrain(10, Double.NaN, 1e-3, Double.NaN, 1, 1); // diverged here
        }
        RunInfo gpt2 = RunInfo.read(gpt2Dir);
        assertTrue(gpt2.isGpt2Small());
        Problems problems = new Problems();
        List<XYChart> charts = RunPlot.charts(List.of(small, gpt2), RunPlot.XAxis.STEPS, problems);
        assertEquals(List.of("Loss", "HellaSwag", "Learning rate", "Gradient norm (before clipping)", "Throughput"),
                charts.stream().map(XYChart::getTitle).toList());
        var loss = legend(charts.get(0));
        assertEquals(List.of("small train", "small val", "gpt2 train", "gpt2 val", "gpt2 diverged at step 10",
                "OpenAI GPT-2 124M val loss (3.2924)"), List.copyOf(loss.keySet()));
        // drawn up to the divergence: steps 0..9, and the mark sits on the last finite loss
        XYSeries train = loss.get("gpt2 train");
        assertEquals(10, train.getXData().length);
        assertEquals(9.0, train.getXData()[9]);
        XYSeries mark = loss.get("gpt2 diverged at step 10");
        assertArrayEquals(new double[] {10}, mark.getXData());
        assertArrayEquals(new double[] {train.getYData()[9]}, mark.getYData());
        assertArrayEquals(new double[] {3.2924, 3.2924}, loss.get("OpenAI GPT-2 124M val loss (3.2924)").getYData());
        assertEquals(List.of("gpt2", "OpenAI GPT-2 124M (0.2945)", "OpenAI GPT-3 124M (0.337)"),
                List.copyOf(legend(charts.get(1)).keySet()));
        assertArrayEquals(new double[] {0.27, 0.29}, charts.get(1).getSeriesMap().get("gpt2").getYData());
        assertTrue(problems.isEmpty());

        // x in tokens: steps times each run's tokens per step
        List<XYChart> byTokens = RunPlot.charts(List.of(small), RunPlot.XAxis.TOKENS, problems);
        assertEquals(9 * 1024.0, byTokens.get(0).getSeriesMap().get("small train").getXData()[9]);
        // the small shape alone: no reference lines and no HellaSwag panel
        assertFalse(byTokens.stream().anyMatch(c -> c.getTitle().equals("HellaSwag")));
        assertFalse(byTokens.get(0).getSeriesMap().keySet().stream().anyMatch(k -> k.contains("OpenAI")));
    }

    @Test
    void aRunStoppedOnAnInfiniteGradientNormIsCutAndMarkedThoughItsLossIsFinite() throws Exception {
        Path dir = RunInfoTest.trainedRun(runs, "overflow");
        java.nio.file.Files.writeString(dir.resolve("metrics.jsonl"),
                "{\"type\":\"train\",\"step\":10,\"loss\":1.436474496E9,\"norm\":Infinity,\"lr\":10000.0}\n",
                java.nio.file.StandardOpenOption.APPEND);
        List<XYChart> charts = RunPlot.charts(List.of(RunInfo.read(dir)), RunPlot.XAxis.STEPS, new Problems());
        var loss = legend(charts.get(0));
        assertEquals(List.of("overflow train", "overflow val", "overflow diverged at step 10"), List.copyOf(loss.keySet()));
        // the rejected step's loss (1.4e9) is not drawn: it would flatten every other curve
        XYSeries train = loss.get("overflow train");
        assertEquals(10, train.getXData().length);
        assertTrue(java.util.Arrays.stream(train.getYData()).allMatch(y -> y < 11), java.util.Arrays.toString(train.getYData()));
        assertArrayEquals(new double[] {10}, loss.get("overflow diverged at step 10").getXData());
        assertArrayEquals(new double[] {train.getYData()[9]}, loss.get("overflow diverged at step 10").getYData());
        for (XYChart c : charts.subList(1, charts.size())) {
            for (XYSeries s : legend(c).values()) assertTrue(java.util.Arrays.stream(s.getXData()).allMatch(x -> x < 10), c.getTitle());
        }
    }

    @Test
    void everyPanelLabelsItsXAxisOnRoundNumbersOverItsOwnRange() throws Exception {
        Path shortDir = RunInfoTest.trainedRun(runs, "short");
        try (RunDirectory run = RunDirectory.open(shortDir, new PrintStream(new ByteArrayOutputStream()))) {
            for (int step = 10; step < 40; step++) run.logTrain(step, 5, 1e-3, 1.5, 100, 10240);
            for (int step = 0; step <= 40; step += 20) run.logHellaSwag(step, 100, 25, 25 + step / 10);
        }
        Path longDir = RunInfoTest.trainedRun(runs, "long");
        try (RunDirectory run = RunDirectory.open(longDir, new PrintStream(new ByteArrayOutputStream()))) {
            for (int step = 10; step < 600; step++) run.logTrain(step, 5, 1e-3, 1.5, 100, 10240);
            run.logVal(600, 4.5);
        }
        List<RunInfo> both = List.of(RunInfo.read(shortDir), RunInfo.read(longDir));
        for (RunPlot.XAxis x : RunPlot.XAxis.values()) {
            for (List<RunInfo> runs : List.of(both.subList(0, 1), both)) {
                for (XYChart c : RunPlot.charts(runs, x, new Problems())) {
                    String what = x + " " + runs.size() + " runs, " + c.getTitle() + ": ";
                    List<Double> ticks = xLabels(c).stream().map(RunPlotTest::number).toList();
                    assertTrue(ticks.size() >= 4, what + ticks);
                    // each panel over its own range: HellaSwag's 0..40 steps is labelled up to 40, not left at "0"
                    double max = c.getSeriesMap().values().stream().flatMapToDouble(s -> java.util.Arrays.stream(s.getXData())).max().orElseThrow();
                    double spacing = ticks.get(1) - ticks.get(0);
                    assertTrue(ticks.getLast() + spacing > max, what + ticks + " stops short of " + max);
                    double round = Math.pow(10, Math.floor(Math.log10(spacing)));
                    assertEquals(spacing, spacing(ticks), 1e-9, what + ticks + " are not evenly spaced");
                    for (double t : ticks) assertEquals(0, Math.IEEEremainder(t, round), 1e-9, what + ticks + " are not round");
                }
            }
        }
    }

    @Test
    void theLearningRateAxisIsLabelledOnRoundNumbersNotOnItsValues() throws Exception {
        Path dir = RunInfoTest.trainedRun(runs, "cosine");
        Files.writeString(dir.resolve(RunDirectory.METRICS_FILE), ""); // this run's rates alone, from step 0
        try (RunDirectory run = RunDirectory.open(dir, new PrintStream(new ByteArrayOutputStream()))) {
            // neighbouring rates differ by far less than 1e-4, which XChart took for equally spaced values
            dev.jgpt.train.LrSchedule lr = new dev.jgpt.train.LrSchedule(2e-3, 2e-4, 50, 1000); // the quick start's
            for (int step = 0; step < 1000; step++) run.logTrain(step, 5, lr.lr(step), 1.5, 100, 10240);
        }
        XYChart lr = RunPlot.charts(List.of(RunInfo.read(dir)), RunPlot.XAxis.STEPS, new Problems()).stream()
                .filter(c -> c.getTitle().equals("Learning rate")).findFirst().orElseThrow();
        List<Double> ticks = labels(lr, false).stream().map(RunPlotTest::number).toList();
        assertTrue(ticks.size() >= 3, ticks.toString());
        double spacing = spacing(ticks);
        assertEquals(ticks.get(1) - ticks.get(0), spacing, 1e-12, ticks + " are not evenly spaced");
        assertEquals(0, Math.IEEEremainder(spacing, Math.pow(10, Math.floor(Math.log10(spacing)))), 1e-12, ticks + " are not round");
    }

    /** The series a reader sees in the legend. */
    private static java.util.Map<String, XYSeries> legend(XYChart c) {
        var shown = new java.util.LinkedHashMap<String, XYSeries>();
        c.getSeriesMap().forEach((k, s) -> {
            if (s.isShowInLegend()) shown.put(k, s);
        });
        return shown;
    }

    /** The x axis labels XChart draws (blank ones left out), read from its axis after painting. */
    private static List<String> xLabels(XYChart c) throws ReflectiveOperationException {
        return labels(c, true);
    }

    /** The labels XChart draws on the x or the y axis (blank ones left out), read from the axis after painting. */
    private static List<String> labels(XYChart c, boolean x) throws ReflectiveOperationException {
        BufferedImage image = new BufferedImage(c.getWidth(), c.getHeight(), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        c.paint(g, c.getWidth(), c.getHeight());
        g.dispose();
        Field pair = org.knowm.xchart.internal.chartpart.Chart.class.getDeclaredField("axisPair");
        pair.setAccessible(true);
        var axes = (org.knowm.xchart.internal.chartpart.AxisPair<?, ?>) pair.get(c);
        java.lang.reflect.Method yAxis = org.knowm.xchart.internal.chartpart.AxisPair.class.getDeclaredMethod("getYAxis");
        yAxis.setAccessible(true);
        var axis = (org.knowm.xchart.internal.chartpart.Axis<?, ?>) (x ? axes.getXAxis() : yAxis.invoke(axes));
        return axis.getAxisTickCalculator().getTickLabels().stream().filter(l -> !l.isBlank()).toList();
    }

    private static double number(String label) {
        return label.endsWith("M") ? Double.parseDouble(label.substring(0, label.length() - 1)) * 1e6
                : Double.parseDouble(label.replace(",", ""));
    }

    private static double spacing(List<Double> ticks) {
        double s = ticks.get(1) - ticks.get(0);
        for (int i = 2; i < ticks.size(); i++) if (Math.abs(ticks.get(i) - ticks.get(i - 1) - s) > 1e-9) return Double.NaN;
        return s;
    }

    @Test
    void aLongRunIsDrawnWithTheFewPointsItsPixelsShow() throws Exception {
        Path dir = RunInfoTest.trainedRun(runs, "long", "train.max_steps=19073");
        java.util.Random random = new java.util.Random(1);
        try (RunDirectory run = RunDirectory.open(dir, new PrintStream(new ByteArrayOutputStream()))) {
            for (int step = 10; step < 19073; step++) {
                double loss = step == 12345 ? 1.25 : step == 777 ? 10.75 : 3 + 0.2 * random.nextGaussian(); // one low, one high
                run.logTrain(step, loss, 6e-4, 0.3 + 0.05 * random.nextDouble(), 400, 1.3e6);
            }
        }
        RunInfo r = RunInfo.read(dir);
        XYSeries train = RunPlot.charts(List.of(r), RunPlot.XAxis.STEPS, new Problems()).getFirst().getSeriesMap().get("long train");
        double[] xs = train.getXData(), ys = train.getYData();
        assertTrue(xs.length <= 4 * 1280 && xs.length > 1280, "points: " + xs.length);
        assertEquals(0, xs[0]);
        assertEquals(19072, xs[xs.length - 1]);
        assertEquals(1.25, java.util.Arrays.stream(ys).min().orElseThrow()); // every spike is still there
        assertEquals(10.75, java.util.Arrays.stream(ys).max().orElseThrow());
        for (int i = 1; i < xs.length; i++) assertTrue(xs[i] > xs[i - 1], "in step order");

        Path svg = runs.resolve("long.svg");
        RunPlot.write(List.of(r), RunPlot.XAxis.STEPS, svg, new Problems());
        assertTrue(Files.size(svg) < 4_000_000, "the SVG of one 19,073-step run: " + Files.size(svg) + " bytes");
    }
}
