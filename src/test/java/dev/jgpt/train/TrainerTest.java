package dev.jgpt.train;

import dev.jgpt.config.RunConfig;
import dev.jgpt.data.Prepare;
import dev.jgpt.data.ShardFormat;
import dev.jgpt.io.ModelFiles;
import dev.jgpt.io.TrainingCheckpoint;
import dev.jgpt.model.Gpt;
import dev.jgpt.track.Metrics;
import dev.jgpt.track.MetricsSeries;
import dev.jgpt.track.RunDirectory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.List;

import static dev.jgpt.TestFiles.copyTree;
import static dev.jgpt.io.AtomicFiles.deleteTree;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The training loop end to end on a tiny model: loss falls, resume is exact, a stop leaves a checkpoint. */
class TrainerTest {
    @TempDir
    static Path tmp;
    static Path data;

    @BeforeAll
    static void prepareCorpus() throws Exception {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 400; i++) {
            text.append("public int add").append(i % 17).append("(int a, int b) { return a + b * ").append(i % 7).append("; }\n");
        }
        Path src = tmp.resolve("corpus.txt");
        Files.writeString(src, text);
        data = tmp.resolve("data");
        var d = Prepare.Options.defaults(src.toString(), data);
        Prepare.run(new Prepare.Options(d.source(), data, ShardFormat.BIN, d.shardTokens(), 2000, 0, false, 2,
                d.textField(), d.downloads(), false));
    }

    static RunConfig config(String name, int maxSteps) {
        String yaml = """
                model: {preset: custom, n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                data: {dir: %s, order: shuffled, seed: 7}
                train: {total_batch_size: 256, micro_batch_size: 4, seq_len: 32, max_lr: 3.0e-3, warmup_steps: 3, max_steps: %d, seed: 11}
                eval: {val_every: 5, val_steps: 2, sample_every: 0, checkpoint_every: 5, keep_last: 0}
                log: {runs_dir: %s, name: %s, log_every: 5}
                """.formatted(data, maxSteps, tmp.resolve("runs"), name);
        return RunConfig.parse(yaml, "test", List.of());
    }

    /** The run's parts built as `jgpt train` builds them, in one process. */
    static Trainer trainer(RunConfig cfg, RunDirectory run, Path checkpoint) throws java.io.IOException {
        return dev.jgpt.cli.TrainCommand.trainer(cfg, run, checkpoint, dev.jgpt.dist.DataParallel.alone());
    }

    static RunDirectory create(RunConfig cfg) {
        return RunDirectory.create(cfg, new PrintStream(new ByteArrayOutputStream()), LocalDateTime.now());
    }

    static double[] trainLosses(Path run) throws Exception {
        return MetricsSeries.series(Metrics.read(run.resolve(RunDirectory.METRICS_FILE)), "train", "loss");
    }

    @Test
    void resumeReproducesTheUninterruptedRunExactly() throws Exception {
        RunConfig cfg = config("straight", 20);
        Path straight;
        try (RunDirectory run = create(cfg)) {
            trainer(cfg, run, null).run(); // 2 micro-batches per step: accumulation is exercised too
            straight = run.path();
        }
        double[] expected = trainLosses(straight);
        assertEquals(20, expected.length);
        assertTrue(expected[19] < expected[0] - 1, "loss should fall: " + expected[0] + " -> " + expected[19]);

        // the same run, "killed" after step 10: keep only its checkpoint at step 10 and the metrics before it
        Path resumed = tmp.resolve("runs/resumed");
        copyTree(straight, resumed);
        deleteTree(resumed.resolve("checkpoints/step_000015"));
        deleteTree(resumed.resolve("checkpoints/step_000020"));
        Path checkpoint = TrainingCheckpoint.list(resumed.resolve("checkpoints")).getLast();
        assertTrue(checkpoint.endsWith("step_000010"), checkpoint.toString());
        try (RunDirectory run = RunDirectory.open(resumed, new PrintStream(new ByteArrayOutputStream()))) {
            trainer(run.config(), run, checkpoint).run();
        }
        assertArrayEquals(expected, trainLosses(resumed), "losses after resume must be bit-identical");
    }

    @Test
    void stopWritesAResumableCheckpointAndTheExportedModelReproducesTheLoss() throws Exception {
        RunConfig cfg = config("stopped", 8);
        try (RunDirectory run = create(cfg)) {
            Trainer trainer = trainer(cfg, run, null);
            trainer.requestStop(2); // as Ctrl-C (SIGINT) does: the loop stops at the next step boundary
            trainer.run();
            var checkpoints = TrainingCheckpoint.list(run.checkpointsDir());
            assertEquals(1, checkpoints.size());
            assertEquals(0, TrainingCheckpoint.readState(checkpoints.getFirst()).step());
        }
        // a finished run: its newest checkpoint loads by run directory, and as a plain HF directory
        RunConfig full = config("full", 5);
        Path runDir;
        try (RunDirectory run = create(full)) {
            trainer(full, run, null).run();
            runDir = run.path();
        }
        Gpt fromRun = ModelFiles.load(runDir);
        Gpt fromHf = ModelFiles.load(runDir.resolve("checkpoints/step_000005/model"));
        assertArrayEquals(fromRun.params(), fromHf.params());
        // the checkpoint at step 5 holds the weights after 5 updates; its validation loss (logged at step 5) is
        // what a forward pass on those weights gives on the same validation batches
        var entries = Metrics.read(runDir.resolve(RunDirectory.METRICS_FILE));
        double[] val = MetricsSeries.series(entries, "val", "loss");
        var valData = new dev.jgpt.data.TokenDataset(data, "val", 4, 32, 0, 1, dev.jgpt.data.TokenDataset.Order.SEQUENTIAL, 0);
        double recomputed = dev.jgpt.eval.Evaluator.validationLoss(fromRun, valData, 2, 4, 32);
        assertEquals(val[val.length - 1], recomputed, 0.0);
        // the checkpoint's model/ is a complete HuggingFace folder whose card tells how it was trained
        Path model = runDir.resolve("checkpoints/step_000005/model");
        for (String f : List.of("config.json", "generation_config.json", "model.safetensors", "vocab.json", "merges.txt",
                "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "README.md")) {
            assertTrue(Files.isRegularFile(model.resolve(f)), "checkpoint model folder lacks " + f);
        }
        String card = Files.readString(model.resolve("README.md"));
        double[] train = trainLosses(runDir);
        // the source prepare read (prepare.json's), not the config's default data.source, which was never read
        for (String fact : List.of("| steps | 5 |", "| tokens | 1,280 |", "| data | `" + data + "` (source " + tmp.resolve("corpus.txt") + ") |",
                String.format(java.util.Locale.ROOT, "| final training loss | %.4f |", train[4]),
                String.format(java.util.Locale.ROOT, "| final validation loss | %.4f |", val[val.length - 1]))) {
            assertTrue(card.contains(fact), "card lacks '" + fact + "':\n" + card);
        }
    }

    @Test
    void aStopAfterTheLastUpdateStillEvaluatesTheFinishedModel() throws Exception {
        RunConfig cfg = config("stoppedAtTheEnd", 5);
        Trainer[] trainer = new Trainer[1];
        // the signal comes as the last step's line is printed: after the last update, before the final evaluations
        PrintStream console = new PrintStream(new ByteArrayOutputStream()) {
            @Override
            public void println(String line) {
                if (line.startsWith("step     4/5")) trainer[0].requestStop(15);
            }
        };
        Path runDir;
        try (RunDirectory run = RunDirectory.create(cfg, console, LocalDateTime.now())) {
            trainer[0] = trainer(cfg, run, null);
            trainer[0].run();
            assertTrue(trainer[0].finished());
            runDir = run.path();
        }
        // a finished run is never resumed, so the validation at max_steps could not be made up later
        var val = Metrics.read(runDir.resolve(RunDirectory.METRICS_FILE)).stream().filter(m -> m.type().equals("val")).toList();
        assertEquals(List.of(0, 5), val.stream().map(m -> m.step()).toList());
        assertEquals(5, TrainingCheckpoint.readState(TrainingCheckpoint.list(runDir.resolve("checkpoints")).getLast()).step());
    }

    @Test
    void aStopDuringTheEvaluationsEndsThemAndTheResumeMakesThemAgain() throws Exception {
        String yaml = """
                model: {preset: custom, n_layer: 1, n_head: 2, n_embd: 32, block_size: 128}
                data: {dir: %s, order: shuffled, seed: 7}
                train: {total_batch_size: 128, micro_batch_size: 4, seq_len: 32, max_lr: 3.0e-3, warmup_steps: 1, max_steps: 6, seed: 11}
                eval: {val_every: 3, val_steps: 2, hellaswag_every: 3, hellaswag_file: %s, sample_every: 3, num_samples: 1,
                       sample_max_tokens: 24, checkpoint_every: 0, keep_last: 0}
                log: {runs_dir: %s, name: %%s, log_every: 1}
                """.formatted(data, Path.of("src/test/resources/hellaswag/hellaswag_val_head10.jsonl").toAbsolutePath(), tmp.resolve("runs"));
        RunConfig straight = RunConfig.parse(yaml.formatted("evalStraight"), "test", List.of());
        Path straightDir;
        try (RunDirectory run = create(straight)) {
            trainer(straight, run, null).run();
            straightDir = run.path();
        }
        // a signal while step 3's validation is printed: its HellaSwag items and samples (hours for GPT-2 124M on a CPU) are not made
        RunConfig cfg = RunConfig.parse(yaml.formatted("evalStopped"), "test", List.of());
        Trainer[] trainer = new Trainer[1];
        PrintStream console = new PrintStream(new ByteArrayOutputStream()) {
            @Override
            public void println(String line) {
                if (line.startsWith("step     3 | validation")) trainer[0].requestStop(2);
            }
        };
        Path stopped;
        try (RunDirectory run = RunDirectory.create(cfg, console, LocalDateTime.now())) {
            trainer[0] = trainer(cfg, run, null);
            trainer[0].run();
            assertFalse(trainer[0].finished());
            stopped = run.path();
        }
        assertEquals(List.of("val 0", "hellaswag 0", "val 3", "checkpoint 3"), Metrics.read(stopped.resolve(RunDirectory.METRICS_FILE))
                .stream().filter(m -> !m.type().equals("train")).map(m -> m.type() + " " + m.step()).toList());
        Path checkpoint = TrainingCheckpoint.list(stopped.resolve("checkpoints")).getLast();
        assertEquals(3, TrainingCheckpoint.readState(checkpoint).step());
        try (RunDirectory run = RunDirectory.open(stopped, new PrintStream(new ByteArrayOutputStream()))) {
            trainer(run.config(), run, checkpoint).run();
        }
        assertEquals(results(straightDir), results(stopped));
    }

    /** Every metrics line but its wall-clock fields. */
    static List<String> results(Path run) throws Exception {
        return Metrics.read(run.resolve(RunDirectory.METRICS_FILE)).stream().filter(m -> !m.type().equals("checkpoint"))
                .map(m -> m.type() + " " + m.step() + " " + m.fields().entrySet().stream()
                        .filter(f -> !List.of("time", "dt_ms", "tok_per_sec").contains(f.getKey())).toList()).toList();
    }

    @Test
    void debugStepOnACheckpointReproducesTheLoggedTrainingLoss() throws Exception {
        // one micro-batch per step, so a step's loss is one batch's loss
        RunConfig cfg = config("debug", 6).withOverrides(List.of("train.total_batch_size=128", "eval.checkpoint_every=3"));
        Path runDir;
        try (RunDirectory run = create(cfg)) {
            trainer(cfg, run, null).run();
            runDir = run.path();
        }
        Path checkpoint = runDir.resolve("checkpoints/step_000003");
        // the batch step 3 trained on: the data position saved in the checkpoint
        var state = dev.jgpt.data.TokenDataset.State.fromJson(TrainingCheckpoint.readState(checkpoint).dataState());
        var train = new dev.jgpt.data.TokenDataset(data, "train", 4, 32, 0, 1, dev.jgpt.data.TokenDataset.Order.SHUFFLED, 7);
        train.restore(state);
        int[] inputs = new int[128], targets = new int[128];
        train.nextBatch(inputs, targets);
        Path batch = tmp.resolve("batch-step3.json");
        int[][] in = new int[4][], tg = new int[4][];
        for (int b = 0; b < 4; b++) {
            in[b] = java.util.Arrays.copyOfRange(inputs, b * 32, b * 32 + 32);
            tg[b] = java.util.Arrays.copyOfRange(targets, b * 32, b * 32 + 32);
        }
        Files.writeString(batch, new com.google.gson.Gson().toJson(java.util.Map.of("inputs", in, "targets", tg)));

        var out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        int exit;
        try {
            System.setOut(new PrintStream(out, true));
            exit = dev.jgpt.cli.Main.commandLine().execute("debug-step", "--model", checkpoint.toString(),
                    "--batch", batch.toString(), "--steps", "0", "--json");
        } finally {
            System.setOut(old);
        }
        assertEquals(0, exit);
        double debugLoss = new com.google.gson.Gson().fromJson(out.toString(), com.google.gson.JsonObject.class).get("loss").getAsDouble();
        double[] losses = trainLosses(runDir);
        // both are the same float; JSON carries it in its shortest decimal form, so compare as floats
        assertEquals((float) losses[3], (float) debugLoss, "debug-step at the step-3 checkpoint vs the loss logged at step 3");
    }
}
