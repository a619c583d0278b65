package dev.jgpt.track;

import dev.jgpt.JgptException;
import dev.jgpt.config.RunConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RunDirectoryTest {
    private static final LocalDateTime START = LocalDateTime.of(2025, 1, 31, 14, 25, 1);

    @TempDir
    Path runs;

    private final ByteArrayOutputStream consoleBytes = new ByteArrayOutputStream();
    private final PrintStream console = new PrintStream(consoleBytes, true, StandardCharsets.UTF_8);

    private RunConfig config(String... overrides) {
        List<String> all = new java.util.ArrayList<>(List.of("log.runs_dir=" + runs));
        all.addAll(List.of(overrides));
        return RunConfig.load(Path.of("configs/quickstart.yaml"), all);
    }

    private RunDirectory create(RunConfig config) {
        return RunDirectory.create(config, console, START);
    }

    @Test
    void createLaysOutTheFolderAndWritesTheResolvedConfig() throws IOException {
        RunConfig config = config("log.name=first");
        try (RunDirectory run = create(config)) {
            assertEquals(runs.resolve("first"), run.path());
            assertEquals("first", run.name());
            assertTrue(Files.isDirectory(run.checkpointsDir()));
            assertEquals(run.path().resolve("checkpoints"), run.checkpointsDir());
            assertEquals(config, RunConfig.load(run.configFile()));
            assertEquals(config, run.config());
            assertEquals(-1, run.lastStep());
            assertEquals("", Files.readString(run.metricsFile()));
        }
    }

    @Test
    void unnamedRunIsNamedByItsStartTimeAndNeverShares() {
        try (RunDirectory a = create(config()); RunDirectory b = create(config())) {
            assertEquals("20250131-142501", a.name());
            assertEquals("20250131-142501-2", b.name());
            // The folder name is part of the saved config, so reopening finds the same run.
            assertEquals("20250131-142501-2", RunConfig.load(b.configFile()).log().name());
        }
    }

    @Test
    void refusesToStartInANonEmptyFolder() throws IOException {
        Files.createDirectories(runs.resolve("empty"));
        try (RunDirectory run = create(config("log.name=empty"))) {
            assertEquals("empty", run.name()); // an empty folder is fine
        }
        String message = assertThrows(JgptException.class, () -> create(config("log.name=empty"))).getMessage();
        assertTrue(message.contains(runs.resolve("empty").toString()), message);
        assertTrue(message.contains("already exists and is not empty"), message);
    }

    @Test
    void aStartKilledBeforeItsConfigCanBeStartedAgain() throws IOException {
        // the folder a start leaves when killed after making checkpoints/ and before writing config.yaml
        Files.createDirectories(runs.resolve("cut/" + RunDirectory.CHECKPOINTS_DIR));
        try (RunDirectory run = create(config("log.name=cut"))) {
            assertEquals("cut", run.name());
            assertTrue(Files.isRegularFile(run.configFile()));
        }
        // a checkpoint in it is a run's work, kept
        Files.createDirectories(runs.resolve("kept/" + RunDirectory.CHECKPOINTS_DIR + "/step_000001"));
        String message = assertThrows(JgptException.class, () -> create(config("log.name=kept"))).getMessage();
        assertTrue(message.contains("already exists and is not empty"), message);
    }

    @Test
    void metricsAreOneJsonObjectPerLineOnDiskAtOnce() throws IOException {
        try (RunDirectory run = create(config("log.name=m"))) {
            run.logTrain(0, 10.987654321, 5e-5, 12.5, 1234.5, 830.25);
            run.logVal(0, 10.95);
            run.logHellaSwag(0, 4, 1, 2);
            run.log("custom", 3, Map.of("ok", true));
            // No close yet: each line must already be on disk.
            List<String> lines = Files.readAllLines(run.metricsFile());
            for (String line : lines) {
                // every line carries the wall-clock time it was written, in UTC to the millisecond
                java.time.Instant t = Metrics.parse(line).time();
                assertTrue(t != null && Math.abs(java.time.Duration.between(t, java.time.Instant.now()).toSeconds()) < 60, line);
            }
            lines = lines.stream().map(l -> l.replaceFirst(",\"time\":\"[0-9T:.Z-]+\"", "")).toList();
            assertEquals(List.of(
                    "{\"type\":\"train\",\"step\":0,\"loss\":10.987654321,\"lr\":5.0E-5,\"norm\":12.5,\"dt_ms\":1234.5,\"tok_per_sec\":830.25}",
                    "{\"type\":\"val\",\"step\":0,\"loss\":10.95}",
                    "{\"type\":\"hellaswag\",\"step\":0,\"total\":4,\"correct\":1,\"correct_norm\":2,\"acc\":0.25,\"acc_norm\":0.5}",
                    "{\"type\":\"custom\",\"step\":3,\"ok\":true}"), lines);
        }
    }

    @Test
    void metricsReadBackExactly() {
        double[] losses = {10.98765432109876, 9.1, 7.000000000000001, Double.NaN};
        try (RunDirectory run = create(config("log.name=exact"))) {
            for (int step = 0; step < losses.length; step++) {
                run.logTrain(step, losses[step], 1e-3, 1, 1, 1);
                if (step % 2 == 0) run.logVal(step, losses[step] + 1);
            }
            List<Metrics.Entry> entries = Metrics.read(run.metricsFile());
            assertArrayEquals(losses, MetricsSeries.series(entries, "train", "loss"));
            assertArrayEquals(new int[] {0, 2}, MetricsSeries.steps(entries, "val"));
            assertEquals(3, Metrics.lastStep(entries));
            assertEquals(1e-3, entries.get(0).number("lr"));
        }
    }

    @Test
    void samplesGoToMetricsAndSamplesTxt() throws IOException {
        String text = "public static void main(String[] args) {\n    System.out.println(\"héllo\\n\");";
        try (RunDirectory run = create(config("log.name=s"))) {
            run.logSample(100, 0, text);
            run.logSample(100, 1, "x");
            assertEquals(text, Metrics.read(run.metricsFile()).get(0).text("text"));
            assertEquals("--- step 100, sample 0\n" + text + "\n--- step 100, sample 1\nx\n",
                    Files.readString(run.samplesFile()));
        }
    }

    @Test
    void printlnGoesToConsoleAndLog() throws IOException {
        try (RunDirectory run = create(config("log.name=tee"))) {
            run.println("step     0 | loss 10.95");
            run.println("validation loss: 10.9");
            String expected = "step     0 | loss 10.95\nvalidation loss: 10.9\n";
            assertEquals(expected, Files.readString(run.consoleLogFile()));
            assertEquals(expected, consoleBytes.toString(StandardCharsets.UTF_8).replace(System.lineSeparator(), "\n"));
        }
    }

    @Test
    void openReadsBackConfigAndLastStepAndAppends() throws IOException {
        RunConfig config = config("log.name=resume");
        Path dir;
        try (RunDirectory run = create(config)) {
            dir = run.path();
            for (int step = 0; step <= 5; step++) run.logTrain(step, 10 - step, 1e-3, 1, 1, 1);
            run.println("before");
        }
        try (RunDirectory run = RunDirectory.open(dir, console)) {
            assertEquals(config, run.config());
            assertEquals(5, run.lastStep());
            run.logTrain(6, 4, 1e-3, 1, 1, 1);
            run.println("after");
        }
        assertArrayEquals(new double[] {10, 9, 8, 7, 6, 5, 4}, MetricsSeries.series(Metrics.read(dir.resolve("metrics.jsonl")), "train", "loss"));
        assertEquals("before\nafter\n", Files.readString(dir.resolve("console.log")));
    }

    @Test
    void openRepairsALineCutOffMidWrite() throws IOException {
        Path dir;
        try (RunDirectory run = create(config("log.name=torn"))) {
            dir = run.path();
            run.logTrain(0, 10, 1e-3, 1, 1, 1);
            run.logTrain(1, 9, 1e-3, 1, 1, 1);
        }
        Path metrics = dir.resolve("metrics.jsonl");
        Files.writeString(metrics, "{\"type\":\"train\",\"step\":2,\"lo", java.nio.file.StandardOpenOption.APPEND);
        assertEquals(2, Metrics.read(metrics).size()); // the reader skips it too
        try (RunDirectory run = RunDirectory.open(dir, console)) {
            assertEquals(1, run.lastStep());
            run.logTrain(2, 8, 1e-3, 1, 1, 1);
        }
        assertArrayEquals(new double[] {10, 9, 8}, MetricsSeries.series(Metrics.read(metrics), "train", "loss"));
    }

    @Test
    void openKeepsACompleteLastLineThatLacksItsNewline() throws IOException {
        Path dir;
        try (RunDirectory run = create(config("log.name=nonl"))) {
            dir = run.path();
        }
        Path metrics = dir.resolve("metrics.jsonl");
        Files.writeString(metrics, "{\"type\":\"val\",\"step\":7,\"loss\":3.5}");
        try (RunDirectory run = RunDirectory.open(dir, console)) {
            assertEquals(7, run.lastStep());
            run.logVal(8, 3.4);
        }
        assertArrayEquals(new double[] {3.5, 3.4}, MetricsSeries.series(Metrics.read(metrics), "val", "loss"));
    }

    @Test
    void dropMetricsFromForgetsStepsAfterTheCheckpoint() throws IOException {
        try (RunDirectory run = create(config("log.name=drop"))) {
            for (int step = 0; step < 6; step++) run.logTrain(step, step, 1e-3, 1, 1, 1);
            run.logVal(5, 1);
            run.logSample(2, 0, "two\n--- step 9, sample 0");
            run.logSample(3, 0, "three");
            run.logSample(5, 0, "five");
            run.dropMetricsFrom(3);
            run.logTrain(3, 33, 1e-3, 1, 1, 1);
            run.logSample(3, 0, "three again");
            List<Metrics.Entry> entries = Metrics.read(run.metricsFile());
            assertArrayEquals(new double[] {0, 1, 2, 33}, MetricsSeries.series(entries, "train", "loss"));
            assertEquals(0, MetricsSeries.steps(entries, "val").length);
            // samples.txt is cut at the same step: each step's samples appear once
            assertEquals("--- step 2, sample 0\ntwo\n--- step 9, sample 0\n--- step 3, sample 0\nthree again\n",
                    Files.readString(run.samplesFile()));
        }
    }

    @Test
    void openRefusesAnEmptyConfigNamingTheFile() throws IOException {
        Path dir;
        try (RunDirectory run = create(config("log.name=emptied"))) {
            dir = run.path();
        }
        for (String empty : List.of("", "\n", "# nothing\n")) {
            Files.writeString(dir.resolve(RunDirectory.CONFIG_FILE), empty);
            String message = assertThrows(JgptException.class, () -> RunDirectory.open(dir, console)).getMessage();
            assertEquals(dir.resolve(RunDirectory.CONFIG_FILE) + ": holds no settings (a run's config.yaml lists every one);"
                    + " the run cannot be resumed from it (run.json, where there is one, keeps a copy of the settings under \"config\")", message);
            assertTrue(!RunLock.isHeld(dir), "the lock is given back");
        }
    }

    @Test
    void openRefusesAFolderThatIsNotARun() {
        String message = assertThrows(JgptException.class, () -> RunDirectory.open(runs, console)).getMessage();
        assertTrue(message.contains("not a run directory"), message);
        assertTrue(message.contains(runs.toString()), message);
    }

    @Test
    void aBrokenMetricsLineInTheMiddleIsNamed() throws IOException {
        Path file = runs.resolve("metrics.jsonl");
        Files.writeString(file, "{\"type\":\"val\",\"step\":0,\"loss\":1}\nnot json\n{\"type\":\"val\",\"step\":1,\"loss\":1}\n");
        String message = assertThrows(JgptException.class, () -> Metrics.read(file)).getMessage();
        assertTrue(message.startsWith(file + ":2: not a metrics line"), message);
        Files.writeString(file, "{\"step\":0}\n");
        assertTrue(assertThrows(JgptException.class, () -> Metrics.read(file)).getMessage().contains("no \"type\""));
        assertEquals(List.of(), Metrics.read(runs.resolve("absent.jsonl")));
    }

    @Test
    void reservedAndUnsupportedFieldsAreRejected() {
        try (RunDirectory run = create(config("log.name=bad"))) {
            assertThrows(IllegalArgumentException.class, () -> run.log("val", 0, Map.of("step", 1)));
            assertThrows(IllegalArgumentException.class, () -> run.log("val", 0, Map.of("time", 1)));
            assertThrows(IllegalArgumentException.class, () -> run.log("val", 0, Map.of("x", List.of(1))));
        }
    }

    @Test
    void aRunRecordsWhereItCameFromAndEachSessionThatRanIt() throws IOException {
        String yaml = Files.readString(Path.of("configs/quickstart.yaml"));
        RunConfig config = config("log.name=rec", "train.max_steps=300");
        var file = new RunRecord.ConfigFile("configs/quickstart.yaml", yaml, List.of("log.name=rec", "train.max_steps=300"));
        Path dir;
        try (RunDirectory run = RunDirectory.create(config, file, console, START)) {
            dir = run.path();
        }
        com.google.gson.JsonObject rec = RunRecord.read(dir);
        assertEquals("rec", rec.get("name").getAsString());
        assertEquals("configs/quickstart.yaml", rec.getAsJsonObject("config_file").get("path").getAsString());
        assertEquals(yaml, rec.getAsJsonObject("config_file").get("content").getAsString());
        // the file alone says 1000 steps; the run was told 300
        assertEquals(1000, rec.getAsJsonObject("config_file").getAsJsonObject("resolved").getAsJsonObject("train").get("max_steps").getAsInt());
        assertEquals(300, rec.getAsJsonObject("config").getAsJsonObject("train").get("max_steps").getAsInt());
        var session = rec.getAsJsonArray("sessions").get(0).getAsJsonObject();
        for (String key : List.of("started", "pid", "host", "jgpt_version", "os", "jvm", "cores", "threads", "max_heap_mb")) {
            assertTrue(session.has(key), key + " in " + session);
        }
        assertEquals(ProcessHandle.current().pid(), session.get("pid").getAsLong());
        assertTrue(session.get("jgpt_version").getAsString().matches("\\d+\\.\\d+.*"), session.toString());

        // a resume is recorded once it is accepted (marked running); in this process it is the same
        // session, and the record keeps one per process
        try (RunDirectory run = RunDirectory.open(dir, console)) {
            assertEquals("rec", run.name());
            run.markRunning();
        }
        assertEquals(1, RunRecord.read(dir).getAsJsonArray("sessions").size());
        // a run from before run.json gets one when it is resumed, and a refused resume writes none
        Files.delete(dir.resolve(RunRecord.RECORD_FILE));
        try (RunDirectory run = RunDirectory.open(dir, console)) {
            assertEquals(null, RunRecord.read(dir));
            run.markRunning();
            assertEquals(1, RunRecord.read(dir).getAsJsonArray("sessions").size());
        }
    }

    @Test
    void theGitCommitIsTheCheckoutsWhenJgptRunsFromOne(@TempDir Path notACheckout) throws Exception {
        assertEquals(null, RunRecord.gitCommit(notACheckout));
        Path home = Path.of("").toAbsolutePath();
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(home.resolve(".git")) && RunRecord.gitCommit(home) != null,
                "the sources are not a git checkout, or git is not installed");
        RunRecord.GitCommit c = RunRecord.gitCommit(home);
        Process p = new ProcessBuilder("git", "rev-parse", "HEAD").start();
        assertEquals(new String(p.getInputStream().readAllBytes()).strip(), c.sha());
    }
}
