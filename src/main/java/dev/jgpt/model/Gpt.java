package dev.jgpt.model;

import dev.jgpt.kernels.AdamW;
import dev.jgpt.kernels.Attention;
import dev.jgpt.kernels.CrossEntropy;
import dev.jgpt.kernels.Encoder;
import dev.jgpt.kernels.Gelu;
import dev.jgpt.kernels.LayerNorm;
import dev.jgpt.kernels.Matmul;
import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.Slice;
import dev.jgpt.tensor.View;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * GPT-2 on the CPU: the parameters in one float32 buffer laid out by {@link GptLayout}, the gradient
 * buffer beside it, and the {@link Network}'s forward and backward (the one description of the
 * network, which the GPU's engine runs too) with dev.jgpt.kernels on activations that keep what the
 * backward needs. The backward accumulates into {@link #grads()}. The kernels run on the model's
 * {@link #pool()}.
 */
public final class Gpt {
    public final GptConfig config;
    public final GptLayout layout;
    private final float[] params;
    private final CpuOps ops;
    private TrainingOps<Slice> opsRun; // ops, or ops timed by a profile
    private float[] grads;
    private Activations acts;
    private Parallel pool = Parallel.allCores();

    /**
     * A model with all parameters zero; call {@link #initialize} or load weights into {@link #params()}.
     * It runs on a pool of its own with every core until {@link #runOn} gives it its owner's.
     */
    public Gpt(GptConfig config) {
        this.config = config;
        this.layout = new GptLayout(config);
        this.params = new float[Math.toIntExact(layout.layout.size())];
        this.ops = new CpuOps();
        this.opsRun = ops;
    }

    /** Times every operation of the following forwards and backwards in {@code profile}; null stops. */
    public void profile(OpProfile profile) {
        opsRun = profile == null ? ops : profile.wrap(ops);
    }

    /** Runs this model's kernels (and those of a decoder made from it afterwards) on {@code pool}. */
    public void runOn(Parallel pool) {
        this.pool = pool;
    }

    /** The threads this model's kernels run on. */
    public Parallel pool() {
        return pool;
    }

    public float[] params() {
        return params;
    }

    /** The gradient buffer (same layout as the parameters), allocated on first use. */
    public float[] grads() {
        if (grads == null) grads = new float[params.length];
        return grads;
    }

    /** GPT-2's initialization: N(0, 0.02), residual projections N(0, 0.02/√(2L)), biases 0, LayerNorm 1/0. */
    public void initialize(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        double residualStd = 0.02 / Math.sqrt(2.0 * config.nLayer());
        for (View v : layout.layout.views()) {
            String name = v.name();
            int from = v.start(), to = v.end();
            if (name.contains("ln_")) {
                Arrays.fill(params, from, to, name.endsWith(".weight") ? 1f : 0f);
            } else if (v.rank() == 1) {
                Arrays.fill(params, from, to, 0f);
            } else {
                double std = GptLayout.isResidualProjection(name) ? residualStd : 0.02;
                if (v == layout.wte) to = from + config.vocabSize() * config.nEmbd(); // padded rows stay 0
                for (int i = from; i < to; i++) params[i] = (float) (rng.nextGaussian() * std);
                Arrays.fill(params, to, v.end(), 0f);
            }
        }
    }

    /**
     * Runs the network on B rows of T tokens ({@code inputs}, row-major). With {@code targets} (-1 =
     * ignore) it returns the mean cross-entropy over the counted positions and prepares the backward;
     * without, it returns NaN. The logits stay readable through {@link #logits()} until the backward.
     */
    public float forward(int[] inputs, int[] targets, int B, int T) {
        return pool.call(() -> forwardOnPool(inputs, targets, B, T));
    }

    private float forwardOnPool(int[] inputs, int[] targets, int B, int T) {
        GptConfig cfg = config;
        cfg.checkBatch(inputs, targets, B, T);
        int BT = B * T;
        if (acts == null || acts.capacity < BT) acts = new Activations(cfg, B, T);
        Activations a = acts;
        a.B = B;
        a.T = T;
        a.inputs = inputs;
        a.targets = targets;
        return Network.forward(opsRun, cfg, layout, a.network, inputs, targets, B, T);
    }

    /** Logits (B·T rows of paddedVocabSize; the first vocabSize columns are real) of the last forward. */
    public float[] logits() {
        if (acts == null) throw new IllegalStateException("no forward pass yet");
        return acts.logits;
    }

    /**
     * Per-position losses of the last forward (0 where the target was -1): the first B·T entries of a
     * buffer sized for the largest batch seen so far.
     */
    public float[] losses() {
        return acts.losses;
    }

    /**
     * Accumulates the gradient of {@code lossScale × mean loss} into {@link #grads()} (lossScale is
     * 1/accumulation steps when accumulating). Overwrites the logits.
     */
    public void backward(float lossScale) {
        Activations a = acts;
        if (a == null || a.targets == null) throw new IllegalStateException("backward needs a forward with targets");
        pool.run(() -> Network.backward(opsRun, config, layout, a.network, a.inputs, a.targets, lossScale, a.B, a.T));
        a.targets = null; // the logits are gone; a second backward would be wrong
    }

    public void zeroGrad() {
        Arrays.fill(grads(), 0f);
    }

    /** L2 norm of the whole gradient. */
    public double gradNorm() {
        float[] g = grads();
        return Math.sqrt(pool.call(() -> AdamW.sumOfSquares(g, 0, g.length)));
    }

    /** L2 norm of one tensor's gradient. */
    public double gradNorm(View v) {
        float[] g = grads();
        return Math.sqrt(pool.call(() -> AdamW.sumOfSquares(g, v.start(), v.end())));
    }

    /** A parameter's gradient in the gradient buffer; null for none. */
    private Slice g(View v) {
        return v == null ? null : v.in(grads());
    }

    /** The network's operations on the CPU: dev.jgpt.kernels on this model's parameters, gradients and activations. */
    private final class CpuOps implements CpuBlockOps, TrainingOps<Slice> {
        @Override
        public float[] params() {
            return params;
        }

        @Override
        public void matmul(Slice out, Slice inp, View weight, View bias, int n, int C, int OC) {
            Matmul.forward(out, inp, p(weight), p(bias), n, C, OC);
        }

        @Override
        public void encoder(Slice out, int[] tokens, View wte, View wpe, int B, int T, int C) {
            Encoder.forward(out, tokens, p(wte), p(wpe), B, T, C);
        }

        @Override
        public void attention(Slice out, Slice lse, Slice qkv, int B, int T, int C, int NH) {
            Attention.forward(out, lse, qkv, B, T, C, NH);
        }

        /** Keeps each row's largest logit and Σ exp for the backward. */
        @Override
        public float[] crossEntropy(Slice logits, int[] targets, int n, int V, int Vp) {
            CrossEntropy.forward(acts.losses, acts.logitMax, acts.logitSumExp, logits.array(), targets, n, V, Vp);
            return acts.losses;
        }

        @Override
        public void zero(Slice x, long n) {
            Arrays.fill(x.array(), x.offset(), Math.toIntExact(x.offset() + n), 0f);
        }

        @Override
        public void crossEntropyBackward(Slice logits, int[] targets, float dloss, int n, int V, int Vp) {
            CrossEntropy.backwardInPlace(logits.array(), acts.logitMax, acts.logitSumExp, targets, dloss, n, V, Vp);
        }

        @Override
        public void matmulBackward(Slice dinp, View weight, View bias, Slice dout, Slice inp, int n, int C, int OC) {
            Matmul.backward(dinp, g(weight), g(bias), dout, inp, p(weight), n, C, OC);
        }

        @Override
        public void layernormBackward(Slice dinp, View weight, View bias, Slice dout, Slice inp, Slice mean, Slice rstd,
                                      int n, int C) {
            LayerNorm.backward(dinp, g(weight), g(bias), dout, inp, p(weight), mean, rstd, n, C);
        }

        @Override
        public void attentionBackward(Slice dqkv, Slice dout, Slice qkv, Slice out, Slice lse, int B, int T, int C, int NH) {
            Attention.backward(dqkv, dout, qkv, out, lse, B, T, C, NH);
        }

        @Override
        public void geluBackward(Slice dinp, Slice inp, Slice dout, long n) {
            Gelu.backward(dinp, inp, dout, Math.toIntExact(n));
        }

        @Override
        public void encoderBackward(View wte, View wpe, Slice dout, int[] tokens, int B, int T, int C) {
            Encoder.backward(g(wte), g(wpe), dout, tokens, B, T, C);
        }
    }
}
