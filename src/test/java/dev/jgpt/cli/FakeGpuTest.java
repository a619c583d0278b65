package dev.jgpt.cli;

import dev.jgpt.io.TrainingCheckpoint;
import dev.jgpt.track.Metrics;
import dev.jgpt.track.MetricsSeries;
import dev.jgpt.track.RunDirectory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.jgpt.TestFiles.copyTree;
import static dev.jgpt.io.AtomicFiles.deleteTree;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The CUDA engine's commands end to end on tools/fakegpu, a GPU simulated on the CPU (fake libcuda,
 * cuBLAS and cuBLASLt running jgpt's own kernels compiled by g++, beside the real NVRTC): every
 * binding, buffer, launch and copy of the host code runs as on a GPU, where this suite has none.
 * What a simulation cannot show (races between blocks, the real libraries' limits, speed) is the GPU
 * check's (tools/device). Needs g++, python3 and NVRTC from org.bytedeco:cuda-redist (the Maven
 * profile cuda-kernels, which .ci/run turns on); skipped, with the reason, without them.
 */
class FakeGpuTest {
    @TempDir
    static Path tmp;
    static Launcher jgpt;
    static List<String> onFakeGpu;
    static Path data;

    @BeforeAll
    static void buildTheFakeGpu() throws Exception {
        assumeTrue(FakeGpuTest.class.getClassLoader().getResource("org/bytedeco/cuda/linux-x86_64/libnvrtc.so.13") != null,
                "NVRTC is not on the test class path: run the suite with -Pcuda-kernels (as .ci/run does)");
        for (String tool : List.of("g++", "python3")) {
            assumeTrue(new ProcessBuilder("sh", "-c", "command -v " + tool).start().waitFor() == 0, tool + " is not installed");
        }
        Process build = new ProcessBuilder("tools/fakegpu/build.sh").redirectErrorStream(true).start();
        String log = new String(build.getInputStream().readAllBytes());
        assertTrue(build.waitFor(300, TimeUnit.SECONDS) && build.exitValue() == 0, "tools/fakegpu/build.sh failed:\n" + log);
        jgpt = Launcher.install(tmp.resolve("launcher"));
        onFakeGpu = List.of("env", "JGPT_CUDA_LIBS=" + Path.of("target/fakegpu/lib").toAbsolutePath(),
                "JGPT_CUDA_CACHE=" + tmp.resolve("kernel-cache"));
        data = TrainProcessTest.prepareCorpus(tmp);
    }

    private static Launcher.Child run(String... args) throws Exception {
        Launcher.Child c = jgpt.start(tmp, onFakeGpu, null, args);
        assertEquals(0, c.waitFor(300), String.join(" ", args) + ":\n" + c.out() + c.err());
        return c;
    }

    @Test
    void everyKernelAndTheModelMatchTheCpuOnBothMatmulPaths() throws Exception {
        // and debug-step on one PyTorch fixture (its loss, logits and gradients on the GPU against the CPU's)
        Path fixtures = tmp.resolve("fixtures");
        copyTree(EngineCommandsTest.TINY, fixtures.resolve("tiny"));
        String out = run("cuda", "parity", "--fixtures", fixtures.toString()).out();
        assertTrue(out.contains("Fake GPU") && out.matches("(?s).*parity: all \\d+ checks passed.*"), out);
        assertTrue(out.matches("(?s).*tiny logits row 0 .*ok.*"), out);
    }

    @Test
    void cudaCompileReportsEachKernelsResourcesAndLoadsEveryModule() throws Exception {
        // the GPU check's compile step: the GPU's architecture, ptxas's report per kernel, then every module loaded
        String out = run("cuda", "compile").out();
        assertTrue(out.contains("target sm_90") && out.contains("all modules load on Fake GPU"), out);
        assertTrue(out.matches("(?s).*\\n    attention_backward_key +\\d+ registers, +\\d+ B shared.*"), out);
        assertTrue(out.contains(" kernels compiled; each fits a block of 512 threads"), out);
    }

    @Test
    void trainingOnTheGpuResumesBitForBitAndItsCheckpointCrossesToTheCpu() throws Exception {
        Path config = tmp.resolve("gpu.yaml");
        // head size 64, every GPT-2's: the tiled attention kernels train, resume and cross to the CPU
        Files.writeString(config, TrainProcessTest.tinyConfig(data, 6).replace("n_head: 2, n_embd: 16", "n_head: 1, n_embd: 64")
                .replace("max_steps: 6,", "max_steps: 6, device: cuda,")
                .replace("total_batch_size: 128", "total_batch_size: 64").replace("checkpoint_every: 5", "checkpoint_every: 3")
                .replace("val_every: 5", "val_every: 3").replace("sample_every: 0", "sample_every: 3, sample_prompt: public"));
        run("train", "-c", config.toString(), "--name", "gpu");
        Path gpu = tmp.resolve("runs/gpu");
        assertTrue(Files.readString(gpu.resolve("console.log")).contains("device: cuda, Fake GPU"));
        double[] straight = losses(gpu, "train");
        assertEquals(6, straight.length);

        // cut after step 3's checkpoint: resumed on the GPU, the same losses bit for bit
        Path resumed = cutAt3(gpu, "resumed");
        run("train", "--resume", resumed.toString());
        assertArrayEquals(straight, losses(resumed, "train"));

        // resumed on the CPU: the checkpoint's validation loss and the first step's loss to float32 rounding
        Path onCpu = cutAt3(gpu, "on-cpu");
        run("train", "--resume", onCpu.toString(), "--set", "train.device=cpu");
        assertTrue(Files.readString(onCpu.resolve("console.log")).contains("device: cpu (train.device: cpu)"));
        assertEquals(losses(gpu, "val")[1], losses(onCpu, "val")[1], 1e-5 * losses(gpu, "val")[1], "validation loss at step 3");
        assertEquals(straight[3], losses(onCpu, "train")[3], 1e-5 * straight[3], "step 3's loss");
    }

    @Test
    void twoRanksEachOnAGpuTrainAsOneProcessWithTheSameGlobalBatch() throws Exception {
        assumeTrue(new ProcessBuilder("sh", "-c", "command -v mpirun").start().waitFor() == 0,
                "mpirun is not installed (Debian: openmpi-bin libopenmpi-dev)");
        Path config = tmp.resolve("data-parallel.yaml");
        Files.writeString(config, TrainProcessTest.tinyConfig(data, 4).replace("max_steps: 4,", "max_steps: 4, device: cuda,")
                .replace("total_batch_size: 128", "total_batch_size: 64"));
        run("train", "-c", config.toString(), "--name", "one");
        List<String> mpirun = new java.util.ArrayList<>(onFakeGpu);
        mpirun.addAll(List.of("mpirun", "-np", "2", "--oversubscribe", "--allow-run-as-root"));
        Launcher.Child two = jgpt.start(tmp, mpirun, null, "train", "-c", config.toString(), "--name", "two");
        assertEquals(0, two.waitFor(300), two.out() + two.err());
        assertTrue(two.out().contains("x 1 accumulation x 2 processes") && two.out().contains("device: cuda, Fake GPU"), two.out());
        double[] one = losses(tmp.resolve("runs/one"), "train"), twoRanks = losses(tmp.resolve("runs/two"), "train");
        assertEquals(4, twoRanks.length);
        // the same windows each step, the gradients summed through the host; only the order of the float sums differs
        for (int i = 0; i < one.length; i++) assertEquals(one[i], twoRanks[i], 1e-5 * one[i], "step " + i);
    }

    @Test
    void greedyDecodingOnTheGpuIsTheCpusFp32Text() throws Exception {
        String model = Path.of("").toAbsolutePath().resolve(EngineCommandsTest.TINY.resolve("hf")).toString();
        List<String> args = List.of("generate", "--model", model, "--prompt", "!", "--max-tokens", "40", "--temperature", "0", "--ignore-eot");
        String gpu = run(concat(args, "--device", "cuda")).out();
        String cpu = run(concat(args, "--device", "cpu", "--dtype", "fp32")).out();
        assertTrue(gpu.length() > 10, gpu);
        assertEquals(cpu, gpu);
    }

    @Test
    void evaluationOnTheGpuIsTheCpus() throws Exception {
        // a model with GPT-2's vocabulary and room for HellaSwag's items: two steps of training on the CPU make one
        Path config = tmp.resolve("eval.yaml");
        Files.writeString(config, TrainProcessTest.tinyConfig(data, 2).replace("block_size: 16", "block_size: 128")
                .replace("max_steps: 2,", "max_steps: 2, device: cpu,").replace("total_batch_size: 128", "total_batch_size: 32"));
        run("train", "-c", config.toString(), "--name", "for-eval");
        List<String> args = List.of("eval", "--model", tmp.resolve("runs/for-eval").toString(), "--data", data.toString(),
                "--steps", "2", "--batch", "2", "--seq", "16", "--hellaswag",
                Path.of("src/test/resources/hellaswag/hellaswag_val_head10.jsonl").toAbsolutePath().toString(), "--limit", "10");
        String gpu = run(concat(args, "--device", "cuda")).out(), cpu = run(concat(args, "--device", "cpu")).out();
        java.util.regex.Pattern loss = java.util.regex.Pattern.compile("validation loss ([0-9.]+)");
        java.util.regex.Matcher g = loss.matcher(gpu), c = loss.matcher(cpu);
        assertTrue(g.find() && c.find(), gpu + "\n" + cpu);
        assertEquals(Double.parseDouble(c.group(1)), Double.parseDouble(g.group(1)), 2e-4, "validation loss");
        // the completions' scores differ by float32 rounding at most: the same choices
        String hellaswag = cpu.lines().filter(l -> l.startsWith("HellaSwag:")).findFirst().orElseThrow();
        assertTrue(gpu.lines().anyMatch(hellaswag::equals), gpu + "\n" + cpu);
    }

    @Test
    void aDriverWithoutTheOtherLibrariesIsNoUsableGpu() throws Exception {
        // a machine with an NVIDIA driver and a GPU but no NVRTC or cuBLAS: auto trains on the CPU and says why,
        // --device cuda stops with one line before any output or any run directory
        Path driverOnly = Files.createDirectories(tmp.resolve("driver-only"));
        for (String lib : List.of("libcuda.so.1", "libfakegpu.so")) {
            Files.copy(Path.of("target/fakegpu/lib", lib), driverOnly.resolve(lib), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        List<String> env = List.of("env", "JGPT_CUDA_LIBS=" + driverOnly.toAbsolutePath(), "JGPT_CUDA_CACHE=" + tmp.resolve("kernel-cache"));
        Path config = tmp.resolve("auto.yaml");
        Files.writeString(config, TrainProcessTest.tinyConfig(data, 2));
        Launcher.Child auto = jgpt.start(tmp, env, null, "train", "-c", config.toString(), "--name", "auto-no-nvrtc");
        assertEquals(0, auto.waitFor(120), auto.out() + auto.err());
        assertTrue(auto.out().contains("device: cpu (train.device auto: no usable GPU: no NVRTC found (libnvrtc.so.13"), auto.out());

        Launcher.Child cuda = jgpt.start(tmp, env, null, "train", "-c", config.toString(), "--name", "cuda-no-nvrtc", "--set", "train.device=cuda");
        assertEquals(1, cuda.waitFor(120));
        assertEquals("", cuda.out());
        assertTrue(cuda.err().startsWith("jgpt train: no NVRTC found") && cuda.err().strip().lines().count() == 1, cuda.err());
        assertTrue(Files.notExists(tmp.resolve("runs/cuda-no-nvrtc")));

        String model = Path.of("").toAbsolutePath().resolve(EngineCommandsTest.TINY.resolve("hf")).toString();
        for (String[] args : List.of(new String[]{"generate", "--model", model, "--prompt", "!", "--max-tokens", "4", "--device", "cuda"},
                new String[]{"serve", "--model", model, "--port", "0", "--device", "cuda"})) {
            Launcher.Child c = jgpt.start(tmp, env, null, args);
            assertEquals(1, c.waitFor(120), c.out() + c.err());
            assertEquals("", c.out(), args[0]);
            assertTrue(c.err().startsWith("jgpt " + args[0] + ": no NVRTC found") && c.err().strip().lines().count() == 1, c.err());
        }
    }

    @Test
    void cudaInfoWithoutADriverStillSaysWhereEachLibraryIsOrWasLookedFor() throws Exception {
        String why = dev.jgpt.cuda.Cuda.unavailableReason();
        assumeTrue(why != null && why.startsWith("no CUDA driver found"), "this machine has a CUDA driver");
        // NVRTC alone, as a CUDA toolkit without a driver or a pip package gives it
        Path nvrtcOnly = Files.createDirectories(tmp.resolve("nvrtc-only"));
        try (var libs = Files.list(Path.of("target/fakegpu/lib"))) {
            for (Path lib : libs.filter(f -> f.getFileName().toString().startsWith("libnvrtc")).toList()) {
                Files.copy(lib, nvrtcOnly.resolve(lib.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        Launcher.Child info = jgpt.start(tmp, List.of("env", "JGPT_CUDA_LIBS=" + nvrtcOnly.toAbsolutePath()), null, "cuda", "info");
        assertEquals(1, info.waitFor(60), info.out() + info.err());
        assertTrue(info.out().contains("\nnvrtc:    13.") && info.out().contains("from " + nvrtcOnly.toAbsolutePath().resolve("libnvrtc.so.13")), info.out());
        assertTrue(info.out().contains("\ncublas:   not found: no cuBLAS found (libcublas.so.13")
                && info.out().contains("searched JGPT_CUDA_LIBS=" + nvrtcOnly.toAbsolutePath()), info.out());
        assertTrue(info.out().contains("\ncublaslt: not found: no cuBLASLt found") && info.out().contains("\nkernel cache: "), info.out());
        // the reason there is no GPU is the one error line, and the last
        assertTrue(info.err().startsWith("jgpt cuda info: no CUDA driver found") && info.err().strip().lines().count() == 1, info.err());
    }

    /** A fake GPU made unusable by {@code setting}: a training on auto (which must fall back to the CPU) and generate's one error line with --device cuda. */
    private record NoUsableGpu(List<String> env, Launcher.Child auto, String generateError) {
    }

    private static NoUsableGpu onAFakeGpuWith(String setting) throws Exception {
        List<String> env = new java.util.ArrayList<>(onFakeGpu);
        env.add(setting);
        String name = "auto-with-" + setting.replaceAll("\\W", "-");
        Path config = tmp.resolve(name + ".yaml");
        Files.writeString(config, TrainProcessTest.tinyConfig(data, 2));
        Launcher.Child auto = jgpt.start(tmp, env, null, "train", "-c", config.toString(), "--name", name);
        assertEquals(0, auto.waitFor(120), auto.out() + auto.err());
        String model = Path.of("").toAbsolutePath().resolve(EngineCommandsTest.TINY.resolve("hf")).toString();
        Launcher.Child generate = jgpt.start(tmp, env, null, "generate", "--model", model, "--prompt", "!", "--device", "cuda");
        assertEquals(1, generate.waitFor(120), generate.out() + generate.err());
        assertEquals(1, generate.err().strip().lines().count(), generate.err());
        return new NoUsableGpu(env, auto, generate.err());
    }

    @Test
    void aGpuThisNvrtcCannotCompileForIsNoUsableGpu() throws Exception {
        // CUDA 13's NVRTC compiles for sm_75 and later: on an older GPU every kernel would fail with NVRTC_ERROR_INVALID_OPTION
        NoUsableGpu sm70 = onAFakeGpuWith("FAKE_SM=70");
        assertTrue(sm70.auto().out().contains("device: cpu (train.device auto: no usable GPU: Fake GPU (simulated on the CPU)'s architecture "
                + "sm_70: NVRTC 13."), sm70.auto().out());
        assertTrue(sm70.auto().out().contains("compiles for sm_75, "), sm70.auto().out());
        assertTrue(sm70.generateError().startsWith("jgpt generate: Fake GPU (simulated on the CPU)'s architecture sm_70: NVRTC 13."),
                sm70.generateError());

        Launcher.Child compile = jgpt.start(tmp, onFakeGpu, null, "cuda", "compile", "--arch", "sm_50");
        assertEquals(1, compile.waitFor(120), compile.out() + compile.err());
        assertTrue(compile.err().startsWith("jgpt cuda compile: --arch sm_50: NVRTC 13.") && compile.err().contains("sm_90"), compile.err());
    }

    @Test
    void librariesOfANewerCudaThanTheDriversAreNoUsableGpu() throws Exception {
        // CUDA 13's NVRTC and cuBLAS beside a CUDA 12.4 driver: its cubins would not load and cuBLAS would not start
        NoUsableGpu old = onAFakeGpuWith("FAKE_DRIVER_VERSION=12040");
        assertTrue(old.auto().out().matches("(?s).*device: cpu \\(train.device auto: no usable GPU: NVRTC of CUDA 13 \\([^)]*\\) needs a driver "
                + "of CUDA 13 or later, and the driver \\([^)]*\\) is of CUDA 12.4\\)\n.*"), old.auto().out());
        assertTrue(old.generateError().startsWith("jgpt generate: NVRTC of CUDA 13")
                && old.generateError().contains("pip install nvidia-cuda-nvrtc-cu12"), old.generateError());
        Launcher.Child info = jgpt.start(tmp, old.env(), null, "cuda", "info");
        assertEquals(1, info.waitFor(120), info.out() + info.err());
        assertTrue(info.out().contains("driver 12.4 from ") && info.out().contains("\nnvrtc:  13."), info.out());
        assertTrue(info.err().startsWith("jgpt cuda info: NVRTC of CUDA 13") && info.err().strip().lines().count() == 1, info.err());
    }

    @Test
    void aCachedCubinCutShortIsCompiledAgainAndAnUnwritableCacheIsSaidOnce() throws Exception {
        // a cubin cut short on disk (a full disk, a copied cache) would otherwise fail every run until the cache is deleted
        Path cache = tmp.resolve("cut-cache");
        List<String> env = List.of("env", "JGPT_CUDA_LIBS=" + Path.of("target/fakegpu/lib").toAbsolutePath(), "JGPT_CUDA_CACHE=" + cache);
        String model = Path.of("").toAbsolutePath().resolve(EngineCommandsTest.TINY.resolve("hf")).toString();
        String[] args = {"generate", "--model", model, "--prompt", "!", "--max-tokens", "6", "--temperature", "0", "--device", "cuda"};
        Launcher.Child first = jgpt.start(tmp, env, null, args);
        assertEquals(0, first.waitFor(300), first.out() + first.err());
        List<Path> cubins;
        try (var files = Files.list(cache)) {
            cubins = files.filter(f -> f.getFileName().toString().startsWith("decode-")).toList();
        }
        assertEquals(1, cubins.size(), cubins.toString());
        long size = Files.size(cubins.getFirst());
        Files.write(cubins.getFirst(), new byte[0]);
        Launcher.Child again = jgpt.start(tmp, env, null, args);
        assertEquals(0, again.waitFor(300), again.out() + again.err());
        assertEquals(first.out(), again.out());
        assertEquals(size, Files.size(cubins.getFirst()), "the cached cubin is whole again");

        // a cache that cannot be written: the kernels compile every run, which is said once, naming the folder
        Path notAFolder = Files.writeString(tmp.resolve("not-a-folder"), "");
        List<String> unwritable = List.of("env", "JGPT_CUDA_LIBS=" + Path.of("target/fakegpu/lib").toAbsolutePath(),
                "JGPT_CUDA_CACHE=" + notAFolder.resolve("cache"));
        Launcher.Child uncached = jgpt.start(tmp, unwritable, null, args);
        assertEquals(0, uncached.waitFor(300), uncached.out() + uncached.err());
        assertEquals(first.out(), uncached.out());
        assertEquals(1, uncached.err().lines().filter(l -> l.startsWith("jgpt: kernel cache: " + notAFolder.resolve("cache"))
                && l.endsWith("the kernels are compiled again on every run (set JGPT_CUDA_CACHE to a writable folder)")).count(), uncached.err());
    }

    private static String[] concat(List<String> args, String... more) {
        return java.util.stream.Stream.concat(args.stream(), java.util.Arrays.stream(more)).toArray(String[]::new);
    }

    private static Path cutAt3(Path run, String name) throws Exception {
        Path cut = tmp.resolve("runs").resolve(name);
        copyTree(run, cut);
        deleteTree(TrainingCheckpoint.dirFor(cut.resolve("checkpoints"), 6));
        return cut;
    }

    private static double[] losses(Path run, String type) throws Exception {
        return MetricsSeries.series(Metrics.read(run.resolve(RunDirectory.METRICS_FILE)), type, "loss");
    }
}
