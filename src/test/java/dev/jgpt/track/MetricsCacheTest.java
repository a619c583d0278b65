package dev.jgpt.track;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A training's metrics.jsonl as a dashboard follows it: appended to line by line, cut back by a resume. */
public class MetricsCacheTest {
    @TempDir
    Path dir;

    private static String train(int step) {
        return "{\"type\":\"train\",\"step\":" + step + ",\"time\":\"2026-01-01T10:00:0" + step + "Z\",\"loss\":" + (10 - step) + ".5}\n";
    }

    private static List<Integer> steps(MetricsCache.Read r) {
        return r.entries().stream().map(Metrics.Entry::step).toList();
    }

    @Test
    void aFileThatGrewIsReadOnFromWhereItEnded() throws IOException {
        Path file = dir.resolve("metrics.jsonl");
        Files.writeString(file, train(0) + train(1));
        MetricsCache cache = new MetricsCache();
        assertEquals(List.of(0, 1), steps(cache.read(file)));
        // the lines already read are not read again: spoiling one in place goes unseen, what is appended is read
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.write("XXXX".getBytes(StandardCharsets.US_ASCII));
        }
        Files.writeString(file, train(2) + "not json\n" + train(3), StandardOpenOption.APPEND);
        MetricsCache.Read r = cache.read(file);
        assertEquals(List.of(0, 1, 2, 3), steps(r));
        assertEquals(3, r.summary().trainStepsDone() - 1);
        assertEquals(1, r.problems().lines().size());
        assertTrue(r.problems().lines().getFirst().startsWith(file + ":4: not a metrics line"), r.problems().lines().getFirst());
    }

    @Test
    void aLineBeingWrittenCountsOnceItsNewlineComes() throws IOException {
        Path file = dir.resolve("metrics.jsonl");
        String line = train(1);
        Files.writeString(file, train(0) + line.substring(0, 20));
        MetricsCache cache = new MetricsCache();
        MetricsCache.Read half = cache.read(file);
        assertEquals(List.of(0), steps(half));
        assertTrue(half.cutOff());
        Files.writeString(file, line.substring(20), StandardOpenOption.APPEND);
        MetricsCache.Read whole = cache.read(file);
        assertEquals(List.of(0, 1), steps(whole));
        assertFalse(whole.cutOff());
        assertEquals(List.of(), whole.problems().lines());
    }

    @Test
    void aFileWrittenAnewIsReadWhole() throws IOException {
        Path file = dir.resolve("metrics.jsonl");
        Files.writeString(file, train(0) + train(1) + train(2));
        MetricsCache cache = new MetricsCache();
        assertEquals(List.of(0, 1, 2), steps(cache.read(file)));
        // a resume from step 1's checkpoint drops the later lines by writing a new file, then appends
        Path next = dir.resolve("metrics.jsonl.tmp");
        Files.writeString(next, train(0) + train(1) + train(2).replace("8.5", "8.25") + train(3));
        Files.move(next, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        MetricsCache.Read r = cache.read(file);
        assertEquals(List.of(0, 1, 2, 3), steps(r));
        assertEquals(8.25, r.entries().get(2).number("loss"));
    }
}
