package dev.jgpt.cli;

import dev.jgpt.io.TrainingCheckpoint;
import dev.jgpt.track.Metrics;
import dev.jgpt.track.RunDirectory;
import dev.jgpt.track.RunLock;
import dev.jgpt.track.RunStatus;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.jgpt.cli.EngineCommandsTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The run's life cycle through {@code jgpt train} in this JVM: what a refused, failed or damaged
 * start leaves behind, and what the status file says.
 */
class TrainLifecycleTest {
    @TempDir
    static Path tmp;
    static Path data, config, runs;

    @BeforeAll
    static void setUp() throws Exception {
        data = TrainProcessTest.prepareCorpus(tmp);
        runs = tmp.resolve("runs");
        config = tmp.resolve("tiny.yaml");
        Files.writeString(config, """
                model: {preset: custom, n_layer: 1, n_head: 2, n_embd: 16, block_size: 16}
                data: {dir: %s, order: shuffled, seed: 7}
                train: {total_batch_size: 64, micro_batch_size: 2, seq_len: 16, max_lr: 3.0e-3, warmup_steps: 1, max_steps: 4, seed: 11}
                eval: {val_every: 2, val_steps: 1, hellaswag_every: 0, sample_every: 0, sample_max_tokens: 8, checkpoint_every: 2, keep_last: 0}
                log: {runs_dir: %s, log_every: 1}
                """.formatted(data, runs));
    }

    static EngineCommandsTest.Run train(String... args) {
        List<String> all = new ArrayList<>(List.of("train"));
        all.addAll(List.of(args));
        return run(all.toArray(String[]::new));
    }

    static EngineCommandsTest.Run trainNew(String name, String... sets) {
        List<String> all = new ArrayList<>(List.of("-c", config.toString(), "--name", name));
        for (String s : sets) all.addAll(List.of("--set", s));
        return train(all.toArray(String[]::new));
    }

    static String oneErrorLine(EngineCommandsTest.Run r) {
        assertEquals(1, r.exit(), r.out());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        return r.err().strip();
    }

    @Test
    void aFinishedRunSaysSoAndHoldsNoLock() {
        int cores = Runtime.getRuntime().availableProcessors();
        EngineCommandsTest.Run r = trainNew("ok", "train.threads=" + (cores + 7));
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("is more than the " + cores + " cores; using " + cores), r.out());
        // run.json records the threads the run used, not the ones asked for
        var sessions = dev.jgpt.track.RunRecord.read(runs.resolve("ok")).getAsJsonArray("sessions");
        assertEquals(cores, sessions.get(sessions.size() - 1).getAsJsonObject().get("threads").getAsInt());
        RunStatus s = RunStatus.read(runs.resolve("ok"));
        assertEquals(RunStatus.State.FINISHED, s.state());
        assertEquals(ProcessHandle.current().pid(), s.pid());
        assertTrue(s.ended() != null && s.error() == null);
        assertFalse(RunLock.isHeld(runs.resolve("ok")));
        // resuming a finished run has nothing to do and changes nothing
        EngineCommandsTest.Run again = train("--resume", runs.resolve("ok").toString());
        assertEquals(0, again.exit(), again.err());
        assertTrue(again.out().contains("already finished at step 4"), again.out());
        assertEquals(s, RunStatus.read(runs.resolve("ok")));
    }

    @Test
    void aRefusedResumeLeavesTheRunAsItWas() throws Exception {
        assertEquals(0, trainNew("base", "train.max_steps=2").exit());
        Path base = runs.resolve("base");
        var before = TrainProcessTest.snapshot(base);

        String shape = oneErrorLine(train("--resume", base.toString(), "--set", "model.n_layer=3", "--set", "train.max_steps=4"));
        assertTrue(shape.contains("step_000002 was trained with model.n_layer = 1, but the run's config (its config.yaml with any --set)"
                + " has model.n_layer = 3; a resumed run keeps the model it trained"), shape);
        assertFalse(shape.contains("GptConfig"), shape);
        String order = oneErrorLine(train("--resume", base.toString(), "--set", "data.order=sequential", "--set", "data.seed=8"));
        assertTrue(order.contains("was trained with data.order = shuffled, data.seed = 7, but the run's config (its config.yaml"
                + " with any --set) has data.order = sequential, data.seed = 8"), order);
        String seqLen = oneErrorLine(train("--resume", base.toString(), "--set", "train.seq_len=8", "--set", "train.total_batch_size=32"));
        assertTrue(seqLen.contains("train.seq_len = 16, but") && seqLen.contains("has train.seq_len = 8"), seqLen);
        String folder = oneErrorLine(train("--resume", base.toString(), "--set", "log.name=other", "--set", "train.max_steps=4"));
        assertTrue(folder.contains("log.name"), folder);
        assertEquals(before, TrainProcessTest.snapshot(base), "a refused resume must not change the run");

        // still resumable, and what it was resumed with is now the run's config
        EngineCommandsTest.Run ok = train("--resume", base.toString(), "--set", "train.max_steps=4");
        assertEquals(0, ok.exit(), ok.err());
        assertTrue(Files.readString(base.resolve(RunDirectory.CONFIG_FILE)).contains("max_steps: 4"));
        assertEquals(RunStatus.State.FINISHED, RunStatus.read(base).state());

        // a run read in file order never used its seed: another one resumes it, to the uninterrupted run's losses
        assertEquals(0, trainNew("inorder", "data.order=sequential", "train.max_steps=4").exit());
        assertEquals(0, trainNew("inorder-resumed", "data.order=sequential", "train.max_steps=2").exit());
        EngineCommandsTest.Run reseeded = train("--resume", runs.resolve("inorder-resumed").toString(), "--set", "data.seed=8",
                "--set", "train.max_steps=4");
        assertEquals(0, reseeded.exit(), reseeded.err());
        assertArrayEquals(TrainProcessTest.losses(runs.resolve("inorder"), "train"),
                TrainProcessTest.losses(runs.resolve("inorder-resumed"), "train"));
    }

    @Test
    void aRefusedResumeCreatesNothing() throws Exception {
        assertEquals(0, trainNew("d7", "train.max_steps=2").exit());
        Path d7 = runs.resolve("d7");
        dev.jgpt.io.AtomicFiles.deleteTree(d7.resolve(RunDirectory.CHECKPOINTS_DIR));
        Files.delete(d7.resolve(RunDirectory.SAMPLES_FILE));
        List<Path> before;
        try (var all = Files.walk(d7)) {
            before = all.sorted().toList();
        }
        String bad = oneErrorLine(train("--resume", d7.toString(), "--set", "train.max_lr=-1"));
        assertTrue(bad.contains("train.max_lr"), bad);
        try (var all = Files.walk(d7)) {
            assertEquals(before, all.sorted().toList(), "no folder or file is made by a refused resume");
        }
    }

    @Test
    void aRunKilledBeforeItsFirstCheckpointResumesFromStepZero() throws Exception {
        assertEquals(0, trainNew("whole").exit());
        // as if killed (kill -9, a lost machine) after its steps were logged but before any checkpoint was written
        assertEquals(0, trainNew("early").exit());
        Path early = runs.resolve("early");
        dev.jgpt.io.AtomicFiles.deleteTree(early.resolve(RunDirectory.CHECKPOINTS_DIR));
        RunStatus.runningNow().write(early); // what a killed process leaves
        assertTrue(trainNew("early").err().contains("already exists"), "its name is taken: resuming is the way on");

        EngineCommandsTest.Run r = train("--resume", early.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("yet: training early again from step 0"), r.out());
        assertEquals(RunStatus.State.FINISHED, RunStatus.read(early).state());
        // the metrics of the lost steps are replaced, not listed twice: the same losses as the uninterrupted run
        assertEquals(losses(runs.resolve("whole")), losses(early));
        assertEquals(List.of(2, 4), TrainingCheckpoint.list(early.resolve(RunDirectory.CHECKPOINTS_DIR)).stream()
                .map(p -> Integer.parseInt(p.getFileName().toString().substring("step_".length()))).toList());

        // a finished run wrote its checkpoints: when they are deleted since, it is not trained again over its metrics
        dev.jgpt.io.AtomicFiles.deleteTree(early.resolve(RunDirectory.CHECKPOINTS_DIR));
        var before = TrainProcessTest.snapshot(early);
        String gone = oneErrorLine(train("--resume", early.toString(), "--set", "train.max_steps=6"));
        assertTrue(gone.contains("the run ended finished but its checkpoints are gone"), gone);
        assertEquals(before, TrainProcessTest.snapshot(early));
    }

    static List<String> losses(Path run) throws Exception {
        return Metrics.read(run.resolve(RunDirectory.METRICS_FILE)).stream().filter(e -> !e.type().equals("checkpoint"))
                .map(e -> e.type() + " " + e.step() + " " + e.fields().get("loss")).toList();
    }

    @Test
    void theCommandsItSuggestsCanBePastedWhateverThePath() throws Exception {
        Path spaced = tmp.resolve("my runs");
        EngineCommandsTest.Run r = trainNew("pasted", "log.runs_dir=" + spaced);
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("(sample from it: jgpt generate --model '" + spaced.resolve("pasted") + "')"), r.out());
        assertEquals("runs/a_b-1.2", dev.jgpt.JgptException.shellWord("runs/a_b-1.2"));
        assertEquals("'it'\\''s $HOME'", dev.jgpt.JgptException.shellWord("it's $HOME"));
    }

    @Test
    void aRunThatFailsBeforeItsFirstStepLeavesNothing() throws Exception {
        String init = oneErrorLine(trainNew("badinit", "model.init_from=" + tmp.resolve("no-such-model")));
        assertTrue(init.contains("no-such-model"), init);
        assertFalse(Files.exists(runs.resolve("badinit")), "the failed run's folder must be gone");
        // so must the runs folder (and those above it) that the run made for itself
        Path newRuns = tmp.resolve("new-runs-parent/runs");
        oneErrorLine(trainNew("badinit", "model.init_from=" + tmp.resolve("no-such-model"), "log.runs_dir=" + newRuns));
        assertFalse(Files.exists(tmp.resolve("new-runs-parent")), "a first run that fails leaves no empty runs folder");

        Path notShards = tmp.resolve("not-shards");
        Files.createDirectories(notShards);
        Files.writeString(notShards.resolve("readme.txt"), "not tokens\n");
        String nodata = oneErrorLine(trainNew("nodata", "data.dir=" + notShards));
        assertTrue(nodata.contains("data.dir " + notShards + ": holds no token shards"), nodata);
        assertFalse(Files.exists(runs.resolve("nodata")));
        Path file = Files.writeString(tmp.resolve("data-file"), "not shards\n");
        assertEquals("jgpt train: data.dir " + file + ": exists and is not a directory", oneErrorLine(trainNew("filedata", "data.dir=" + file)));
        assertFalse(Files.exists(runs.resolve("filedata")));
        assertEquals(List.of(notShards.resolve("readme.txt")), Files.list(notShards).toList());

        // a folder the user made stays (empty, as it was); the name is free again
        Files.createDirectories(runs.resolve("premade"));
        oneErrorLine(trainNew("premade", "model.init_from=" + tmp.resolve("no-such-model")));
        assertTrue(Files.isDirectory(runs.resolve("premade")));
        assertEquals(0, Files.list(runs.resolve("premade")).count());
        assertEquals(0, trainNew("premade", "train.max_steps=1").exit());

        // starting weights of another shape: each key that differs, with both values, not two record dumps
        String shape = oneErrorLine(trainNew("reshaped", "model.init_from=" + runs.resolve("premade"), "model.n_layer=2"));
        assertEquals("jgpt train: model.init_from " + runs.resolve("premade") + " holds a model with model.n_layer = 1, but the"
                + " config has model.n_layer = 2; set the config's model to the weights' shape, or start from other weights", shape);
        assertFalse(Files.exists(runs.resolve("reshaped")));
        // weights of the config's shape are trained on, and the run says where they came from
        EngineCommandsTest.Run tuned = trainNew("tuned", "model.init_from=" + runs.resolve("premade"), "train.max_steps=1");
        assertEquals(0, tuned.exit(), tuned.err());
        assertTrue(tuned.out().contains(" channels, weights from " + runs.resolve("premade") + "); "), tuned.out());
    }

    @Test
    void aMissingHellaSwagFileTurnsHellaSwagOffWithOneLine() throws Exception {
        Path missing = tmp.resolve("hellaswag/hellaswag_val.jsonl");
        EngineCommandsTest.Run r = trainNew("nohs", "eval.hellaswag_every=1", "eval.hellaswag_file=" + missing);
        assertEquals(0, r.exit(), r.err());
        String note = "HellaSwag is off: eval.hellaswag_file " + missing + " does not exist";
        assertEquals(1, r.out().split(java.util.regex.Pattern.quote(note), -1).length - 1, r.out());
        String log = Files.readString(runs.resolve("nohs").resolve(RunDirectory.CONSOLE_FILE));
        assertEquals(1, log.split(java.util.regex.Pattern.quote(note), -1).length - 1, log);
        assertEquals(RunStatus.State.FINISHED, RunStatus.read(runs.resolve("nohs")).state());
        assertTrue(Metrics.read(runs.resolve("nohs").resolve(RunDirectory.METRICS_FILE)).stream()
                .noneMatch(m -> m.type().equals("hellaswag")));
    }

    @Test
    void hellaSwagItemsLongerThanTheModelAreCountedOutLoud() throws Exception {
        Path items = Path.of("src/test/resources/hellaswag/hellaswag_val_head10.jsonl").toAbsolutePath();
        EngineCommandsTest.Run r = trainNew("hsshort", "eval.hellaswag_every=2", "eval.hellaswag_file=" + items, "model.block_size=40");
        assertEquals(0, r.exit(), r.err());
        String line = r.out().lines().filter(l -> l.contains("HellaSwag acc_norm")).findFirst().orElseThrow(() -> new AssertionError(r.out()));
        int scored = Integer.parseInt(line.replaceAll(".*acc_norm \\d+/(\\d+) .*", "$1"));
        assertTrue(scored > 0 && scored < 10, line);
        assertTrue(line.endsWith(" (" + (10 - scored) + " of 10 items longer than model.block_size 40 not scored)"), line);
    }

    @Test
    void withoutAValidationShardTheErrorIsOneLine() throws Exception {
        Path trainOnly = tmp.resolve("train-only");
        Files.createDirectories(trainOnly);
        try (var shards = Files.list(data)) {
            for (Path p : shards.filter(p -> p.getFileName().toString().contains("_train_")).toList()) {
                Files.copy(p, trainOnly.resolve(p.getFileName()));
            }
        }
        String e = oneErrorLine(trainNew("noval", "data.dir=" + trainOnly));
        assertTrue(e.contains("data.dir " + trainOnly) && e.contains("no validation shard"), e);
        assertFalse(Files.exists(runs.resolve("noval")));
    }

    @Test
    void nanoGptsTrainAndValBinAreTrainedOnAndEvaluatedAsTheyAre() throws Exception {
        // nanoGPT's data/shakespeare/prepare.py writes the same GPT-2 tokens with no header: train.bin and val.bin
        Path fromJava = Files.createDirectories(tmp.resolve("nanogpt-java"));
        for (String split : List.of("val_000000", "train_000001")) {
            byte[] shard = Files.readAllBytes(data.resolve("corpus_" + split + ".bin"));
            Files.write(fromJava.resolve(split.substring(0, split.indexOf('_')) + ".bin"), Arrays.copyOfRange(shard, 1024, shard.length));
        }
        List<Path> folders = new ArrayList<>(List.of(fromJava));
        if (dev.jgpt.data.PrepareTest.pythonHas("numpy")) {
            Path fromNumpy = Files.createDirectories(tmp.resolve("nanogpt-numpy"));
            String script = String.join("\n",
                    "import sys, numpy as np",
                    "for split, shard in (('train', 'train_000001'), ('val', 'val_000000')):",
                    "    ids = np.fromfile(sys.argv[1] + '/corpus_' + shard + '.bin', dtype=np.uint16)[512:].tolist()",
                    "    ids = np.array(ids, dtype=np.uint16)",
                    "    ids.tofile(sys.argv[2] + '/' + split + '.bin')");
            Process p = new ProcessBuilder("/usr/bin/python3", "-c", script, data.toString(), fromNumpy.toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertEquals(0, p.waitFor(), out);
            folders.add(fromNumpy);
        }
        for (Path folder : folders) {
            String name = folder.getFileName().toString();
            EngineCommandsTest.Run r = trainNew(name, "data.dir=" + folder, "train.max_steps=2");
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.out().contains("data.dir " + folder + ": reading its 2 shards directly"), r.out());
            EngineCommandsTest.Run eval = run("eval", "--model", runs.resolve(name).toString(), "--data", folder.toString(),
                    "--steps", "2", "--batch", "1");
            assertEquals(0, eval.exit(), eval.err());
            assertTrue(eval.out().contains("(2 batches of 1x16 from " + folder + ")"), eval.out());
        }

        // shakespeare_char's ids index a 65-character vocabulary (meta.pkl), not GPT-2's
        Path chars = Files.createDirectories(tmp.resolve("shakespeare_char"));
        for (String file : List.of("train.bin", "val.bin")) Files.copy(fromJava.resolve(file), chars.resolve(file));
        Files.write(chars.resolve("meta.pkl"), new byte[]{(byte) 0x80, 4, '}', '.'});
        EngineCommandsTest.Run eval = run("eval", "--model", runs.resolve("nanogpt-java").toString(), "--data", chars.toString());
        assertEquals(1, eval.exit());
        assertTrue(eval.err().strip().startsWith("jgpt eval: " + chars.resolve("val.bin") + ": holds nanoGPT's character ids"), eval.err());
        assertTrue(oneErrorLine(trainNew("chars", "data.dir=" + chars)).contains("not GPT-2 BPE ids"));
        assertFalse(Files.exists(runs.resolve("chars")));
    }

    @Test
    void aRunThatFailsLaterIsKeptAndMarkedFailedWithItsError() throws Exception {
        // step 0 trains; its update at this rate sends the weights to infinity, so step 1 diverges
        EngineCommandsTest.Run r = trainNew("diverged", "train.max_lr=1e30", "train.warmup_steps=0");
        String line = oneErrorLine(r);
        RunStatus s = RunStatus.read(runs.resolve("diverged"));
        assertEquals(RunStatus.State.FAILED, s.state());
        assertEquals(line.substring("jgpt train: ".length()), s.error());
        assertTrue(Metrics.read(runs.resolve("diverged").resolve(RunDirectory.METRICS_FILE)).size() > 0);
    }

    @Test
    void resumeRemovesLeftoversAndSkipsADamagedNewestCheckpoint() throws Exception {
        assertEquals(0, trainNew("damaged").exit());
        Path run = runs.resolve("damaged");
        Path checkpoints = run.resolve("checkpoints");
        double[] expected = TrainProcessTest.losses(run, "train");
        // a killed save, a killed prune, a killed config rewrite; and the newest checkpoint cut short
        Files.createDirectories(checkpoints.resolve(".step_000006.tmp999999942/model"));
        Files.createDirectories(checkpoints.resolve(".step_000001.tmp999999943"));
        Files.writeString(run.resolve(".config.yaml.tmp999999944"), "half");
        Path weights = checkpoints.resolve("step_000004/model/model.safetensors");
        Files.write(weights, java.util.Arrays.copyOf(Files.readAllBytes(weights), (int) Files.size(weights) / 2));

        EngineCommandsTest.Run r = train("--resume", run.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("checkpoint step_000004 is damaged") && r.out().contains("trying step_000002"), r.out());
        assertTrue(r.out().contains("resuming damaged at step 2"), r.out());
        assertFalse(Files.exists(checkpoints.resolve(".step_000006.tmp999999942")));
        assertFalse(Files.exists(checkpoints.resolve(".step_000001.tmp999999943")));
        assertFalse(Files.exists(run.resolve(".config.yaml.tmp999999944")));
        assertArrayEquals(expected, TrainProcessTest.losses(run, "train"));
        TrainingCheckpoint.check(checkpoints.resolve("step_000004")); // written again, whole
    }
}
