package dev.jgpt.cli;

import dev.jgpt.io.TrainingCheckpoint;
import dev.jgpt.track.RunDirectory;
import dev.jgpt.track.RunRecord;
import dev.jgpt.track.RunStatus;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static dev.jgpt.TestFiles.copyTree;
import static dev.jgpt.io.AtomicFiles.deleteTree;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code mpirun -np 2 ./jgpt train}: two JVMs training one model data-parallel, against one process
 * at the same global batch, resumed, stopped with SIGUSR1, and with a rank killed. Skipped where
 * Open MPI is not installed.
 */
class MpiTrainTest {
    static final int STEPS = 20;

    @TempDir
    static Path tmp;
    static Launcher jgpt;
    static Path config;
    static double[] twoRanks;

    @BeforeAll
    static void trainOnTwoRanks() throws Exception {
        assumeTrue(onPath("mpirun"), "mpirun is not installed (Debian: openmpi-bin libopenmpi-dev)");
        jgpt = Launcher.install(tmp.resolve("launcher"));
        Path data = TrainProcessTest.prepareCorpus(tmp);
        config = tmp.resolve("tiny.yaml");
        // 128 tokens a step: 4 micro-batches of 2 x 16 in one process, 2 on each of two ranks
        Files.writeString(config, TrainProcessTest.tinyConfig(data, STEPS));
        Launcher.Child two = mpirun(2, "train", "-c", config.toString(), "--name", "two");
        assertEquals(0, two.waitFor(180), two.out() + two.err());
        twoRanks = losses("two");
        assertEquals(STEPS, twoRanks.length);
        assertEquals(RunStatus.State.FINISHED, RunStatus.read(run("two")).state());
        assertTrue(two.out().contains("x 2 accumulation x 2 processes"), two.out());
    }

    @Test
    void twoRanksTrainAsOneProcessWithTheSameGlobalBatch() throws Exception {
        Launcher.Child one = jgpt.start(tmp, "train", "-c", config.toString(), "--name", "one");
        assertEquals(0, one.waitFor(120), one.err());
        double[] oneProcess = losses("one");
        // the same windows each step; only the order of the float sums differs
        for (int i = 0; i < STEPS; i++) {
            assertEquals(oneProcess[i], twoRanks[i], 1e-5 * Math.abs(oneProcess[i]), "step " + i);
        }
        // rank 0 alone wrote the run: one line per step
        assertEquals(STEPS, Files.readAllLines(run("two").resolve(RunDirectory.CONSOLE_FILE)).stream()
                .filter(l -> l.startsWith("step ") && l.contains("| loss")).count());
        // and recorded that two processes trained it, which its threads and cores (rank 0's) do not tell
        for (String name : List.of("one", "two")) {
            var sessions = RunRecord.read(run(name)).getAsJsonArray("sessions");
            assertEquals(name.equals("two") ? 2 : 1, sessions.get(sessions.size() - 1).getAsJsonObject().get("processes").getAsInt(), name);
        }
    }

    @Test
    void aResumeOnTwoRanksIsBitIdenticalAndOtherRankCountsAreRefused() throws Exception {
        Path cut = run("cut");
        copyTree(run("two"), cut);
        for (int step : new int[]{15, 20}) deleteTree(TrainingCheckpoint.dirFor(cut.resolve("checkpoints"), step));
        Launcher.Child alone = jgpt.start(tmp, "train", "--resume", cut.toString());
        assertEquals(1, alone.waitFor(60), alone.err());
        assertTrue(alone.err().contains("was trained by 2 processes; resume it with the same number (mpirun -np 2), not 1"), alone.err());

        Launcher.Child resumed = mpirun(2, "train", "--resume", cut.toString());
        assertEquals(0, resumed.waitFor(120), resumed.out() + resumed.err());
        assertArrayEquals(twoRanks, losses("cut"));
    }

    @Test
    void sigusr1StopsEveryRankWithACheckpointAndTheRunResumes() throws Exception {
        // long validations (they do not touch training) give the signal time to land mid-run
        Launcher.Child child = mpirun(2, "train", "-c", config.toString(), "--name", "usr1", "--set", "eval.val_steps=2000");
        child.awaitOut("step     1/" + STEPS, 120);
        child.signal("USR1"); // mpirun passes it on to every rank
        int code = child.waitFor(120);
        assertEquals(128 + 10, code, child.out() + child.err());
        assertTrue(child.out().contains("stopped at step "), child.out() + child.err());
        assertEquals(RunStatus.State.INTERRUPTED, RunStatus.read(run("usr1")).state());
        int stoppedAt = TrainingCheckpoint.readState(TrainingCheckpoint.list(run("usr1").resolve("checkpoints")).getLast()).step();
        assertTrue(stoppedAt >= 2 && stoppedAt < STEPS, "stopped at " + stoppedAt);

        Launcher.Child resumed = mpirun(2, "train", "--resume", run("usr1").toString());
        assertEquals(0, resumed.waitFor(180), resumed.out() + resumed.err());
        assertArrayEquals(twoRanks, losses("usr1"), "stopped and resumed on two ranks, the losses of the straight two-rank run");
    }

    @Test
    void aKilledRankEndsTheJobWithAnError() throws Exception {
        Launcher.Child child = mpirun(2, "train", "-c", config.toString(), "--name", "killed", "--set", "train.max_steps=100000",
                "--set", "eval.val_every=0", "--set", "eval.checkpoint_every=0");
        child.awaitOut("step     2/100000", 120);
        ProcessHandle rank1 = rank(1, "killed");
        rank1.destroyForcibly();
        int code = child.waitFor(60); // never a hang
        assertNotEquals(0, code);
        String all = child.out() + child.err();
        assertTrue(all.contains("rank 1"), all);
    }

    @Test
    void sigtermToRankZeroStopsEveryRankWithItsExitCode() throws Exception {
        Launcher.Child child = mpirun(2, "train", "-c", config.toString(), "--name", "term", "--set", "train.max_steps=100000",
                "--set", "eval.val_every=0", "--set", "eval.checkpoint_every=0");
        child.awaitOut("step     2/100000", 120);
        rank(0, "term").destroy(); // SIGTERM, to rank 0 alone: rank 1 learns of it at the next micro-batch
        assertEquals(128 + 15, child.waitFor(60), child.out() + child.err()); // every rank exits 143, not 128
        assertEquals(RunStatus.State.INTERRUPTED, RunStatus.read(run("term")).state());
    }

    @Test
    void ranksStartedWithDifferentCommandsFailTogetherInsteadOfWaiting() throws Exception {
        Launcher.Child child = mpirun(1, "bench", "allreduce", "--iters", "1", ":", "-np", "1", jgpt.script(), "bench", "allreduce", "--iters", "2");
        assertEquals(1, child.waitFor(60), child.out() + child.err()); // never a hang
        String err = child.err();
        assertTrue(err.contains("jgpt bench allreduce: the ranks were started with different commands: rank 0 runs"
                + " `jgpt bench allreduce --iters 1`, rank 1 `jgpt bench allreduce --iters 2`"), err);
        assertEquals(1, err.lines().filter(l -> l.startsWith("jgpt ")).count(), "rank 0 alone says it: " + err);
    }

    @Test
    void aRankWithoutTheDataOrHellaSwagFailsTheJobAtStartAndLeavesNoRun() throws Exception {
        // a data.dir relative to each rank's folder, which rank 0 prepares in its own: rank 1's, on "another machine", stays empty
        Path text = tmp.resolve("corpus-for-ranks.txt");
        Files.writeString(text, "public static int twice(int x) { return 2 * x; }\n".repeat(2000));
        Path elsewhere = Files.createDirectories(tmp.resolve("elsewhere"));
        String[] train = {"train", "-c", config.toString(), "--name", "nodata", "--set", "data.dir=data-here", "--set", "data.source=" + text};
        List<String> both = new java.util.ArrayList<>(List.of(train));
        both.addAll(List.of(":", "-np", "1", "--wdir", elsewhere.toString(), jgpt.script()));
        both.addAll(List.of(train));
        Launcher.Child child = mpirun(1, both.toArray(String[]::new));
        assertEquals(1, child.waitFor(120), child.out() + child.err());
        assertTrue(child.err().contains("jgpt train: rank 1 of 2: data.dir "), child.err());
        assertTrue(child.err().contains("rank 0 prepares data.source only on its own machine"), child.err());
        assertTrue(Files.notExists(run("nodata")), "a run that never trained a step leaves no folder");
        try (var files = Files.list(elsewhere)) {
            assertEquals(List.of(), files.toList(), "rank 1 prepared nothing of its own");
        }

        // the same data everywhere, but HellaSwag's file only beside rank 0: HellaSwag would count other items on each
        Files.copy(Path.of("src/test/resources/hellaswag/hellaswag_val_head10.jsonl"), tmp.resolve("hs.jsonl"));
        Path shared = Files.createDirectories(tmp.resolve("shared-data-only"));
        train = new String[]{"train", "-c", config.toString(), "--name", "nohs", "--set", "eval.hellaswag_every=5",
                "--set", "eval.hellaswag_file=hs.jsonl", "--set", "model.block_size=128"};
        both = new java.util.ArrayList<>(List.of(train));
        both.addAll(List.of(":", "-np", "1", "--wdir", shared.toString(), jgpt.script()));
        both.addAll(List.of(train));
        child = mpirun(1, both.toArray(String[]::new));
        assertEquals(1, child.waitFor(120), child.out() + child.err());
        assertTrue(child.err().contains("jgpt train: rank 1 of 2 set up otherwise than rank 0: HellaSwag: 0 examples"
                + " (rank 0: HellaSwag: 10 examples)"), child.err());
        assertTrue(Files.notExists(run("nohs")));
    }

    /** The java process of {@code rank} in the job that trains run {@code name}. */
    private static ProcessHandle rank(int rank, String name) throws Exception {
        for (ProcessHandle p : ProcessHandle.allProcesses().toList()) {
            String cmd = p.info().commandLine().orElse("");
            if (!cmd.contains("java") || !cmd.contains("--name " + name)) continue;
            Path environ = Path.of("/proc", String.valueOf(p.pid()), "environ");
            if (!Files.isReadable(environ)) continue;
            String env = new String(Files.readAllBytes(environ));
            if (List.of(env.split("\0")).contains("OMPI_COMM_WORLD_RANK=" + rank)) return p;
        }
        throw new AssertionError("no rank " + rank + " of run " + name + " found");
    }

    private static Launcher.Child mpirun(int ranks, String... args) throws Exception {
        return jgpt.start(tmp, List.of("mpirun", "-np", String.valueOf(ranks), "--oversubscribe", "--allow-run-as-root"), null, args);
    }

    private static Path run(String name) {
        return tmp.resolve("runs").resolve(name);
    }

    private static double[] losses(String name) throws Exception {
        return TrainProcessTest.losses(run(name), "train");
    }

    private static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (new java.io.File(dir, program).canExecute()) return true;
        }
        return false;
    }
}
