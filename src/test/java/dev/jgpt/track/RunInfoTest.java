package dev.jgpt.track;

import dev.jgpt.config.RunConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalDateTime;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading runs for people: every fact that can be read is shown, everything else is said once. */
public class RunInfoTest {
    @TempDir
    Path runs;

    /** A run made the way training makes one: config.yaml, run.json from a config file with --set, metrics. */
    public static Path trainedRun(Path runs, String name, String... overrides) {
        List<String> all = new java.util.ArrayList<>(List.of("log.runs_dir=" + runs, "log.name=" + name));
        all.addAll(List.of(overrides));
        RunConfig cfg = RunConfig.load(Path.of("configs/quickstart.yaml"), all);
        String yaml;
        try {
            yaml = Files.readString(Path.of("configs/quickstart.yaml"));
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
        try (RunDirectory run = RunDirectory.create(cfg, new RunRecord.ConfigFile("configs/quickstart.yaml", yaml, all),
                new PrintStream(new ByteArrayOutputStream()), LocalDateTime.now())) {
            for (int step = 0; step < 10; step++) {
                if (step % 5 == 0) run.logVal(step, 10.5 - step * 0.3);
                run.logTrain(step, 10 - step * 0.5, 1e-3 * (step + 1), 1.5, 100, 10240);
            }
            run.logVal(10, 6.2);
            run.logSample(10, 0, "public static void main");
            run.logSample(10, 1, "class Foo {}");
            return run.path();
        }
    }

    @Test
    void aTrainedRunShowsItsProgressLossesAndWhatSetChanged() {
        Path dir = trainedRun(runs, "good", "train.max_steps=20", "train.warmup_steps=5");
        RunInfo r = RunInfo.read(dir);
        assertEquals("good", r.name());
        assertEquals(List.of(), r.problems());
        assertEquals(10, r.stepsDone());
        assertEquals(20, r.maxSteps());
        assertEquals(10 * 1024L, r.tokensSeen());
        assertEquals(5.5, r.lastTrain().number("loss"));
        assertEquals(6.2, r.bestVal().number("loss"));
        assertEquals(10, r.bestVal().step());
        assertNull(r.lastHellaSwag());
        assertEquals(-1, r.divergedAt());
        assertEquals(2, r.latestSamples().size());
        assertNotNull(r.wallTime());
        assertNotNull(r.created());
        // the listing shows the keys --set changed, against what the file alone resolves to; not the run's name
        assertEquals(List.of("train.warmup_steps", "train.max_steps", "log.runs_dir"), r.changedFromFile().stream().map(ConfigTree.Difference::key).toList());
        assertEquals("1000", ConfigTree.show(r.changedFromFile().get(1).left()));
        assertEquals("20", ConfigTree.show(r.changedFromFile().get(1).right()));
        assertEquals("unknown", r.status().state().word()); // nothing wrote status.json here
    }

    @Test
    void badFilesAreReportedOnceAndEverythingElseShown() throws IOException {
        Path dir = trainedRun(runs, "bad");
        Path metrics = dir.resolve(RunDirectory.METRICS_FILE);
        String good = Files.readString(metrics);
        // a broken line in the middle, a loss of the wrong type on two lines, a bad time, and a last line cut off by a kill
        Files.writeString(metrics, good
                + "not json at all\n"
                + "{\"type\":\"train\",\"step\":10,\"loss\":\"lots\",\"lr\":0.001}\n"
                + "{\"type\":\"train\",\"step\":11,\"loss\":[1,2],\"lr\":0.001}\n"
                + "{\"type\":\"val\",\"step\":12,\"time\":\"yesterday\",\"loss\":5.9}\n"
                + "{\"type\":\"train\",\"step\":12,\"lo");
        RunInfo r = RunInfo.read(dir);
        List<String> p = r.problems();
        assertEquals(4, p.size(), String.join("\n", p));
        assertTrue(p.get(0).startsWith(metrics + ":16: not a metrics line"), p.get(0));
        assertTrue(p.get(1).contains(":17: train field \"loss\" is lots, not a number; left out (and 1 more like it)"), p.get(1));
        assertTrue(p.get(2).contains(":19: val field \"time\" is yesterday"), p.get(2));
        assertTrue(p.get(3).contains("last line was cut off"), p.get(3));
        // the rest is all there: steps 10 and 11 still count (their lr is good), the later val too
        assertEquals(12, r.stepsDone());
        assertEquals(5.5, r.lastTrain().number("loss"));
        assertEquals(5.9, r.bestVal().number("loss"));
        assertEquals(0.001, r.entries().stream().filter(e -> e.step() == 10 && e.type().equals("train")).findFirst().orElseThrow().number("lr"));
    }

    @Test
    void aRunWithoutConfigOrRecordStillLists() throws IOException {
        Path dir = runs.resolve("copied");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("metrics.jsonl"), "{\"type\":\"train\",\"step\":0,\"loss\":10.9,\"lr\":1e-4,\"norm\":3,\"dt_ms\":5,\"tok_per_sec\":9}\n");
        assertTrue(RunIndex.isRun(dir));
        RunInfo r = RunInfo.read(dir);
        assertEquals(1, r.problems().size());
        assertTrue(r.problems().getFirst().contains("config.yaml: missing"), r.problems().getFirst());
        assertEquals(1, r.stepsDone());
        assertNull(r.maxSteps());
        assertNull(r.tokensSeen());
        assertNull(r.wallTime());
        assertNull(r.created());
        assertEquals(List.of(), r.changedFromFile());
        var json = r.toJson(true);
        assertTrue(json.get("max_steps").isJsonNull());
        assertTrue(json.get("config").isJsonNull());
        assertEquals(10.9, json.get("train_loss").getAsDouble());

        // a config that is not even YAML is said once too
        Files.writeString(dir.resolve("config.yaml"), "model: [unclosed");
        assertTrue(RunInfo.read(dir).problems().getFirst().contains("config.yaml: unreadable"), RunInfo.read(dir).problems().toString());
    }

    @Test
    void aDivergedRunSaysWhere() {
        Path dir = trainedRun(runs, "nan");
        try (RunDirectory run = RunDirectory.open(dir, new PrintStream(new ByteArrayOutputStream()))) {
            run.logTrain(10, Double.NaN, 1e-3, Double.POSITIVE_INFINITY, 1, 1);
        }
        RunInfo r = RunInfo.read(dir);
        assertEquals(10, r.divergedAt());
        assertEquals(List.of(), r.problems());
        var json = r.toJson(false);
        // the diverged step's update was not applied: ten steps done, the loss of the last of them
        assertEquals(5.5, json.get("train_loss").getAsDouble());
        assertEquals(10, json.get("steps_done").getAsInt());
        assertEquals(10, json.get("diverged_at").getAsInt());
    }

    @Test
    void aGradientNormThatOverflowedIsADivergenceWhateverTheLoss() throws IOException {
        Path dir = trainedRun(runs, "overflow");
        // as the trainer records the step it stops at: the loss finite (if huge), the norm not, no timing
        Files.writeString(dir.resolve("metrics.jsonl"),
                "{\"type\":\"train\",\"step\":10,\"loss\":1.436474496E9,\"norm\":Infinity,\"lr\":10000.0}\n", StandardOpenOption.APPEND);
        RunInfo r = RunInfo.read(dir);
        assertEquals(List.of(), r.problems());
        assertEquals(10, r.divergedAt());
        assertEquals(10, r.stepsDone());
        assertEquals(10 * 1024L, r.tokensSeen());
        assertEquals(9, r.lastTrain().step());
        assertEquals(5.5, r.lastTrain().number("loss"));
        var json = r.toJson(false);
        assertEquals(10, json.get("diverged_at").getAsInt());
        assertEquals(10, json.get("steps_done").getAsInt());
        assertEquals(5.5, json.get("train_loss").getAsDouble());
    }

    @Test
    void theIndexListsEveryRunFolderNewestFirstAndSkipsOthers() throws Exception {
        trainedRun(runs, "older");
        Thread.sleep(5); // creation times are to the millisecond
        trainedRun(runs, "newer");
        Files.createDirectories(runs.resolve("not-a-run"));
        Files.createDirectories(runs.resolve("copied"));
        Files.writeString(runs.resolve("copied/config.yaml"), "train: {max_steps: 5}\n");
        Files.writeString(runs.resolve("stray.txt"), "x");
        RunIndex index = new RunIndex(runs);
        assertEquals(List.of("newer", "older", "copied"), index.list().stream().map(RunInfo::name).toList());
        assertNotNull(index.find("older"));
        for (String bad : List.of("..", ".", "", "not-a-run", "../older", "stray.txt", "older/..")) assertNull(index.find(bad), bad);
    }

    @Test
    void aResumedRunsWallTimeAddsUpItsSessions() throws IOException {
        Path dir = runs.resolve("resumed");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("run.json"), """
                {"created": "2026-01-01T10:00:00Z", "sessions": [{"started": "2026-01-01T10:00:00Z"}, {"started": "2026-01-01T12:00:00Z"}]}
                """);
        // the first session's last line is 100 s after its start, the second's 50 s after its own
        Files.writeString(dir.resolve("metrics.jsonl"), """
                {"type":"train","step":0,"time":"2026-01-01T10:00:10Z","loss":10.9}
                {"type":"train","step":1,"time":"2026-01-01T10:01:40Z","loss":10.5}
                {"type":"train","step":1,"time":"2026-01-01T12:00:05.500Z","loss":10.5}
                {"type":"train","step":2,"time":"2026-01-01T12:00:50Z","loss":10.1}
                """);
        RunInfo r = RunInfo.read(dir);
        assertEquals(java.time.Duration.ofSeconds(150), r.wallTime());
        assertEquals(java.time.Instant.parse("2026-01-01T10:00:00Z"), r.created());
        assertEquals(3, r.stepsDone());
    }

    @Test
    void aListingAskedAgainReusesWhatItReadWhileTheMetricsAreUnchanged() throws IOException {
        Path dir = trainedRun(runs, "listed");
        RunIndex index = new RunIndex(runs);
        RunInfo.Summary first = index.list().getFirst().summary();
        assertSame(first, index.list().getFirst().summary()); // a dashboard lists every run twice a second
        Files.writeString(dir.resolve(RunDirectory.METRICS_FILE),
                "{\"type\":\"train\",\"step\":10,\"time\":\"2026-01-01T10:00:00Z\",\"loss\":5.0}\n", StandardOpenOption.APPEND);
        RunInfo again = index.list().getFirst();
        assertEquals(11, again.stepsDone());
        assertEquals(5.0, again.lastTrain().number("loss"));
    }
}
