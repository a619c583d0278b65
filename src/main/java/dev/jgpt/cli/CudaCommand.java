package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.cuda.Cuda;
import dev.jgpt.cuda.CudaGpt;
import dev.jgpt.cuda.KernelCache;
import dev.jgpt.cuda.KernelParity;
import dev.jgpt.cuda.KernelSources;
import dev.jgpt.cuda.Nvrtc;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.tokenizer.Gpt2Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/** The GPU engine's own checks: what CUDA sees, kernel compilation, parity with the CPU kernels, a short run (its benchmark is `bench train --device cuda`). */
@Command(name = "cuda", mixinStandardHelpOptions = true,
        description = "Check the CUDA engine: the GPU and libraries found, kernel compilation, parity of every kernel with "
                + "the CPU's, a short training run (the benchmark: jgpt bench train --device cuda). Training through `jgpt train` runs on the CPU.",
        subcommands = {CudaCommand.Info.class, CudaCommand.Compile.class, CudaCommand.Parity.class, CudaCommand.Train.class})
public final class CudaCommand implements Runnable {

    @Override
    public void run() {
        new picocli.CommandLine(this).usage(System.out);
    }

    @Command(name = "info", mixinStandardHelpOptions = true, description = "The GPU, the driver, NVRTC and cuBLAS as found.")
    public static final class Info implements Callable<Integer> {
        @Override
        public Integer call() {
            try (Cuda cuda = Cuda.open()) {
                System.out.println("gpu:    " + cuda.describe());
                Nvrtc nvrtc = cuda.nvrtc();
                int[] v = nvrtc.version();
                System.out.println("nvrtc:  " + v[0] + "." + v[1] + " from " + nvrtc.origin);
                cuda.cublas();
                System.out.println("cublas: loaded");
                long[] mem = cuda.memoryInfo();
                System.out.printf("memory: %d MiB free of %d MiB%n", mem[0] >> 20, mem[1] >> 20);
                System.out.println("kernel cache: " + KernelCache.defaultDir(System.getenv()));
            }
            return 0;
        }
    }

    @Command(name = "compile", mixinStandardHelpOptions = true,
            description = "Compile every kernel with NVRTC (for the GPU, or for --arch without one) and report each file.")
    public static final class Compile implements Callable<Integer> {
        @Option(names = "--arch", description = "target, e.g. sm_90 (default: the GPU's); with it no GPU is needed")
        String arch;

        @Override
        public Integer call() {
            if (arch != null && !arch.matches("sm_\\d+a?")) throw new JgptException("--arch must look like sm_90, got " + arch);
            if (arch != null) {
                compileAll(Nvrtc.load(), arch);
            } else {
                try (Cuda cuda = Cuda.open()) {
                    compileAll(cuda.nvrtc(), cuda.arch());
                    cuda.loadAllKernels(); // and load each cubin into the GPU
                    System.out.println("all modules load on " + cuda.deviceName);
                }
            }
            return 0;
        }

        private static void compileAll(Nvrtc nvrtc, String arch) {
            int[] v = nvrtc.version();
            System.out.println("NVRTC " + v[0] + "." + v[1] + " (" + nvrtc.origin + "), target " + arch);
            int kernels = 0;
            for (String file : KernelSources.FILES) {
                long t0 = System.nanoTime();
                byte[] cubin = nvrtc.compile(KernelSources.source(file), file, arch, KernelSources.OPTIONS);
                List<String> names = KernelSources.kernelNames(file);
                kernels += names.size();
                System.out.printf("  %-14s %2d kernels, %7d bytes, %5.0f ms: %s%n", file, names.size(), cubin.length,
                        (System.nanoTime() - t0) / 1e6, String.join(" ", names));
            }
            System.out.println(kernels + " kernels compiled");
        }
    }

    @Command(name = "parity", mixinStandardHelpOptions = true,
            description = "Run every CUDA kernel and cuBLAS's sgemm on seeded random inputs of odd shapes, and a whole small GPT "
                    + "(loss, logits, gradients, AdamW steps), against the CPU kernels; with --fixtures, debug-step against PyTorch. "
                    + "Prints the largest errors; exit 1 on any failure.")
    public static final class Parity implements Callable<Integer> {
        @Option(names = "--fixtures", paramLabel = "DIR",
                description = "also run debug-step on the GPU against the PyTorch fixtures in DIR (src/test/resources/fixtures)")
        Path fixtures;

        @Override
        public Integer call() throws IOException {
            if (fixtures != null && !Files.isDirectory(fixtures)) throw new JgptException(fixtures + ": no such folder");
            try (Cuda cuda = Cuda.open()) {
                System.out.println(cuda.describe());
                KernelParity parity = new KernelParity(cuda);
                List<KernelParity.Check> checks = new java.util.ArrayList<>(parity.runAll(c -> System.out.println("  " + c)));
                if (fixtures != null) checks.addAll(parity.fixtures(fixtures, c -> System.out.println("  " + c)));
                long failed = checks.stream().filter(c -> !c.passed()).count();
                System.out.println(failed == 0 ? "parity: all " + checks.size() + " checks passed"
                        : "parity: " + failed + " of " + checks.size() + " checks FAILED");
                return failed == 0 ? 0 : 1;
            }
        }
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "A short training run on the GPU: a small GPT (the quick start's shape) learns a text file by "
                    + "AdamW on random windows; prints the loss as it falls and the speed.")
    public static final class Train implements Callable<Integer> {
        @Parameters(arity = "1..*", paramLabel = "FILE", description = "text files to learn")
        List<Path> files;

        @Option(names = "--steps", defaultValue = "300", description = "optimizer steps (default: ${DEFAULT-VALUE})")
        int steps;

        @Option(names = "--batch", defaultValue = "8", description = "B (default: ${DEFAULT-VALUE})")
        int batch;

        @Option(names = "--seq", defaultValue = "128", description = "T (default: ${DEFAULT-VALUE})")
        int seq;

        @Option(names = "--lr", defaultValue = "2e-3", description = "learning rate, after 20 warm-up steps (default: ${DEFAULT-VALUE})")
        float lr;

        @Override
        public Integer call() throws IOException {
            if (steps < 20) throw new JgptException("--steps must be >= 20, got " + steps);
            if (batch < 1 || seq < 2) throw new JgptException("--batch must be >= 1 and --seq >= 2");
            StringBuilder text = new StringBuilder();
            for (Path f : files) {
                if (!Files.isRegularFile(f)) throw new JgptException(f + ": no such file");
                text.append(Files.readString(f)).append('\n');
            }
            int[] tokens = Gpt2Tokenizer.get().encode(text.toString());
            if (tokens.length < seq + 2) throw new JgptException("the text files hold " + tokens.length + " tokens; need more than --seq " + seq);
            GptConfig cfg = GptConfig.of(4, 4, 128, Math.max(128, seq), Gpt2Tokenizer.VOCAB_SIZE);
            Gpt host = new Gpt(cfg);
            host.initialize(1337);
            SplittableRandom rng = new SplittableRandom(0);
            int[] inputs = new int[batch * seq], targets = new int[batch * seq];
            try (Cuda cuda = Cuda.open(); CudaGpt gpt = new CudaGpt(cuda, host)) {
                System.out.printf("%s: %d tokens of text, model %d layers x %d channels, B=%d T=%d%n", cuda.deviceName,
                        tokens.length, cfg.nLayer(), cfg.nEmbd(), batch, seq);
                double firstLosses = 0, lastLosses = 0, ms = 0;
                int window = 10;
                for (int s = 0; s < steps; s++) {
                    for (int b = 0; b < batch; b++) {
                        int start = rng.nextInt(tokens.length - seq - 1);
                        System.arraycopy(tokens, start, inputs, b * seq, seq);
                        System.arraycopy(tokens, start + 1, targets, b * seq, seq);
                    }
                    long t0 = System.nanoTime();
                    float loss = gpt.forward(inputs, targets, batch, seq);
                    gpt.backward(1f);
                    float stepLr = s < 20 ? lr * (s + 1) / 20 : lr;
                    double norm = gpt.step(stepLr, 1.0, 0.1f, 0.9f, 0.95f, 1e-8f);
                    cuda.sync();
                    double elapsed = (System.nanoTime() - t0) / 1e6;
                    if (s >= 5) ms += elapsed;
                    if (s < window) firstLosses += loss;
                    if (s >= steps - window) lastLosses += loss;
                    if (s % 25 == 0 || s == steps - 1) {
                        System.out.printf("step %4d | loss %.4f | norm %.4f | %.1f ms%n", s, loss, norm, elapsed);
                    }
                    if (!Float.isFinite(loss)) throw new JgptException("loss is " + loss + " at step " + s);
                }
                firstLosses /= window;
                lastLosses /= window;
                boolean falls = lastLosses < firstLosses - 1.0;
                System.out.printf("train: mean loss of the first %d steps %.4f, of the last %d %.4f: %s; %.1f ms/step, %.0f tokens/s%n",
                        window, firstLosses, window, lastLosses, falls ? "falls" : "DOES NOT FALL",
                        ms / (steps - 5), (double) batch * seq * (steps - 5) / (ms / 1000));
                return falls ? 0 : 1;
            }
        }
    }

    /** For --device on other commands: the GPU, or one clear error saying why there is none. */
    static Cuda openForDevice(String device) {
        if (!device.equals("cpu") && !device.equals("cuda")) throw new JgptException("--device must be cpu or cuda, got " + device);
        return device.equals("cuda") ? Cuda.open() : null;
    }
}
