package dev.jgpt.track;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
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
        var loss = charts.get(0).getSeriesMap();
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
                List.copyOf(charts.get(1).getSeriesMap().keySet()));
        assertArrayEquals(new double[] {0.27, 0.29}, charts.get(1).getSeriesMap().get("gpt2").getYData());
        assertTrue(problems.isEmpty());

        // x in tokens: steps times each run's tokens per step
        List<XYChart> byTokens = RunPlot.charts(List.of(small), RunPlot.XAxis.TOKENS, problems);
        assertEquals(9 * 1024.0, byTokens.get(0).getSeriesMap().get("small train").getXData()[9]);
        // the small shape alone: no reference lines and no HellaSwag panel
        assertFalse(byTokens.stream().anyMatch(c -> c.getTitle().equals("HellaSwag")));
        assertFalse(byTokens.get(0).getSeriesMap().keySet().stream().anyMatch(k -> k.contains("OpenAI")));
    }
}
