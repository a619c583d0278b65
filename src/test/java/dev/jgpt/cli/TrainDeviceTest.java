package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.config.RunConfig;
import dev.jgpt.config.TrainConfig;
import dev.jgpt.cuda.Cuda;
import dev.jgpt.cuda.CudaException;
import dev.jgpt.dist.DataParallel;
import dev.jgpt.io.TrainingCheckpoint;
import dev.jgpt.model.Engine;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.GptLayout;
import dev.jgpt.tensor.View;
import dev.jgpt.track.Metrics;
import dev.jgpt.track.MetricsSeries;
import dev.jgpt.track.RunDirectory;
import dev.jgpt.train.Optimizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.List;
import java.util.function.IntFunction;

import static dev.jgpt.TestFiles.copyTree;
import static dev.jgpt.io.AtomicFiles.deleteTree;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * train.device: how auto, cpu and cuda are decided without a GPU, and the training loop on an engine
 * whose state lives apart from the host model, as the GPU's does: a run, its checkpoints, samples and
 * resume must be exactly the CPU engine's.
 */
class TrainDeviceTest {
    @TempDir
    static Path tmp;
    static Path data;

    private static final String NO_DRIVER = "no CUDA driver found (libcuda.so.1 or libcuda.so)";
    private static final String NO_DRIVER_WHERE = NO_DRIVER + "; searched the loader path";
    private static final IntFunction<Cuda> NO_GPU = localRank -> {
        throw new CudaException(NO_DRIVER_WHERE);
    };
    private static final IntFunction<Cuda> MUST_NOT_OPEN = localRank -> {
        throw new AssertionError("a GPU was opened");
    };

    @BeforeAll
    static void prepare() throws Exception {
        data = TrainProcessTest.prepareCorpus(tmp);
    }

    @Test
    void autoWithoutAGpuTrainsOnTheCpuAndSaysWhy() {
        TrainDevice d = TrainDevice.of(TrainConfig.Device.AUTO, 0, NO_GPU);
        assertNull(d.cuda());
        assertEquals("cpu (train.device auto: no usable GPU: " + NO_DRIVER + ")", d.description());
        assertEquals("cpu (train.device: cpu)", TrainDevice.of(TrainConfig.Device.CPU, 0, MUST_NOT_OPEN).description());
    }

    @Test
    void cudaWithoutAGpuIsTheDriversOneError() {
        assertEquals(NO_DRIVER_WHERE, assertThrows(CudaException.class, () -> TrainDevice.of(TrainConfig.Device.CUDA, 0, NO_GPU)).getMessage());
    }

    @Test
    void eachRankOfADataParallelRunOpensTheGpuOfItsLocalRank() {
        int[] asked = {-1};
        IntFunction<Cuda> noGpuForThisRank = localRank -> {
            asked[0] = localRank;
            throw new CudaException(NO_DRIVER_WHERE);
        };
        assertEquals("cpu (train.device auto: no usable GPU: " + NO_DRIVER + ")",
                TrainDevice.of(TrainConfig.Device.AUTO, 3, noGpuForThisRank).description());
        assertEquals(3, asked[0]);
        asked[0] = -1;
        assertThrows(CudaException.class, () -> TrainDevice.of(TrainConfig.Device.CUDA, 2, noGpuForThisRank));
        assertEquals(2, asked[0]);
    }

    @Test
    void onTheCpuAMicroBatchWhoseLogitsOverflowOneArrayIsRefusedOnceTheDeviceIsKnown() {
        RunConfig b64 = RunConfig.defaults().withOverrides(List.of("train.micro_batch_size=64")); // auto: allowed until now
        TrainDevice cpu = TrainDevice.of(TrainConfig.Device.AUTO, 0, NO_GPU);
        String msg = assertThrows(JgptException.class, () -> cpu.requireFits(b64, Long.MAX_VALUE)).getMessage();
        assertTrue(msg.startsWith("on the CPU (train.device auto: no usable GPU: " + NO_DRIVER + "), train.micro_batch_size = 64"), msg);
        assertTrue(msg.contains("train.micro_batch_size <= 41") && msg.contains("train.device: cuda"), msg);
    }

    // ---- the loop on an engine apart from the host ----

    /**
     * The CPU engine on a model and optimizer of its own, as the GPU's holds its state on the device:
     * it starts empty (zero weights) and the host's state reaches it only through {@link #fromHost},
     * the host sees its state only through {@link #toHost}.
     */
    static final class DetachedEngine implements Engine {
        private final Gpt host, own;
        private final Optimizer hostOptimizer, ownOptimizer;
        private final Engine engine;

        DetachedEngine(Gpt host, Optimizer hostOptimizer) {
            this.host = host;
            this.hostOptimizer = hostOptimizer;
            own = new Gpt(host.config);
            own.runOn(host.pool());
            ownOptimizer = new Optimizer(own, hostOptimizer.weightDecay, hostOptimizer.beta1, hostOptimizer.beta2, hostOptimizer.eps);
            engine = Engine.cpu(own, ownOptimizer::step);
        }

        public void toHost() {
            copy(own, ownOptimizer, host, hostOptimizer);
        }

        public void fromHost() {
            copy(host, hostOptimizer, own, ownOptimizer);
        }

        private static void copy(Gpt fromModel, Optimizer from, Gpt toModel, Optimizer to) {
            System.arraycopy(fromModel.params(), 0, toModel.params(), 0, fromModel.params().length);
            System.arraycopy(from.m(), 0, to.m(), 0, from.m().length);
            System.arraycopy(from.v(), 0, to.v(), 0, from.v().length);
            to.setSteps(from.steps());
        }

        public GptConfig config() {
            return engine.config();
        }

        public GptLayout layout() {
            return engine.layout();
        }

        public float forward(int[] inputs, int[] targets, int B, int T) {
            return engine.forward(inputs, targets, B, T);
        }

        public float[] logits(int first, int rows) {
            return engine.logits(first, rows);
        }

        public float[] losses(int n) {
            return engine.losses(n);
        }

        public void backward(float lossScale) {
            engine.backward(lossScale);
        }

        public void zeroGrad() {
            engine.zeroGrad();
        }

        public double gradNorm() {
            return engine.gradNorm();
        }

        public double gradNorm(View view) {
            return engine.gradNorm(view);
        }

        public void step(float lr, double maxNorm, double norm) {
            engine.step(lr, maxNorm, norm);
        }

        public void sync() {
        }

        public void reduceGradients(java.util.function.Consumer<float[]> allReduce) {
            engine.reduceGradients(allReduce);
        }
    }

    private static RunConfig config(String name) {
        return RunConfig.parse(TrainProcessTest.tinyConfig(data, 12), "test", List.of("log.runs_dir=" + tmp.resolve("runs"),
                "log.name=" + name, "eval.sample_every=4", "eval.num_samples=1", "eval.sample_max_tokens=16", "eval.sample_prompt=public"));
    }

    private static Path train(RunConfig cfg, TrainDevice device, Path checkpoint, Path resumeDir) throws Exception {
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        try (RunDirectory run = resumeDir == null ? RunDirectory.create(cfg, quiet, LocalDateTime.now()) : RunDirectory.open(resumeDir, quiet)) {
            TrainCommand.trainer(cfg, run, checkpoint, DataParallel.alone(), device).run();
            return run.path();
        }
    }

    @Test
    void anEngineWhoseStateLivesApartTrainsSamplesCheckpointsAndResumesAsTheCpusDoes() throws Exception {
        Path cpu = train(config("cpu"), TrainDevice.of(TrainConfig.Device.CPU, 0, MUST_NOT_OPEN), null, null);
        TrainDevice detached = new TrainDevice(null, "detached (an engine apart from the host)", DetachedEngine::new);
        Path apart = train(config("apart"), detached, null, null);

        for (String kind : List.of("train", "val")) {
            assertArrayEquals(series(cpu, kind), series(apart, kind), kind + " losses");
        }
        assertEquals(Files.readString(cpu.resolve(RunDirectory.SAMPLES_FILE)), Files.readString(apart.resolve(RunDirectory.SAMPLES_FILE)));
        for (String step : List.of("step_000005", "step_000010", "step_000012")) {
            for (String file : List.of(TrainingCheckpoint.MODEL_DIR + "/model.safetensors", TrainingCheckpoint.OPTIMIZER, TrainingCheckpoint.STATE)) {
                assertArrayEquals(Files.readAllBytes(cpu.resolve("checkpoints").resolve(step).resolve(file)),
                        Files.readAllBytes(apart.resolve("checkpoints").resolve(step).resolve(file)), step + "/" + file);
            }
        }
        assertTrue(Files.readString(apart.resolve("console.log")).contains("device: detached (an engine apart from the host)"));
        var sessions = dev.jgpt.track.RunRecord.read(apart).getAsJsonArray("sessions");
        assertEquals("detached (an engine apart from the host)", sessions.get(sessions.size() - 1).getAsJsonObject().get("device").getAsString());

        // resumed from step 5 on the detached engine: the rest of the run is the CPU's, bit for bit
        Path resumed = tmp.resolve("runs/resumed");
        copyTree(apart, resumed);
        deleteTree(resumed.resolve("checkpoints/step_000010"));
        deleteTree(resumed.resolve("checkpoints/step_000012"));
        RunConfig saved;
        try (RunDirectory run = RunDirectory.open(resumed, new PrintStream(new ByteArrayOutputStream()))) {
            saved = run.config();
        }
        train(saved, detached, resumed.resolve("checkpoints/step_000005"), resumed);
        assertArrayEquals(series(cpu, "train"), series(resumed, "train"), "losses after resume");
        // the samples of steps 8 and 12, drawn again after the resume, are each recorded once
        assertEquals(Files.readString(cpu.resolve(RunDirectory.SAMPLES_FILE)), Files.readString(resumed.resolve(RunDirectory.SAMPLES_FILE)));
    }

    private static double[] series(Path run, String kind) throws Exception {
        return MetricsSeries.series(Metrics.read(run.resolve(RunDirectory.METRICS_FILE)), kind, "loss");
    }
}
