package dev.jgpt.cli;

import dev.jgpt.data.Prepare;
import dev.jgpt.data.ShardFormat;
import dev.jgpt.io.TrainingCheckpoint;
import dev.jgpt.track.Metrics;
import dev.jgpt.track.MetricsSeries;
import dev.jgpt.track.RunDirectory;
import dev.jgpt.track.RunStatus;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.jgpt.TestFiles.copyTree;
import static dev.jgpt.io.AtomicFiles.deleteTree;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * {@code jgpt train} as users meet it: the launcher script in a child process, a fresh JVM for every
 * resume, real signals. Every run trains the same tiny model for 20 steps of 4 micro-batches; the
 * one trained straight through is the reference the others must match to the bit.
 */
class TrainProcessTest {
    static final int STEPS = 20;

    /** A one-layer model on the prepared corpus, 128 tokens a step as 4 micro-batches of 2 x 16, a checkpoint every 5 steps. */
    static String tinyConfig(Path data, int steps) {
        return """
                model: {preset: custom, n_layer: 1, n_head: 2, n_embd: 16, block_size: 16}
                data: {dir: %s, order: shuffled, seed: 7}
                train: {total_batch_size: 128, micro_batch_size: 2, seq_len: 16, max_lr: 3.0e-3, warmup_steps: 2, max_steps: %d, seed: 11}
                eval: {val_every: 5, val_steps: 1, hellaswag_every: 0, sample_every: 0, sample_max_tokens: 8, checkpoint_every: 5, keep_last: 0}
                log: {runs_dir: runs, log_every: 1}
                """.formatted(data, steps);
    }

    @TempDir
    static Path tmp;
    static Launcher jgpt;
    static Path data, config;
    static double[] straightTrain, straightVal;

    @BeforeAll
    static void trainTheReferenceRun() throws Exception {
        jgpt = Launcher.install(tmp.resolve("launcher"));
        data = prepareCorpus(tmp);
        config = tmp.resolve("tiny.yaml");
        Files.writeString(config, tinyConfig(data, STEPS));
        Launcher.Child straight = jgpt.start(tmp, "train", "-c", config.toString(), "--name", "straight");
        assertEquals(0, straight.waitFor(120), straight.err());
        straightTrain = losses(run("straight"), "train");
        straightVal = losses(run("straight"), "val");
        assertEquals(STEPS, straightTrain.length);
        assertEquals(RunStatus.State.FINISHED, RunStatus.read(run("straight")).state());
    }

    /** A small corpus of Java-like lines, prepared in this JVM. */
    static Path prepareCorpus(Path dir) throws Exception {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 400; i++) {
            text.append("public int add").append(i % 17).append("(int a, int b) { return a + b * ").append(i % 7).append("; }\n");
        }
        Path src = dir.resolve("corpus.txt");
        Files.writeString(src, text);
        Path out = dir.resolve("data");
        var d = Prepare.Options.defaults(src.toString(), out);
        Prepare.run(new Prepare.Options(d.source(), out, ShardFormat.BIN, d.shardTokens(), 2000, 0, false, 2,
                d.textField(), d.downloads(), false));
        return out;
    }

    static Path run(String name) {
        return tmp.resolve("runs").resolve(name);
    }

    static double[] losses(Path run, String type) throws Exception {
        return MetricsSeries.series(Metrics.read(run.resolve(RunDirectory.METRICS_FILE)), type, "loss");
    }

    /** The straight run as a run killed after its step-10 checkpoint leaves it (its later checkpoints gone). */
    static Path cutAt10(String name) throws Exception {
        Path cut = run(name);
        copyTree(run("straight"), cut);
        for (int step : new int[]{15, 20}) deleteTree(TrainingCheckpoint.dirFor(cut.resolve("checkpoints"), step));
        return cut;
    }

    @Test
    void resumeInAFreshJvmWithAnotherThreadCountIsBitIdentical() throws Exception {
        Path cut = cutAt10("cut");
        // a cold JVM whose kernels start interpreted, and one thread where the reference had all cores
        // (-Xint or C1 alone would run the Vector API without its intrinsics: minutes a step)
        Launcher.Child resumed = jgpt.start(tmp, "train", "--resume", cut.toString(), "--set", "train.threads=1");
        assertEquals(0, resumed.waitFor(120), resumed.err());
        assertTrue(resumed.out().contains("resuming cut at step 10"), resumed.out());
        assertArrayEquals(straightTrain, losses(cut, "train"), "losses after a resume in a fresh JVM must be bit-identical");
        assertArrayEquals(straightVal, losses(cut, "val"));
    }

    /**
     * Whether this JVM ignores SIGINT, as a shell without job control makes a background job do; its
     * children then ignore it too, and no handler can be installed for it.
     */
    static boolean sigintIgnored() throws Exception {
        Path status = Path.of("/proc/self/status");
        if (!Files.isReadable(status)) return false;
        for (String line : Files.readAllLines(status)) {
            if (line.startsWith("SigIgn:")) return (Long.parseUnsignedLong(line.substring(7).strip(), 16) & (1L << 1)) != 0;
        }
        return false;
    }

    @Test
    void ctrlCStopsAtAMicroBatchWritesTheLastStepAndResumesBitIdentically() throws Exception {
        assumeFalse(sigintIgnored(), "SIGINT is ignored by this JVM (started in the background), so by its children too");
        Launcher.Child child = jgpt.start(tmp, "train", "-c", config.toString(), "--name", "sigint");
        child.awaitOut("step     1/", 120);
        // frozen mid-run, it still owns the run: a second writer gets one line naming it
        child.signal("STOP");
        Launcher.Child second = jgpt.start(tmp, "train", "--resume", run("sigint").toString());
        assertEquals(1, second.waitFor(60), second.out());
        assertEquals(1, second.err().strip().lines().count(), second.err());
        assertTrue(second.err().contains("in use by process " + child.pid() + "@"), second.err());

        child.signal("INT", "CONT");
        assertEquals(130, child.waitFor(60), child.out() + child.err());
        assertTrue(child.err().contains("SIGINT: stopping at the next micro-batch"), child.err());
        Matcher stopped = Pattern.compile("stopped at step (\\d+)").matcher(child.out());
        assertTrue(stopped.find(), child.out());
        int step = Integer.parseInt(stopped.group(1));
        assertTrue(step >= 2 && step < STEPS, "stopped at " + step);
        Path checkpoint = TrainingCheckpoint.dirFor(run("sigint").resolve("checkpoints"), step);
        assertEquals(checkpoint, TrainingCheckpoint.list(run("sigint").resolve("checkpoints")).getLast());
        assertEquals(step, TrainingCheckpoint.readState(checkpoint).step());
        assertEquals(RunStatus.State.INTERRUPTED, RunStatus.read(run("sigint")).state());

        Launcher.Child resumed = jgpt.start(tmp, "train", "--resume", run("sigint").toString());
        assertEquals(0, resumed.waitFor(120), resumed.err());
        assertTrue(resumed.out().contains("resuming sigint at step " + step), resumed.out());
        assertEquals(RunStatus.State.FINISHED, RunStatus.read(run("sigint")).state());
        assertArrayEquals(straightTrain, losses(run("sigint"), "train"), "a run stopped by Ctrl-C resumes bit-identically");
        assertArrayEquals(straightVal, losses(run("sigint"), "val"));
    }

    @Test
    void aSecondCtrlCQuitsAtOnce() throws Exception {
        assumeFalse(sigintIgnored(), "SIGINT is ignored by this JVM (started in the background), so by its children too");
        // the first Ctrl-C lands in the final validation (thousands of batches after the last update), which it
        // lets finish: the run would be finished then; the second one, well over a second later, does not wait for it
        assertEquals(0, jgpt.start(tmp, "train", "-c", config.toString(), "--name", "twice", "--set", "train.max_steps=2").waitFor(120));
        Launcher.Child child = jgpt.start(tmp, "train", "--resume", run("twice").toString(), "--set", "train.max_steps=3",
                "--set", "eval.val_steps=20000");
        child.awaitOut("step     2/3", 120); // the last step's line: the final validation follows
        child.signal("INT");
        Thread.sleep(1500);
        child.signal("INT");
        assertEquals(130, child.waitFor(30), child.out() + child.err());
        assertTrue(child.err().contains("SIGINT: stopping at the next micro-batch"), child.err());
        assertFalse(child.out().contains("stopped at step") || child.out().contains("validation loss"), child.out());
        assertEquals(RunStatus.State.INTERRUPTED, RunStatus.read(run("twice")).state());
        assertEquals(List.of(run("twice").resolve("checkpoints/step_000002")), TrainingCheckpoint.list(run("twice").resolve("checkpoints")));
    }

    @Test
    void sigtermFromTimeoutThroughTheLauncherStopsLikeCtrlC() throws Exception {
        assumeFalse(Files.notExists(Path.of("/usr/bin/timeout")), "coreutils timeout is not installed");
        // timeout runs ./jgpt in a process group of its own and passes SIGTERM on to java and to the
        // whole group, the launcher's stderr filter included: java gets it twice, the filter once
        Launcher.Child child = jgpt.start(tmp, List.of("/usr/bin/timeout", "--preserve-status", "600"), null,
                "train", "-c", config.toString(), "--name", "sigterm");
        child.awaitOut("step     1/", 120);
        child.signal("TERM");
        assertEquals(143, child.waitFor(60), child.out() + child.err());
        // written to stderr after the signal: the filter outlived it
        assertTrue(child.err().contains("SIGTERM: stopping at the next micro-batch"), child.err());
        assertTrue(child.out().contains("stopped at step"), child.out());
        assertEquals(RunStatus.State.INTERRUPTED, RunStatus.read(run("sigterm")).state());
        assertFalse(TrainingCheckpoint.list(run("sigterm").resolve("checkpoints")).isEmpty());
    }

    @Test
    void aCheckoutThisUserCannotWriteToRunsItsBuiltJar() throws Exception {
        // a checkout another user built and installed: its build lock cannot be opened (a folder in the lock's
        // place stands in for the permissions, which root would not feel)
        Launcher installed = Launcher.install(tmp.resolve("installed"));
        Files.createDirectories(installed.root().resolve("target/.build.lock"));
        Launcher.Child child = installed.start(tmp, "tokenize", "--text", "hello world");
        assertEquals(0, child.waitFor(60), child.err());
        assertEquals("31373 995", child.out().strip());
        assertEquals("", child.err());
    }

    @Test
    void shardsJgptDidNotWriteAreTrainedOnAndLeftAlone() throws Exception {
        // llm.c-style shards without prepare.json, beside other files, and the default data.source (jdk-src)
        Path mine = tmp.resolve("mydata");
        Files.createDirectories(mine);
        try (var shards = Files.list(data)) {
            for (Path p : shards.filter(p -> p.toString().endsWith(".bin")).toList()) Files.copy(p, mine.resolve(p.getFileName()));
        }
        Files.writeString(mine.resolve("notes.txt"), "my own notes\n");
        Files.write(mine.resolve("gpt2_124M.bin"), new byte[]{(byte) 0x5e, (byte) 0xd8, 0x34, 0x01, 3, 0, 0, 0}); // llm.c model magic
        var before = snapshot(mine);

        Launcher.Child child = jgpt.start(tmp, "train", "-c", config.toString(), "--set", "data.dir=" + mine,
                "--set", "data.source=jdk-src", "--set", "train.max_steps=2", "--name", "foreign");
        assertEquals(0, child.waitFor(120), child.err());
        assertEquals(before, snapshot(mine), "data.dir must be exactly as it was");
        assertTrue((child.out() + child.err()).contains("reading its 2 shards directly"), child.err());
        String log = Files.readString(run("foreign").resolve(RunDirectory.CONSOLE_FILE)); // the run's log says what it read
        assertTrue(log.contains("data.dir " + mine + ": reading its 2 shards directly"), log);
        assertEquals(2, losses(run("foreign"), "train").length);
    }

    /** Every file under a folder (by relative path) with its bytes' hash. */
    static java.util.Map<String, Integer> snapshot(Path dir) throws Exception {
        var m = new java.util.TreeMap<String, Integer>();
        try (var files = Files.walk(dir)) {
            for (Path p : files.filter(Files::isRegularFile).toList()) {
                m.put(dir.relativize(p).toString(), java.util.Arrays.hashCode(Files.readAllBytes(p)));
            }
        }
        return m;
    }

    @Test
    void resumeToAStepBelowTheCheckpointIsRefusedInsteadOfLoopingForever() throws Exception {
        Path done = run("short");
        copyTree(run("straight"), done);
        String config = Files.readString(done.resolve(RunDirectory.CONFIG_FILE));
        Launcher.Child child = jgpt.start(tmp, "train", "--resume", done.toString(), "--set", "train.max_steps=3");
        assertEquals(1, child.waitFor(60), child.out()); // before the fix it never ended, writing checkpoints
        assertEquals(1, child.err().strip().lines().count(), child.err());
        assertTrue(child.err().contains("train.max_steps 3 is below the step the run has reached, 20"), child.err());
        assertEquals(config, Files.readString(done.resolve(RunDirectory.CONFIG_FILE)));
        assertEquals(4, TrainingCheckpoint.list(done.resolve("checkpoints")).size());
        assertEquals(RunStatus.State.FINISHED, RunStatus.read(done).state());
    }
}
