package dev.jgpt.data;

import dev.jgpt.track.ProgressBar;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The progress bar prepare draws (it lives in track/, shared with training). */
class ProgressBarTest {
    @Test
    void plainOutputEndsWithOneFinalLine() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ProgressBar bar = ProgressBar.start("prepare", 4_000_000, "B",
                new PrintStream(bytes, true, StandardCharsets.UTF_8), false, "docs", "tokens")) {
            bar.add(1_500_000);
            bar.add("docs", 12);
            bar.add("tokens", 345_678);
            bar.message("almost");
            bar.close(); // twice is fine
        }
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(1, out.lines().count(), out);
        assertTrue(out.endsWith("\n"));
        String line = out.strip();
        assertTrue(line.startsWith("prepare  37%  1.5 M / 4.0 MB  "), line);
        assertTrue(line.contains("B/s  0:00"), line);
        assertTrue(line.contains("docs 12  tokens 345.7k  almost"), line);
        assertTrue(!line.contains("\r") && !line.contains("["), "no bar or carriage return off a terminal: " + line);
    }

    @Test
    void terminalOutputRedrawsInPlace() throws InterruptedException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressBar bar = ProgressBar.start("train", 100, "steps", new PrintStream(bytes, true, StandardCharsets.UTF_8), true);
        Thread.sleep(250);
        bar.set(50);
        bar.close();
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(out.startsWith("\rtrain  50% [############............]  50 / 100 steps"), out);
        assertTrue(out.endsWith("\n"));
        assertEquals(2, out.split("\r", -1).length - 1, "drawn twice: once on the way, once at the end: " + out);
        assertEquals(50, bar.done());
    }

    @Test
    void unknownTotalShowsCountAndRate() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ProgressBar bar = ProgressBar.start("scan", 0, "files", new PrintStream(bytes, true, StandardCharsets.UTF_8), false)) {
            bar.add(12_345);
        }
        String line = bytes.toString(StandardCharsets.UTF_8).strip();
        assertTrue(line.startsWith("scan  12.3k files  "), line);
        assertTrue(line.contains("files/s"), line);
        assertTrue(!line.contains("%") && !line.contains("ETA"), line);
    }

    @Test
    void aRecordingBarHandsPlainLinesToItsSinkAndClearsWithoutAFinalLine() throws InterruptedException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        java.util.List<String> log = new java.util.ArrayList<>();
        ProgressBar bar = ProgressBar.start("step 0/9", 8, "micro-batches", new PrintStream(bytes, true, StandardCharsets.UTF_8), true, "tokens")
                .recording(log::add, 0.1);
        bar.add("tokens", 4096); // too soon to record
        assertEquals(0, log.size());
        Thread.sleep(250);
        bar.add(1);
        assertEquals(1, log.size(), log.toString());
        assertTrue(log.getFirst().startsWith("step 0/9  12%  1 / 8 micro-batches  "), log.getFirst());
        assertTrue(log.getFirst().contains("micro-batches/s  ETA ") && log.getFirst().contains("tokens 4096"), log.getFirst());
        assertTrue(!log.getFirst().contains("[") && !log.getFirst().contains("\r"), "a log line has no bar: " + log.getFirst());
        assertTrue(log.getFirst().matches(".*  0\\.[0-9]{2} micro-batches/s.*") || log.getFirst().matches(".*  [1-9]\\.[0-9]{2} micro-batches/s.*"),
                "a slow rate keeps its decimals: " + log.getFirst());
        bar.add(1); // within 0.1 s of the last record: nothing more
        assertEquals(1, log.size());
        bar.clear();
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(out.startsWith("\rstep 0/9  12% ["), out);
        assertTrue(out.endsWith("\r"), "cleared: the live line is erased and no final line follows: " + out);
        assertTrue(!out.contains("\n"), out);
        bar.add(1);
        assertEquals(1, log.size(), "nothing after clear");
    }

    @Test
    void aQuietBarShowsNothingForShortWork() throws InterruptedException {
        java.util.List<String> log = new java.util.ArrayList<>();
        ProgressBar bar = ProgressBar.start("val", 4, "batches", null, false).quietFor(60).recording(log::add, 0);
        Thread.sleep(20);
        bar.add(1);
        bar.add(1);
        bar.clear();
        assertEquals(java.util.List.of(), log);
    }

    @Test
    void aTickingBarRecordsWhileAUnitOfWorkTakesLongerThanTheInterval() throws InterruptedException {
        java.util.List<String> log = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        ProgressBar bar = ProgressBar.start("step 0/9", 2, "micro-batches", null, false).recording(log::add, 0.5).ticking();
        Thread.sleep(2300); // one long micro-batch: no add, yet the record goes on
        bar.clear();
        int lines = log.size();
        assertTrue(lines >= 1, "recorded while no unit ended: " + log);
        assertTrue(log.getFirst().startsWith("step 0/9   0%  0 / 2 micro-batches"), log.getFirst());
        Thread.sleep(1200);
        assertEquals(lines, log.size(), "nothing after clear");
    }
}
