package dev.jgpt.train;

import dev.jgpt.JgptException;
import dev.jgpt.config.RunConfig;
import dev.jgpt.data.Prepare;
import dev.jgpt.data.ShardFormat;
import dev.jgpt.io.TrainingCheckpoint;
import dev.jgpt.model.Gpt;
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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the training loop refuses before it does harm: a diverged update. */
class TrainerGuardsTest {
    @TempDir
    static Path tmp;
    static Path data;

    @BeforeAll
    static void prepareCorpus() throws Exception {
        Path src = tmp.resolve("corpus.txt");
        Files.writeString(src, "static int twice(int x) { return 2 * x; }\n".repeat(300));
        data = tmp.resolve("data");
        var d = Prepare.Options.defaults(src.toString(), data);
        Prepare.run(new Prepare.Options(d.source(), data, ShardFormat.BIN, d.shardTokens(), 1000, 0, false, 2,
                d.textField(), d.downloads(), false));
    }

    static RunConfig config(String name, String... overrides) {
        String yaml = """
                model: {preset: custom, n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                data: {dir: %s, order: sequential}
                train: {total_batch_size: 128, micro_batch_size: 4, seq_len: 32, warmup_steps: 0, max_steps: 20}
                eval: {val_every: 0, sample_every: 0, checkpoint_every: 0}
                log: {runs_dir: %s, name: %s}
                """.formatted(data, tmp.resolve("runs"), name);
        return RunConfig.parse(yaml, "test", List.of(overrides));
    }

    static RunDirectory create(RunConfig cfg, ByteArrayOutputStream console) {
        return RunDirectory.create(cfg, new PrintStream(console, true), LocalDateTime.now());
    }

    static boolean finite(float[] a) {
        for (float x : a) if (!Float.isFinite(x)) return false;
        return true;
    }

    @Test
    void aDivergedStepStopsTheRunBeforeItReachesTheWeightsOrTheCheckpoints() throws Exception {
        RunConfig cfg = config("diverged", "train.max_lr=1e6", "train.grad_clip=0", "eval.checkpoint_every=1", "eval.keep_last=1");
        Path checkpoints;
        try (RunDirectory run = create(cfg, new ByteArrayOutputStream())) {
            checkpoints = run.checkpointsDir();
            Trainer trainer = TrainerTest.trainer(cfg, run, null);
            JgptException e = assertThrows(JgptException.class, trainer::run);
            assertTrue(e.getMessage().contains("lower train.max_lr") && e.getMessage().contains("train.grad_clip"), e.getMessage());
            assertTrue(e.getMessage().matches("training diverged (at|before) step \\d+ .*"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        }
        // what is left is a checkpoint to resume from: finite weights and moments
        List<Path> left = TrainingCheckpoint.list(checkpoints);
        assertFalse(left.isEmpty(), "keep_last must not have pruned the last good checkpoint");
        for (Path c : left) {
            Gpt m = TrainingCheckpoint.loadModel(c, null);
            assertTrue(finite(m.params()), c + " holds non-finite weights");
            float[] mom = new float[m.params().length], v = new float[m.params().length];
            TrainingCheckpoint.loadOptimizer(c, m, mom, v);
            assertTrue(finite(mom) && finite(v), c + " holds non-finite moments");
        }
    }

    @Test
    void moreThreadsThanCoresAreCutToTheCoresWithOneWarning() throws Exception {
        int cores = Runtime.getRuntime().availableProcessors();
        RunConfig cfg = config("threads", "train.threads=" + (cores + 1), "train.max_steps=1");
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (RunDirectory run = create(cfg, console)) {
            TrainerTest.trainer(cfg, run, null).run();
        }
        String warning = "warning: train.threads = " + (cores + 1) + " is more than the " + cores + " cores; using " + cores;
        assertEquals(1, console.toString().lines().filter(warning::equals).count(), console.toString());
    }
}
