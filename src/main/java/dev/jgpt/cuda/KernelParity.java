package dev.jgpt.cuda;

import dev.jgpt.kernels.AdamW;
import dev.jgpt.kernels.Attention;
import dev.jgpt.kernels.CrossEntropy;
import dev.jgpt.kernels.Encoder;
import dev.jgpt.kernels.Gelu;
import dev.jgpt.kernels.LayerNorm;
import dev.jgpt.kernels.Matmul;
import dev.jgpt.kernels.Residual;
import dev.jgpt.model.Decoder;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.Inference;
import dev.jgpt.tensor.Slice;
import dev.jgpt.tensor.View;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import dev.jgpt.bench.DebugStep;
import dev.jgpt.io.ModelFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Every CUDA kernel (and the matmuls on both paths, cuBLAS and cuBLASLt) against its CPU twin in
 * dev.jgpt.kernels, on seeded random inputs of odd shapes (no dimension a multiple of a vector, a warp
 * or a tile), then a whole small GPT, its matmuls on the path JGPT_MATMUL selects: forward, backward
 * and AdamW steps. Gradients start from random values, so "+=" is checked too.
 *
 * <p>A result passes when max |gpu − cpu| ≤ tol × max |cpu|. Both sides compute in float32 and differ
 * only in summation order and in exp/tanh/sqrt's last bits, so the tolerances are the CPU parity
 * tests' own: 1e-5 (ParityTest's bound on logits and losses) for forward ops and the optimizer, 1e-4
 * (its bound on gradient norms) for gradients, whose sums are longer.
 *
 * <p>Then the decoder: {@link CudaDecoder} against the CPU's {@link Inference} (fp32) on a small random
 * GPT, every logits vector of prompts and steps within 1e-4 of its largest |logit|, a bound that leaves
 * room for the differences that whole passes through the blocks add up (the whole model's logits above
 * meet 1e-5), and the same greedy tokens.
 */
public final class KernelParity {
    static final double FORWARD_TOL = 1e-5, BACKWARD_TOL = 1e-4, DECODER_TOL = 1e-4;

    /** One compared output. */
    public record Check(String name, double maxError, double scale, double tolerance) {
        public boolean passed() {
            return maxError <= tolerance * scale; // NaN fails
        }

        @Override
        public String toString() {
            return String.format("%-40s max |gpu-cpu| %.3e of max |cpu| %.3e  (tol %.0e)  %s", name, maxError, scale, tolerance,
                    passed() ? "ok" : "FAIL");
        }
    }

    private final Cuda cuda;
    private final CudaKernels k;
    private final SplittableRandom rng = new SplittableRandom(1337);
    private final List<Check> checks = new ArrayList<>();
    private final List<DeviceBuffer> temporaries = new ArrayList<>();

    public KernelParity(Cuda cuda) {
        this.cuda = cuda;
        this.k = new CudaKernels(cuda);
    }

    /** Runs every check, reporting each as it completes; returns them all. */
    public List<Check> runAll(Consumer<Check> report) {
        int before = 0;
        Runnable[] groups = {this::encoder, this::layernorm, this::matmul, () -> attention(3, 37, 60, 4), () -> attention(2, 70, 144, 2),
                () -> attention(2, 150, 128, 2), () -> attention(1, 64, 64, 1), // head size 64: the tiled kernels
                this::gelu, this::residual, this::classifier, this::adamw, this::sumOfSquares, this::model,
                () -> decode(60, 4), () -> decode(144, 2), this::decoder};
        for (Runnable group : groups) {
            group.run();
            for (DeviceBuffer b : temporaries) cuda.free(b);
            temporaries.clear();
            for (; before < checks.size(); before++) report.accept(checks.get(before));
        }
        return checks;
    }

    /**
     * debug-step on the GPU against each PyTorch fixture under {@code fixtures} (tools/reference: a
     * folder per model with hf/, batch.json and expected.json), with ParityTest's tolerances: loss,
     * logits and the 10 AdamW-step losses 1e-5 relative, gradient norms 1e-4.
     */
    public List<Check> fixtures(Path fixtures, Consumer<Check> report) throws IOException {
        List<Check> out = new ArrayList<>();
        List<Path> dirs;
        try (var s = Files.list(fixtures)) {
            dirs = s.filter(d -> Files.isRegularFile(d.resolve("expected.json"))).sorted().toList();
        }
        if (dirs.isEmpty()) throw new dev.jgpt.JgptException(fixtures + ": no fixture folders (with expected.json) in it");
        for (Path dir : dirs) {
            String name = dir.getFileName().toString();
            JsonObject expected = new Gson().fromJson(Files.readString(dir.resolve("expected.json")), JsonObject.class);
            Gpt host = ModelFiles.load(dir.resolve("hf"));
            DebugStep.Result r;
            try (CudaGpt gpu = new CudaGpt(cuda, host)) {
                DebugStep.Settings s = DebugStep.Settings.defaults();
                r = DebugStep.run(gpu.engine(s.optimizer(host)), DebugStep.Batch.read(dir.resolve("batch.json")), s);
            }
            List<Check> these = new ArrayList<>();
            double loss = expected.get("loss").getAsDouble();
            these.add(new Check(name + " loss", Math.abs(loss - r.loss()), Math.abs(loss), FORWARD_TOL));
            double[][] logits = new Gson().fromJson(expected.get("logits_row0"), double[][].class);
            double err = 0, scale = 0;
            for (int t = 0; t < logits.length; t++) {
                for (int v = 0; v < logits[t].length; v++) {
                    scale = Math.max(scale, Math.abs(logits[t][v]));
                    err = Math.max(err, Math.abs(logits[t][v] - r.logitsRow0()[t][v]));
                }
            }
            these.add(new Check(name + " logits row 0", err, scale, FORWARD_TOL));
            JsonObject norms = expected.getAsJsonObject("grad_norms");
            String worst = null;
            double worstRel = -1, worstErr = 0, worstScale = 1;
            for (String tensor : norms.keySet()) {
                double e = norms.get(tensor).getAsDouble(), g = r.gradNorms().getOrDefault(tensor, Double.NaN);
                double rel = Math.abs(e - g) / Math.max(Math.abs(e), 1e-12);
                if (!(rel <= worstRel)) {
                    worst = tensor;
                    worstRel = rel;
                    worstErr = Math.abs(e - g);
                    worstScale = Math.max(Math.abs(e), 1e-12);
                }
            }
            these.add(new Check(name + " grad norms (worst: " + worst + ")", worstErr, worstScale, BACKWARD_TOL));
            double norm = expected.get("grad_norm").getAsDouble();
            these.add(new Check(name + " grad norm", Math.abs(norm - r.gradNorm()), Math.abs(norm), BACKWARD_TOL));
            double[] losses = new Gson().fromJson(expected.get("losses"), double[].class);
            int worstStep = 0;
            double worstStepRel = -1;
            for (int i = 0; i < losses.length; i++) {
                double rel = Math.abs(losses[i] - r.losses()[i]) / Math.abs(losses[i]);
                if (!(rel <= worstStepRel)) {
                    worstStepRel = rel;
                    worstStep = i;
                }
            }
            these.add(new Check(name + " losses of " + losses.length + " AdamW steps (worst: " + worstStep + ")",
                    Math.abs(losses[worstStep] - r.losses()[worstStep]), Math.abs(losses[worstStep]), FORWARD_TOL));
            for (Check c : these) report.accept(c);
            out.addAll(these);
        }
        return out;
    }

    // ---- helpers ----

    private float[] random(int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rng.nextGaussian() * scale);
        return a;
    }

    private DeviceBuffer dev(float[] host) {
        DeviceBuffer b = cuda.floats(host.length);
        temporaries.add(b);
        cuda.upload(b, host);
        return b;
    }

    private DeviceBuffer dev(int[] host) {
        DeviceBuffer b = cuda.ints(host.length);
        temporaries.add(b);
        cuda.upload(b, host);
        return b;
    }

    /** host's values {@code offset} floats into a device buffer of their own; the address of the first. */
    private long dev(float[] host, int offset) {
        DeviceBuffer b = cuda.floats(host.length + offset);
        temporaries.add(b);
        cuda.upload(b.at(offset), host, 0, host.length);
        return b.at(offset);
    }

    private float[] host(long address, int count) {
        float[] out = new float[count];
        cuda.download(out, 0, address, count);
        return out;
    }

    private DeviceBuffer dev(long[] host) {
        DeviceBuffer b = cuda.longs(host.length);
        temporaries.add(b);
        cuda.upload(b, host);
        return b;
    }

    private float[] host(DeviceBuffer b) {
        float[] out = new float[(int) b.count];
        cuda.download(out, b);
        return out;
    }

    private void compare(String name, float[] cpu, float[] gpu, double tol) {
        double err = 0, scale = 0;
        for (int i = 0; i < cpu.length; i++) {
            scale = Math.max(scale, Math.abs(cpu[i]));
            double d = Math.abs((double) cpu[i] - gpu[i]);
            err = Double.isNaN(d) ? Double.NaN : Math.max(err, d);
            if (Double.isNaN(err)) break;
        }
        checks.add(new Check(name, err, Math.max(scale, 1e-30), tol));
    }

    private void compare(String name, float[] cpu, DeviceBuffer gpu, double tol) {
        compare(name, cpu, host(gpu), tol);
    }

    // ---- the ops ----

    private void encoder() {
        int B = 3, T = 37, C = 75, V = 13; // a small vocabulary, so tokens repeat within the batch
        int[] tokens = new int[B * T];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(V);
        float[] wte = random(V * C, 1), wpe = random(T * C, 1), out = new float[B * T * C];
        DeviceBuffer dWte = dev(wte), dWpe = dev(wpe), dTokens = dev(tokens), dOut = dev(out);
        Encoder.forward(Slice.of(out), tokens, Slice.of(wte), Slice.of(wpe), B, T, C);
        k.encoderForward(dOut.address, dTokens.address, dWte.address, dWpe.address, B, T, C);
        compare("encoder_forward", out, dOut, FORWARD_TOL);

        float[] dout = random(B * T * C, 1), dwte = random(V * C, 1), dwpe = random(T * C, 1);
        DeviceBuffer gOut = dev(dout), gWte = dev(dwte), gWpe = dev(dwpe);
        Encoder.backward(Slice.of(dwte), Slice.of(dwpe), Slice.of(dout), tokens, B, T, C);
        k.encoderBackward(gWte.address, gWpe.address, gOut.address, tokens, B, T, C);
        compare("encoder_backward dwte", dwte, gWte, BACKWARD_TOL);
        compare("encoder_backward dwpe", dwpe, gWpe, BACKWARD_TOL);
    }

    private void layernorm() {
        int N = 211, C = 75; // N spans several partial-sum chunks
        float[] inp = random(N * C, 2), w = random(C, 1), b = random(C, 1);
        for (int i = 0; i < inp.length; i++) inp[i] += 0.5f; // a mean away from 0
        float[] out = new float[N * C], mean = new float[N], rstd = new float[N];
        DeviceBuffer dInp = dev(inp), dW = dev(w), dB = dev(b), dOut = dev(out), dMean = dev(mean), dRstd = dev(rstd);
        LayerNorm.forward(Slice.of(out), Slice.of(mean), Slice.of(rstd), Slice.of(inp), Slice.of(w), Slice.of(b), N, C);
        k.layernormForward(dOut.address, dMean.address, dRstd.address, dInp.address, dW.address, dB.address, N, C);
        compare("layernorm_forward out", out, dOut, FORWARD_TOL);
        compare("layernorm_forward mean", mean, dMean, FORWARD_TOL);
        compare("layernorm_forward rstd", rstd, dRstd, FORWARD_TOL);

        float[] dout = random(N * C, 1), dinp = random(N * C, 1), dw = random(C, 1), db = random(C, 1);
        DeviceBuffer gOut = dev(dout), gInp = dev(dinp), gW = dev(dw), gB = dev(db);
        LayerNorm.backward(Slice.of(dinp), Slice.of(dw), Slice.of(db), Slice.of(dout), Slice.of(inp), Slice.of(w), Slice.of(mean), Slice.of(rstd), N, C);
        k.layernormBackward(gInp.address, gW.address, gB.address, gOut.address, dInp.address, dW.address, dMean.address,
                dRstd.address, N, C);
        compare("layernorm_backward dinp", dinp, gInp, BACKWARD_TOL);
        compare("layernorm_backward dweight", dw, gW, BACKWARD_TOL);
        compare("layernorm_backward dbias", db, gB, BACKWARD_TOL);
    }

    /**
     * Both matmul paths; each twice: on fresh buffers (aligned, so cuBLASLt fuses the bias and its
     * gradient) and on addresses one float into their buffers (aligned to 4 bytes only: cuBLASLt
     * must pick algorithms for that, and adds the bias as cuBLAS does).
     */
    private void matmul() {
        for (MatmulPath path : MatmulPath.values()) {
            CudaKernels kernels = new CudaKernels(cuda, path);
            matmul(kernels, path.id(), 0);
            matmul(kernels, path.id() + ", +4 B", 1);
            kernels.free();
        }
    }

    private void matmul(CudaKernels kernels, String label, int offset) {
        int rows = 111, C = 75, OC = 67;
        String on = " (" + label + ")";
        float[] inp = random(rows * C, 1), w = random(OC * C, 0.3), bias = random(OC, 0.3);
        float[] out = new float[rows * OC], outNoBias = new float[rows * OC];
        long dInp = dev(inp, offset), dW = dev(w, offset), dBias = dev(bias, offset);
        long dOut = dev(out, offset), dOut2 = dev(outNoBias, offset);
        Matmul.forward(Slice.of(out), Slice.of(inp), Slice.of(w), Slice.of(bias), rows, C, OC);
        Matmul.forward(Slice.of(outNoBias), Slice.of(inp), Slice.of(w), null, rows, C, OC);
        kernels.matmulForward(dOut, dInp, dW, dBias, rows, C, OC);
        kernels.matmulForward(dOut2, dInp, dW, 0L, rows, C, OC);
        compare("matmul forward + bias" + on, out, host(dOut, out.length), FORWARD_TOL);
        compare("matmul forward, no bias" + on, outNoBias, host(dOut2, outNoBias.length), FORWARD_TOL);

        float[] dout = random(rows * OC, 1), dinp = random(rows * C, 1), dw = random(OC * C, 1), db = random(OC, 1);
        long gOut = dev(dout, offset), gInp = dev(dinp, offset), gW = dev(dw, offset), gB = dev(db, offset);
        Matmul.backward(Slice.of(dinp), Slice.of(dw), Slice.of(db), Slice.of(dout), Slice.of(inp), Slice.of(w), rows, C, OC);
        kernels.matmulBackward(gInp, gW, gB, gOut, dInp, dW, rows, C, OC);
        compare("matmul backward dinp" + on, dinp, host(gInp, dinp.length), BACKWARD_TOL);
        compare("matmul backward dweight" + on, dw, host(gW, dw.length), BACKWARD_TOL);
        compare("matmul backward dbias" + on, db, host(gB, db.length), BACKWARD_TOL);
    }

    private void attention(int B, int T, int C, int NH) {
        String shape = " (B" + B + " T" + T + " hs" + C / NH + ")";
        float[] qkv = random(B * T * 3 * C, 1), out = new float[B * T * C], lse = new float[B * NH * T];
        DeviceBuffer dQkv = dev(qkv), dOut = dev(out), dLse = dev(lse);
        Attention.forward(Slice.of(out), Slice.of(lse), Slice.of(qkv), B, T, C, NH);
        k.attentionForward(dOut.address, dLse.address, dQkv.address, B, T, C, NH);
        compare("attention_forward out" + shape, out, dOut, FORWARD_TOL);
        compare("attention_forward lse" + shape, lse, dLse, FORWARD_TOL);

        float[] dout = random(B * T * C, 1), dqkv = random(B * T * 3 * C, 1);
        DeviceBuffer gOut = dev(dout), gQkv = dev(dqkv);
        Attention.backward(Slice.of(dqkv), Slice.of(dout), Slice.of(qkv), Slice.of(out), Slice.of(lse), B, T, C, NH);
        k.attentionBackward(gQkv.address, gOut.address, dQkv.address, dOut.address, dLse.address, B, T, C, NH);
        compare("attention_backward dqkv" + shape, dqkv, gQkv, BACKWARD_TOL);
    }

    private void gelu() {
        int n = 4 * 3 * 37 * 25 + 3;
        float[] inp = random(n, 2), out = new float[n];
        DeviceBuffer dInp = dev(inp), dOut = dev(out);
        Gelu.forward(Slice.of(out), Slice.of(inp), n);
        k.geluForward(dOut.address, dInp.address, n);
        compare("gelu_forward", out, dOut, FORWARD_TOL);
        float[] dout = random(n, 1), dinp = random(n, 1);
        DeviceBuffer gOut = dev(dout), gInp = dev(dinp);
        Gelu.backward(Slice.of(dinp), Slice.of(inp), Slice.of(dout), n);
        k.geluBackward(gInp.address, dInp.address, gOut.address, n);
        compare("gelu_backward", dinp, gInp, BACKWARD_TOL);
    }

    private void residual() {
        int n = 3 * 37 * 75;
        float[] a = random(n, 1), b = random(n, 1), out = new float[n];
        DeviceBuffer dA = dev(a), dB = dev(b), dOut = dev(out);
        Residual.forward(Slice.of(out), Slice.of(a), Slice.of(b), n);
        k.residualForward(dOut.address, dA.address, dB.address, n);
        compare("residual_forward", out, dOut, FORWARD_TOL);
        Residual.accumulate(Slice.of(a), Slice.of(b), n);
        k.accumulate(dA.address, dB.address, n);
        compare("accumulate", a, dA, FORWARD_TOL);
    }

    private void classifier() {
        int rows = 3 * 37, V = 1001, Vp = 1024; // padded columns, and some rows without a target
        float[] logits = random(rows * Vp, 3);
        int[] targets = new int[rows];
        for (int r = 0; r < rows; r++) targets[r] = r % 7 == 3 ? -1 : rng.nextInt(V);
        DeviceBuffer dLogits = dev(logits), dTargets = dev(targets), dLosses = dev(new float[rows]);
        float[] losses = new float[rows], rowMax = new float[rows];
        double[] rowSum = new double[rows];
        CrossEntropy.forward(losses, rowMax, rowSum, logits, targets, rows, V, Vp);
        k.crossEntropyForward(dLosses.address, dLogits.address, dTargets.address, rows, V, Vp);
        compare("crossentropy_forward losses", losses, dLosses, FORWARD_TOL);

        float dloss = 1f / 97;
        DeviceBuffer fusedLosses = dev(new float[rows]);
        CrossEntropy.backwardInPlace(logits, rowMax, rowSum, targets, dloss, rows, V, Vp);
        k.classifierFused(dLogits.address, fusedLosses.address, dTargets.address, dloss, rows, V, Vp);
        compare("classifier_fused losses", losses, fusedLosses, FORWARD_TOL);
        compare("classifier_fused dlogits", logits, dLogits, BACKWARD_TOL);
    }

    private void adamw() {
        int n = 10_007;
        float[] params = random(n, 1), grads = random(n, 0.1), m = random(n, 0.01), v = random(n, 0.001);
        for (int i = 0; i < n; i++) v[i] = Math.abs(v[i]);
        DeviceBuffer dP = dev(params), dG = dev(grads), dM = dev(m), dV = dev(v);
        AdamW.update(params, grads, m, v, 13, n - 5, 0.7f, 3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 3);
        k.adamw(dP, dG, dM, dV, 13, n - 5, 0.7f, 3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 3);
        compare("adamw_update params", params, dP, FORWARD_TOL);
        compare("adamw_update m", m, dM, FORWARD_TOL);
        compare("adamw_update v", v, dV, FORWARD_TOL);
        compare("adamw_update grads (zeroed)", grads, dG, FORWARD_TOL);
    }

    private void sumOfSquares() {
        int n = 1_000_003;
        float[] x = random(n, 0.5);
        DeviceBuffer dX = dev(x);
        double cpu = AdamW.sumOfSquares(x, 0, n), gpu = k.sumOfSquares(dX.address, n);
        checks.add(new Check("sum_squares_partial (grad norm)", Math.abs(cpu - gpu), Math.abs(cpu), FORWARD_TOL));
    }

    /** A small GPT of odd shape, the whole step: loss, logits, every gradient, parameters after AdamW. */
    private void model() {
        GptConfig cfg = new GptConfig(2, 3, 45, 40, 301, 384);
        int B = 3, T = 29;
        Gpt cpu = new Gpt(cfg);
        cpu.initialize(7);
        CudaGpt gpu = new CudaGpt(cuda, cpu);
        int[] inputs = new int[B * T], targets = new int[B * T];
        for (int i = 0; i < inputs.length; i++) {
            inputs[i] = rng.nextInt(cfg.vocabSize());
            targets[i] = i % 11 == 5 ? -1 : rng.nextInt(cfg.vocabSize());
        }
        float cpuLoss = cpu.forward(inputs, targets, B, T), gpuLoss = gpu.forward(inputs, targets, B, T);
        checks.add(new Check("model loss", Math.abs(cpuLoss - gpuLoss), Math.abs(cpuLoss), FORWARD_TOL));
        float[] cpuLogits = java.util.Arrays.copyOf(cpu.logits(), B * T * cfg.paddedVocabSize());
        compare("model logits", cpuLogits, gpu.logits(0, B * T), FORWARD_TOL);

        cpu.zeroGrad();
        cpu.backward(1f);
        gpu.zeroGrad();
        gpu.backward(1f);
        float[] gpuGrads = new float[cpu.grads().length];
        gpu.downloadGrads(gpuGrads);
        double worst = -1;
        View worstView = null;
        for (View v : cpu.layout.layout.views()) {
            float[] c = java.util.Arrays.copyOfRange(cpu.grads(), v.start(), v.end());
            float[] g = java.util.Arrays.copyOfRange(gpuGrads, v.start(), v.end());
            double err = 0, scale = 1e-30;
            for (int i = 0; i < c.length; i++) {
                err = Math.max(err, Math.abs(c[i] - g[i]));
                scale = Math.max(scale, Math.abs(c[i]));
            }
            if (!(err / scale <= worst)) {
                worst = err / scale;
                worstView = v;
            }
        }
        float[] c = java.util.Arrays.copyOfRange(cpu.grads(), worstView.start(), worstView.end());
        float[] g = java.util.Arrays.copyOfRange(gpuGrads, worstView.start(), worstView.end());
        compare("model gradients (worst: " + worstView.name() + ")", c, g, BACKWARD_TOL);

        // After AdamW the parameters are compared through the loss, as debug-step does: Adam divides
        // each gradient by its own size, so rounding noise in a gradient that is 0 in exact arithmetic
        // (the key bias's) moves that parameter by ±lr on either engine, differently, harmlessly.
        dev.jgpt.train.Optimizer opt = new dev.jgpt.train.Optimizer(cpu, 0.1f, 0.9f, 0.95f, 1e-8f);
        for (int step = 1; step <= 3; step++) {
            opt.step(1e-3f, 1.0);
            gpu.step(1e-3f, 1.0, gpu.gradNorm(), opt);
            float cpuAfter = cpu.forward(inputs, targets, B, T), gpuAfter = gpu.forward(inputs, targets, B, T);
            checks.add(new Check("model loss after AdamW step " + step, Math.abs(cpuAfter - gpuAfter), Math.abs(cpuAfter), FORWARD_TOL));
            cpu.backward(1f);
            gpu.backward(1f);
        }
        gpu.close();
    }

    /**
     * decode.cu's kernels against plain loops: three sequences' caches (random, so positions no row
     * writes must stay as they were, and earlier positions stand for earlier tokens), first a step
     * (a row per sequence, positions 0, 7 and the last), then a prompt chunk (six consecutive
     * positions of one sequence, each row seeing the rows before it).
     */
    private void decode(int C, int NH) {
        int L = 2, layer = 1, maxT = 23, V = 13, hs = C / NH;
        String shape = " (hs" + hs + ")";
        int cacheSize = 2 * L * maxT * C;
        float[][] caches = {random(cacheSize, 1), random(cacheSize, 1), random(cacheSize, 1)};
        DeviceBuffer[] dCaches = {dev(caches[0]), dev(caches[1]), dev(caches[2])};
        float[] wte = random(V * C, 1), wpe = random(maxT * C, 1);
        DeviceBuffer dWte = dev(wte), dWpe = dev(wpe);
        int[][] rowSequences = {{0, 1, 2}, {1, 1, 1, 1, 1, 1}};
        int[][] rowPositions = {{0, 7, maxT - 1}, {8, 9, 10, 11, 12, 13}};
        String[] passes = {" step", " chunk"};
        for (int pass = 0; pass < 2; pass++) {
            int[] seq = rowSequences[pass], positions = rowPositions[pass];
            int n = seq.length;
            int[] tokens = new int[n];
            long[] addresses = new long[n];
            for (int r = 0; r < n; r++) {
                tokens[r] = rng.nextInt(V);
                addresses[r] = dCaches[seq[r]].address;
            }
            DeviceBuffer dTokens = dev(tokens), dPositions = dev(positions), dAddresses = dev(addresses);

            float[] embedded = new float[n * C];
            for (int r = 0; r < n; r++) {
                for (int c = 0; c < C; c++) embedded[r * C + c] = wte[tokens[r] * C + c] + wpe[positions[r] * C + c];
            }
            DeviceBuffer dEmbedded = dev(new float[n * C]);
            k.decodeEmbed(dEmbedded.address, dTokens.address, dPositions.address, dWte.address, dWpe.address, n, C);
            compare("decode_embed" + passes[pass], embedded, dEmbedded, FORWARD_TOL);

            float[] qkv = random(n * 3 * C, 1);
            DeviceBuffer dQkv = dev(qkv);
            for (int r = 0; r < n; r++) {
                for (int c = 0; c < C; c++) {
                    int at = ((layer * NH + c / hs) * maxT + positions[r]) * hs + c % hs;
                    caches[seq[r]][at] = qkv[r * 3 * C + C + c];
                    caches[seq[r]][L * maxT * C + at] = qkv[r * 3 * C + 2 * C + c];
                }
            }
            k.kvStore(dAddresses.address, dPositions.address, dQkv.address, n, L, layer, C, NH, maxT);
            for (int i = 0; i < 3; i++) compare("kv_store" + passes[pass] + " cache " + i + shape, caches[i], dCaches[i], FORWARD_TOL);

            float[] out = new float[n * C];
            for (int r = 0; r < n; r++) {
                float[] cache = caches[seq[r]];
                for (int h = 0; h < NH; h++) {
                    int keys = (layer * NH + h) * maxT * hs, values = L * maxT * C + keys;
                    double[] p = new double[positions[r] + 1];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < p.length; j++) {
                        double dot = 0;
                        for (int d = 0; d < hs; d++) dot += (double) qkv[r * 3 * C + h * hs + d] * cache[keys + j * hs + d];
                        p[j] = dot / Math.sqrt(hs);
                        max = Math.max(max, p[j]);
                    }
                    for (int j = 0; j < p.length; j++) {
                        p[j] = Math.exp(p[j] - max);
                        sum += p[j];
                    }
                    for (int d = 0; d < hs; d++) {
                        double acc = 0;
                        for (int j = 0; j < p.length; j++) acc += p[j] * cache[values + j * hs + d];
                        out[r * C + h * hs + d] = (float) (acc / sum);
                    }
                }
            }
            DeviceBuffer dOut = dev(new float[n * C]);
            k.decodeAttention(dOut.address, dQkv.address, dAddresses.address, dPositions.address, n, L, layer, C, NH, maxT);
            compare("decode_attention" + passes[pass] + shape, out, dOut, FORWARD_TOL);
        }
    }

    /**
     * The GPU decoder against the CPU's, fp32, on a random GPT of 2 layers, 4 heads, 64 channels and
     * block 96: three prompts (70 tokens: two chunks; 5; 1), eight steps of all three together at their
     * different positions (each fed the CPU's greedy token), then one sequence restored to its prompt
     * and stepped on another token, and one rewound and prefilled again (cache positions written a
     * second time). Every logits vector is compared, padded columns included (-inf on both).
     */
    private void decoder() {
        GptConfig cfg = new GptConfig(2, 4, 64, 96, 301, 384);
        Gpt model = new Gpt(cfg);
        model.initialize(5);
        int V = cfg.vocabSize();
        Inference cpu = new Inference(model);
        Worst prefills = new Worst(), steps = new Worst();
        int mismatches = 0, tokensCompared = 0;
        try (CudaDecoder gpu = new CudaDecoder(cuda, model)) {
            int[] lengths = {70, 5, 1};
            Decoder.Sequence[] cs = new Decoder.Sequence[3], gs = new Decoder.Sequence[3];
            int[][] prompts = new int[3][];
            for (int i = 0; i < 3; i++) {
                prompts[i] = new int[lengths[i]];
                for (int t = 0; t < lengths[i]; t++) prompts[i][t] = rng.nextInt(V);
                cs[i] = cpu.newSequence();
                gs[i] = gpu.newSequence();
                prefills.add(cpu.prefill(cs[i], prompts[i], 0, lengths[i]), gpu.prefill(gs[i], prompts[i], 0, lengths[i]));
            }
            cs[1].save();
            gs[1].save();
            int[] tokens = new int[3];
            for (int step = 0; step < 8; step++) {
                for (int i = 0; i < 3; i++) {
                    tokens[i] = argmax(cs[i].logits(), V);
                    if (!sameGreedy(cs[i].logits(), gs[i].logits(), V)) mismatches++;
                    tokensCompared++;
                }
                cpu.step(cs, tokens, 3);
                gpu.step(gs, tokens, 3);
                for (int i = 0; i < 3; i++) steps.add(cs[i].logits(), gs[i].logits());
            }
            cs[1].restore();
            gs[1].restore();
            int other = (argmax(cs[1].logits(), V) + 1) % V;
            cpu.step(new Decoder.Sequence[]{cs[1]}, new int[]{other}, 1);
            gpu.step(new Decoder.Sequence[]{gs[1]}, new int[]{other}, 1);
            steps.add(cs[1].logits(), gs[1].logits());
            cs[0].rewind(40);
            gs[0].rewind(40);
            prefills.add(cpu.prefill(cs[0], prompts[0], 50, 60), gpu.prefill(gs[0], prompts[0], 50, 60));
        }
        checks.add(prefills.check("decoder prefill logits vs Inference fp32", DECODER_TOL));
        checks.add(steps.check("decoder step logits vs Inference fp32", DECODER_TOL));
        checks.add(new Check("decoder greedy tokens: mismatches of " + tokensCompared, mismatches, 1, 0));
    }

    /** The index of the largest of the first V logits (the first, on a tie). */
    private static int argmax(float[] logits, int V) {
        int best = 0;
        for (int v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
        return best;
    }

    /**
     * Whether the GPU's greedy token is the CPU's, or one the CPU scores within the decoder tolerance
     * of its best (a near tie, which float32 rounding may break either way).
     */
    private static boolean sameGreedy(float[] cpu, float[] gpu, int V) {
        int c = argmax(cpu, V), g = argmax(gpu, V);
        double scale = 0;
        for (int v = 0; v < V; v++) scale = Math.max(scale, Math.abs(cpu[v]));
        return c == g || cpu[c] - cpu[g] <= DECODER_TOL * scale;
    }

    /** The worst of several compared vectors: the largest max |gpu − cpu| relative to the vector's max |cpu|. */
    private static final class Worst {
        private double error = Double.NaN, scale = 1, ratio = -1;
        private int vectors;

        void add(float[] cpu, float[] gpu) {
            double err = 0, max = 1e-30;
            for (int i = 0; i < cpu.length; i++) {
                if (Float.isFinite(cpu[i])) max = Math.max(max, Math.abs(cpu[i]));
                if (cpu[i] != gpu[i]) err = Math.max(err, Math.abs((double) cpu[i] - gpu[i])); // -inf on both is equal; NaN stays
            }
            double r = err / max;
            if (!Double.isNaN(ratio) && !(r <= ratio)) { // the first NaN is kept: it fails
                ratio = r;
                error = err;
                scale = max;
            }
            vectors++;
        }

        Check check(String name, double tolerance) {
            return new Check(name + " (worst of " + vectors + ")", error, scale, tolerance);
        }
    }
}
