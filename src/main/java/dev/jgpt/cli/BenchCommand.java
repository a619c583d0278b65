package dev.jgpt.cli;

import com.google.gson.Gson;
import dev.jgpt.JgptException;
import dev.jgpt.bench.KernelBench;
import dev.jgpt.bench.Measure;
import dev.jgpt.bench.PeakFlops;
import dev.jgpt.cuda.Cuda;
import dev.jgpt.cuda.CudaGpt;
import dev.jgpt.eval.Sampler;
import dev.jgpt.generate.Generator;
import dev.jgpt.model.Decoder;
import dev.jgpt.model.Engine;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.Inference;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.MemoryEstimate;
import dev.jgpt.model.OpProfile;
import dev.jgpt.tensor.Parallel;
import dev.jgpt.train.Optimizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/** Throughput of the engine, measured the same way every time so runs can be compared. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure throughput: training steps, generation, single kernels, the machine's FMA peak, the gradient all-reduce.",
        subcommands = {BenchCommand.Train.class, BenchCommand.Generate.class, BenchCommand.Kernels.class, BenchCommand.Peak.class,
                BenchCommand.AllReduce.class})
public final class BenchCommand implements Runnable {
    @Spec
    CommandSpec spec;

    /** Without a benchmark named there is nothing to measure: a usage error (exit 2, usage on stderr), as for a bad option. */
    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "name a benchmark: train, generate, kernels, peak or allreduce");
    }

    /** What every model benchmark takes: which GPT-2 and how many threads. */
    static final class Machine {
        @Option(names = "--model", defaultValue = "gpt2", description = "preset: gpt2, gpt2-medium, gpt2-large, gpt2-xl (default: ${DEFAULT-VALUE})")
        String model;

        @Option(names = "--threads", defaultValue = "0", description = "threads, 0 = all cores (default: ${DEFAULT-VALUE})")
        int threads;

        /** The threads the benchmark runs on, made by {@link #apply}. */
        Parallel pool;

        /** Makes the pool of the asked-for threads and returns the preset's shape. */
        GptConfig apply() {
            if (threads < 0) throw new JgptException("--threads must be >= 0, got " + threads);
            pool = new Parallel(Parallel.threadsFor(threads, "--threads", System.err::println));
            return GptConfig.preset(model);
        }
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Forward + backward + AdamW on random tokens with a randomly initialized model: "
                    + "median ms/step, tokens/s, achieved GFLOP/s, peak memory.")
    public static final class Train implements Callable<Integer> {
        @Mixin
        Machine machine;

        @Option(names = "--batch", defaultValue = "4", description = "micro-batch size B (default: ${DEFAULT-VALUE})")
        int batch;

        @Option(names = "--seq", defaultValue = "64", description = "sequence length T (default: ${DEFAULT-VALUE})")
        int seq;

        @Option(names = "--steps", defaultValue = "5", description = "timed steps, after the warm-up (default: ${DEFAULT-VALUE})")
        int steps;

        @Option(names = "--warmup", defaultValue = "2", description = "untimed warm-up steps (default: ${DEFAULT-VALUE})")
        int warmup;

        @Option(names = "--json", description = "print one JSON object")
        boolean json;

        @Option(names = "--device", defaultValue = "cpu", description = "cpu, or cuda: the GPU engine, fp32 "
                + "(adds device memory; MFU against the GPU's fp32 peak) (default: ${DEFAULT-VALUE})")
        String device;

        @Option(names = "--profile", description = "then as many steps again with every operation timed (GPU: by events "
                + "on its stream), and where the step's time goes: each operation's ms per step and share")
        boolean profile;

        @Override
        public Integer call() {
            if (batch < 1) throw new JgptException("--batch must be >= 1, got " + batch);
            if (seq < 1) throw new JgptException("--seq must be >= 1, got " + seq);
            if (steps < 1) throw new JgptException("--steps must be >= 1, got " + steps);
            if (warmup < 0) throw new JgptException("--warmup must be >= 0, got " + warmup);
            GptConfig cfg = machine.apply();
            if (seq > cfg.blockSize()) throw new JgptException("--seq " + seq + " exceeds the model's block size " + cfg.blockSize());
            try (Cuda cuda = CudaCommand.openForDevice(device)) {
                // on the CPU the whole step lives in the heap; on the GPU only the host copy of the parameters does
                MemoryEstimate memory = cuda == null ? MemoryEstimate.training(cfg, batch, seq, 0) : null;
                if (memory != null) memory.requireFits(MemoryEstimate.heap(), "--batch");
                Gpt gpt = new Gpt(cfg);
                gpt.runOn(machine.pool);
                gpt.initialize(1337);
                try (CudaGpt gpu = cuda == null ? null : new CudaGpt(cuda, gpt)) {
                    Optimizer adamw = new Optimizer(gpt, 0.1f, 0.9f, 0.95f, 1e-8f);
                    Engine engine = gpu == null ? Engine.cpu(gpt, adamw::step) : gpu.engine(adamw);
                    int[] inputs = new int[batch * seq], targets = new int[batch * seq];
                    Measure.randomTokens(cfg, inputs, targets);
                    double[] ms = new double[steps];
                    float firstLoss = Float.NaN;
                    for (int s = 0; s < warmup + steps; s++) {
                        long t0 = System.nanoTime();
                        float loss = trainingStep(engine, inputs, targets, null);
                        double elapsed = (System.nanoTime() - t0) / 1e6;
                        if (s == 0) firstLoss = loss;
                        if (s >= warmup) ms[s - warmup] = elapsed;
                        if (!json) System.err.printf("step %d: loss %.4f, %.0f ms%s%n", s, loss, elapsed, s < warmup ? " (warm-up)" : "");
                    }
                    double median = Measure.median(ms);
                    OpProfile opProfile = null;
                    double profiledMs = 0;
                    if (profile) {
                        opProfile = new OpProfile(cuda == null ? OpProfile.hostClock() : cuda.streamClock());
                        if (gpu == null) gpt.profile(opProfile);
                        else gpu.profile(opProfile);
                        for (int s = 0; s < steps; s++) {
                            long t0 = System.nanoTime();
                            trainingStep(engine, inputs, targets, opProfile);
                            profiledMs += (System.nanoTime() - t0) / 1e6 / steps;
                            opProfile.collect();
                        }
                    }
                    double peak = cuda == null ? PeakFlops.measure(machine.pool, 0.5) : cuda.fp32PeakFlops();
                    long tokens = (long) batch * seq;
                    double flops = Measure.trainingFlops(cfg, batch, seq);
                    Map<String, Object> r = new LinkedHashMap<>();
                    r.put("model", machine.model);
                    if (cuda != null) r.put("device", cuda.deviceName);
                    if (gpu != null) r.put("matmul", gpu.kernels().matmulPath().id());
                    r.put("batch", batch);
                    r.put("seq", seq);
                    if (cuda == null) r.put("threads", machine.pool.threads());
                    r.put("initial_loss", firstLoss);
                    r.put("ms_per_step", Measure.round(median, 1));
                    r.put("tokens_per_s", Measure.round(tokens / (median / 1000), 1));
                    r.put("gflops_per_s", Measure.round(flops / (median / 1000) / 1e9, 1));
                    r.put("mfu", Double.isNaN(peak) ? null : Measure.round(flops / (median / 1000) / peak, 3));
                    r.put("peak_gflops_per_s", Double.isNaN(peak) ? null : Measure.round(peak / 1e9, 1));
                    r.put("peak_rss_mb", Measure.peakRssMb());
                    if (memory != null) r.put("estimated_mb", memory.total() / 1_000_000);
                    if (cuda != null) {
                        long[] free = cuda.memoryInfo();
                        r.put("device_memory_mb", cuda.allocatedBytes() >> 20);
                        r.put("device_memory_used_mb", (free[1] - free[0]) >> 20);
                    }
                    if (opProfile != null) {
                        Map<String, Object> perStep = new LinkedHashMap<>();
                        double inOps = 0;
                        for (OpProfile.Op op : opProfile.ops()) {
                            perStep.put(op.name(), Measure.round(op.ms() / steps, 2));
                            inOps += op.ms() / steps;
                        }
                        perStep.put("rest", Measure.round(profiledMs - inOps, 2));
                        r.put("profiled_ms_per_step", Measure.round(profiledMs, 1));
                        r.put("profile_ms_per_step", perStep);
                    }
                    if (json) {
                        System.out.println(new Gson().toJson(r));
                    } else {
                        String where = cuda == null ? "threads=" + machine.pool.threads()
                                : "on " + cuda.deviceName + " (matmul: " + gpu.kernels().matmulPath().id() + ")";
                        System.out.printf("%s B=%d T=%d %s: %.1f ms/step, %.1f tokens/s, %.1f GFLOP/s (MFU %.1f%% of %.0f), peak RSS %d MB (initial loss %.4f)%n",
                                machine.model, batch, seq, where, median, tokens / (median / 1000),
                                flops / (median / 1000) / 1e9, 100 * flops / (median / 1000) / peak, peak / 1e9, Measure.peakRssMb(), firstLoss);
                        if (memory != null) System.out.println(memory.describe(MemoryEstimate.heap()));
                        else System.out.printf("device memory: %d MiB allocated by jgpt%n", cuda.allocatedBytes() >> 20);
                        if (opProfile != null) printProfile(opProfile, steps, profiledMs);
                    }
                    return 0;
                }
            }
        }

        /**
         * One training step on random tokens: forward, backward, the gradient norm and AdamW (which clips
         * at 1.0, steps and zeroes the gradient), then waits for the engine. With a profile, the norm and
         * AdamW are timed in it beside the network's operations.
         */
        private float trainingStep(Engine engine, int[] inputs, int[] targets, OpProfile profile) {
            float loss = engine.forward(inputs, targets, batch, seq);
            engine.backward(1f);
            double[] norm = new double[1];
            Runnable gradientNorm = () -> norm[0] = engine.gradNorm(), adamw = () -> engine.step(1e-4f, 1.0, norm[0]);
            if (profile == null) {
                gradientNorm.run();
                adamw.run();
            } else {
                profile.time("gradient norm", gradientNorm);
                profile.time("AdamW", adamw);
            }
            engine.sync();
            return loss;
        }

        /** Each operation's ms per step and share of the profiled step; the rest is the host's. */
        private static void printProfile(OpProfile profile, int steps, double stepMs) {
            System.out.printf("where a step's time goes (%d steps with every operation timed: %.1f ms/step):%n", steps, stepMs);
            System.out.printf("  %-34s %10s %10s %7s%n", "operation", "calls/step", "ms/step", "share");
            double inOps = 0;
            for (OpProfile.Op op : profile.ops()) {
                double ms = op.ms() / steps;
                inOps += ms;
                System.out.printf("  %-34s %10d %10.2f %6.1f%%%n", op.name(), op.calls() / steps, ms, 100 * ms / stepMs);
            }
            System.out.printf("  %-34s %10s %10.2f %6.1f%%%n", "rest (the host)", "", stepMs - inOps,
                    100 * (stepMs - inOps) / stepMs);
        }
    }

    @Command(name = "generate", mixinStandardHelpOptions = true,
            description = "Greedy decoding with the KV cache (or without: --no-cache) on a randomly initialized model: new tokens per second "
                    + "(new tokens / the time of the passes after the prompt's, as tools/bench/torch_bench.py times it) "
                    + "and the prompt's prefill time.")
    public static final class Generate implements Callable<Integer> {
        @Mixin
        Machine machine;

        @Option(names = "--prompt-tokens", defaultValue = "16", description = "prompt length (default: ${DEFAULT-VALUE})")
        int promptTokens;

        @Option(names = "--new-tokens", defaultValue = "64", description = "tokens to generate (default: ${DEFAULT-VALUE})")
        int newTokens;

        @Option(names = "--no-cache", description = "recompute the whole prefix for every new token instead of using the KV cache")
        boolean noCache;

        @Option(names = "--batch", defaultValue = "1", paramLabel = "N",
                description = "sequences decoded together, each with its own random prompt; tokens/s counts all of them (default: ${DEFAULT-VALUE})")
        int batch;

        @Option(names = "--dtype", paramLabel = "bf16|fp32",
                description = "how the weight matrices are stored for decoding (default: bf16; the GPU decodes fp32 only)")
        String dtype;

        @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda",
                description = "cpu, or cuda: the GPU decoder, fp32, the key/value cache in device memory (adds device memory) "
                        + "(default: ${DEFAULT-VALUE})")
        String device;

        @Option(names = "--json", description = "print one JSON object")
        boolean json;

        @Override
        public Integer call() {
            Inference.Precision precision = GenerateCommand.precision(dtype, device);
            if (promptTokens < 1 || newTokens < 1) throw new JgptException("--prompt-tokens and --new-tokens must be >= 1");
            if (batch < 1 || batch > Inference.CHUNK) throw new JgptException("--batch must be in [1, " + Inference.CHUNK + "], got " + batch);
            GptConfig cfg = machine.apply();
            if (promptTokens + newTokens - 1 > cfg.blockSize()) {
                throw new JgptException("--prompt-tokens + --new-tokens exceed the block size " + cfg.blockSize());
            }
            try (Cuda cuda = CudaCommand.openForDevice(device)) {
                Gpt gpt = new Gpt(cfg);
                gpt.runOn(machine.pool);
                gpt.initialize(1337);
                SplittableRandom rng = new SplittableRandom(0);
                int[][] prompts = new int[batch][promptTokens];
                for (int[] prompt : prompts) for (int i = 0; i < promptTokens; i++) prompt[i] = rng.nextInt(cfg.vocabSize());
                long[] times;
                long deviceBytes = 0;
                try (Decoder decoder = GenerateCommand.decoder(gpt, precision, cuda)) {
                    // warm up: the JIT compiles the decode path on the first pass (and NVRTC the GPU's kernels)
                    decode(decoder, prompts, newTokens, !noCache);
                    times = decode(decoder, prompts, newTokens, !noCache);
                    if (cuda != null) deviceBytes = cuda.allocatedBytes();
                }
                double prefillMs = times[0] / 1e6, decodeS = times[1] / 1e9;
                long tokens = (long) batch * newTokens;
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("model", machine.model);
                if (cuda != null) r.put("device", cuda.deviceName);
                else r.put("threads", machine.pool.threads());
                r.put("prompt_tokens", promptTokens);
                r.put("new_tokens", newTokens);
                r.put("batch", batch);
                r.put("cache", !noCache);
                r.put("dtype", precision.toString());
                r.put("prefill_ms", Measure.round(prefillMs, 1));
                r.put("decode_ms", Measure.round(decodeS * 1000, 1));
                r.put("tokens_per_s", Measure.round(tokens / decodeS, 1));
                r.put("peak_rss_mb", Measure.peakRssMb());
                if (cuda != null) r.put("device_memory_mb", deviceBytes >> 20);
                if (json) System.out.println(new Gson().toJson(r));
                else System.out.printf("%s %s%s: %d new tokens%s at %.1f tokens/s (prompt %d tokens, prefill %.1f ms), %s%n",
                        machine.model, precision, noCache ? " without the KV cache" : "", newTokens,
                        batch > 1 ? " in each of " + batch + " sequences decoded together" : "", tokens / decodeS, promptTokens, prefillMs,
                        cuda == null ? machine.pool.threads() + " threads" : "on " + cuda.deviceName);
                return 0;
            }
        }

        /**
         * Greedy, through the generator (a fresh one: no prompt held from the warm-up): returns
         * {prefill ns, decode ns}, the prompts' prefill time summed and the rest of the wall time.
         */
        private static long[] decode(Decoder decoder, int[][] prompts, int newTokens, boolean cache) {
            int V = decoder.config().vocabSize();
            Generator generator = new Generator(decoder, prompts.length, cache);
            // a random model may well pick <|endoftext|>: decode the full count, as torch_bench.py does
            Generator.Limits limits = new Generator.Limits(newTokens, List.of(), false);
            List<Generator.Sequence> sequences = new ArrayList<>();
            for (int[] prompt : prompts) sequences.add(generator.add(prompt, limits, new Sampler(V, 0f, 0, 1f, 0), null));
            long t0 = System.nanoTime();
            generator.run();
            long total = System.nanoTime() - t0, prefill = 0;
            for (Generator.Sequence s : sequences) {
                if (s.finish() == Generator.Finish.ERROR) throw s.error();
                prefill += s.prefillNanos();
            }
            return new long[]{prefill, total - prefill};
        }
    }

    @Command(name = "peak", mixinStandardHelpOptions = true,
            description = "The FMA peak this JVM reaches on this machine (registers only): the MFU denominator.")
    public static final class Peak implements Callable<Integer> {
        @Option(names = "--threads", defaultValue = "0", description = "threads, 0 = all cores (default: ${DEFAULT-VALUE})")
        int threads;

        @Option(names = "--json", description = "print one JSON object")
        boolean json;

        @Override
        public Integer call() {
            if (threads < 0) throw new JgptException("--threads must be >= 0, got " + threads);
            Parallel pool = new Parallel(Parallel.threadsFor(threads, "--threads", System.err::println));
            double peak = PeakFlops.measure(pool, 2.0);
            if (json) System.out.println(new Gson().toJson(Map.of("threads", pool.threads(), "gflops_per_s", Measure.round(peak / 1e9, 1))));
            else System.out.printf("FMA peak: %.1f GFLOP/s on %d threads (%d-lane float vectors)%n", peak / 1e9, pool.threads(),
                    jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length());
            return 0;
        }
    }

    @Command(name = "kernels", mixinStandardHelpOptions = true,
            description = "Time each kernel at a model's shapes, forward and backward: ms per call, calls per step, "
                    + "share of the step, GFLOP/s (matmul, attention) or GB/s (the rest).")
    public static final class Kernels implements Callable<Integer> {
        @Mixin
        Machine machine;

        @Option(names = "--batch", defaultValue = "4", description = "B (default: ${DEFAULT-VALUE})")
        int batch;

        @Option(names = "--seq", defaultValue = "64", description = "T (default: ${DEFAULT-VALUE})")
        int seq;

        @Override
        public Integer call() {
            if (batch < 1 || seq < 1) throw new JgptException("--batch and --seq must be >= 1");
            GptConfig cfg = machine.apply();
            // the kernels would run at any T, but timings at a length the model cannot take describe no real step
            if (seq > cfg.blockSize()) throw new JgptException("--seq " + seq + " exceeds the model's block size " + cfg.blockSize());
            machine.pool.run(() -> KernelBench.run(cfg, batch, seq, System.out));
            return 0;
        }
    }

    @Command(name = "allreduce", mixinStandardHelpOptions = true,
            description = {"Under mpirun: the in-place sum of one model's gradient over all ranks, as data-parallel training does "
                    + "once per step: seconds per all-reduce, algorithm bandwidth (bytes / time) and bus bandwidth "
                    + "(2(n-1)/n x bytes / time, as nccl-tests reports it).",
                    "Example: mpirun -np 2 ./jgpt bench allreduce --model gpt2"})
    public static final class AllReduce implements Callable<Integer> {
        @Option(names = "--model", defaultValue = "gpt2", description = "preset whose gradient is reduced (default: ${DEFAULT-VALUE})")
        String model;

        @Option(names = "--iters", defaultValue = "5", description = "timed all-reduces, after one warm-up (default: ${DEFAULT-VALUE})")
        int iters;

        @Option(names = "--json", description = "print one JSON object (rank 0)")
        boolean json;

        @Override
        public Integer call() {
            if (iters < 1) throw new JgptException("--iters must be >= 1, got " + iters);
            if (!dev.jgpt.dist.Mpi.launched()) {
                throw new JgptException("bench allreduce measures MPI: start it with mpirun, e.g. mpirun -np 2 jgpt bench allreduce");
            }
            long count = GptConfig.preset(model).parameterCount();
            if (count > Integer.MAX_VALUE - 8) throw new JgptException("--model " + model + ": the gradient does not fit one Java array");
            dev.jgpt.dist.Mpi mpi = dev.jgpt.dist.Mpi.world();
            float[] gradient = new float[(int) count];
            Arrays.fill(gradient, 1f / mpi.size());
            double[] seconds = new double[iters];
            for (int i = -1; i < iters; i++) {
                mpi.barrier();
                long t0 = System.nanoTime();
                mpi.allReduceSum(gradient, 0, gradient.length);
                if (i >= 0) seconds[i] = (System.nanoTime() - t0) / 1e9;
            }
            double[] slowest = {Measure.median(seconds)};
            mpi.allReduceMax(slowest); // a step waits for the slowest rank
            double bytes = count * (double) Float.BYTES, n = mpi.size();
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("model", model);
            r.put("ranks", mpi.size());
            r.put("floats", count);
            r.put("mb", Measure.round(bytes / 1e6, 1));
            r.put("seconds", Measure.round(slowest[0], 4));
            r.put("algbw_gb_per_s", Measure.round(bytes / slowest[0] / 1e9, 2));
            r.put("busbw_gb_per_s", Measure.round(2 * (n - 1) / n * bytes / slowest[0] / 1e9, 2));
            if (mpi.rank() == 0) {
                if (json) System.out.println(new Gson().toJson(r));
                else System.out.printf("all-reduce of %s's gradient (%,d floats, %.0f MB) over %d ranks: %.4f s, "
                                + "%.2f GB/s algorithm bandwidth, %.2f GB/s bus bandwidth%n", model, count, bytes / 1e6, mpi.size(),
                        slowest[0], bytes / slowest[0] / 1e9, 2 * (n - 1) / n * bytes / slowest[0] / 1e9);
            }
            mpi.close();
            return 0;
        }
    }
}
