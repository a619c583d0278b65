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
}
