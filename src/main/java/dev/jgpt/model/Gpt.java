package dev.jgpt.model;

import dev.jgpt.JgptException;
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
 * GPT-2: token and position embeddings, n_layer pre-LayerNorm transformer blocks (causal
 * self-attention, then a GELU MLP, each added to the residual stream), a final LayerNorm and an LM
 * head tied to the token embedding. Each layer runs {@link Block#forward} (the one description of a
 * block, which decoding runs too) on buffers that keep what the backward needs; the backward
 * accumulates into {@link #grads()}. The kernels run on the model's {@link #pool()}.
 */
public final class Gpt {
    public final GptConfig config;
    public final GptLayout layout;
    private final float[] params;
    private final Block.Weights[] blocks; // each layer's parameters, as its block reads them
    private float[] grads;
    private Activations acts;
    private int validTargets;
    private Parallel pool = Parallel.allCores();

    /**
     * A model with all parameters zero; call {@link #initialize} or load weights into {@link #params()}.
     * It runs on a pool of its own with every core until {@link #runOn} gives it its owner's.
     */
    public Gpt(GptConfig config) {
        this.config = config;
        this.layout = new GptLayout(config);
        this.params = new float[Math.toIntExact(layout.layout.size())];
        this.blocks = new Block.Weights[config.nLayer()];
        for (int l = 0; l < blocks.length; l++) blocks[l] = Block.Weights.of(layout, l, params, v -> new F32Weight(p(v)));
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
        if (T > cfg.blockSize()) {
            throw new JgptException("sequence length " + T + " exceeds the model's block_size " + cfg.blockSize());
        }
        int L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead(), V = cfg.vocabSize(), Vp = cfg.paddedVocabSize();
        int BT = B * T;
        checkTokens("input", inputs, BT, V, false);
        if (targets != null) checkTokens("target", targets, BT, V, true);
        if (acts == null || acts.capacity < BT) acts = new Activations(cfg, B, T);
        Activations a = acts;
        a.B = B;
        a.T = T;
        a.inputs = inputs;
        a.targets = targets;
        GptLayout w = layout;

        Encoder.forward(a.encoded, inputs, p(w.wte), p(w.wpe), B, T, C);
        for (int l = 0; l < L; l++) {
            Slice lse = a.attLse[l];
            Block.forward(blocks[l], a.blocks[l], (out, qkv) -> Attention.forward(out, lse, qkv, B, T, C, NH), BT, C, false);
        }
        LayerNorm.forward(a.lnf, a.lnfMean, a.lnfRstd, a.residual3[L - 1], p(w.lnfWeight), p(w.lnfBias), BT, C);
        Matmul.forward(Slice.of(a.logits), a.lnf, p(w.wte), null, BT, C, Vp);

        if (targets == null) {
            validTargets = 0;
            return Float.NaN;
        }
        CrossEntropy.forward(a.losses, a.logitMax, a.logitSumExp, a.logits, targets, BT, V, Vp);
        double sum = 0;
        int count = 0;
        for (int i = 0; i < BT; i++) {
            if (targets[i] >= 0) {
                sum += a.losses[i];
                count++;
            }
        }
        validTargets = count;
        return count == 0 ? 0f : (float) (sum / count);
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
        pool.run(() -> backwardOnPool(lossScale));
    }

    private void backwardOnPool(float lossScale) {
        Activations a = acts;
        if (a == null || a.targets == null) throw new IllegalStateException("backward needs a forward with targets");
        GptConfig cfg = config;
        int B = a.B, T = a.T, L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead();
        int V = cfg.vocabSize(), Vp = cfg.paddedVocabSize();
        int BT = B * T;
        GptLayout w = layout;
        float dloss = validTargets == 0 ? 0f : lossScale / validTargets;

        CrossEntropy.backwardInPlace(a.logits, a.logitMax, a.logitSumExp, a.targets, dloss, BT, V, Vp);
        Slice dlogits = Slice.of(a.logits);
        zero(a.dLn, BT * C);
        Matmul.backward(a.dLn, g(w.wte), null, dlogits, a.lnf, p(w.wte), BT, C, Vp);
        zero(a.dResidual, BT * C);
        LayerNorm.backward(a.dResidual, g(w.lnfWeight), g(w.lnfBias), a.dLn, a.residual3[L - 1], p(w.lnfWeight), a.lnfMean, a.lnfRstd, BT, C);

        for (int l = L - 1; l >= 0; l--) {
            Slice residual = l == 0 ? a.encoded : a.residual3[l - 1];
            // MLP: dResidual is d(residual3) here; it becomes d(residual2) after ln_2's backward.
            // GELU's output is recomputed rather than kept for every layer: 4C floats a token a layer saved.
            Gelu.forward(a.fchGelu, a.fch[l], BT * 4 * C);
            zero(a.dFchGelu, BT * 4 * C);
            Matmul.backward(a.dFchGelu, g(w.fcProjWeight[l]), g(w.fcProjBias[l]), a.dResidual, a.fchGelu, p(w.fcProjWeight[l]), BT, 4 * C, C);
            zero(a.dFch, BT * 4 * C);
            Gelu.backward(a.dFch, a.fch[l], a.dFchGelu, BT * 4 * C);
            zero(a.dLn, BT * C);
            Matmul.backward(a.dLn, g(w.fcWeight[l]), g(w.fcBias[l]), a.dFch, a.ln2[l], p(w.fcWeight[l]), BT, C, 4 * C);
            LayerNorm.backward(a.dResidual, g(w.ln2Weight[l]), g(w.ln2Bias[l]), a.dLn, a.residual2[l], p(w.ln2Weight[l]),
                    a.ln2Mean[l], a.ln2Rstd[l], BT, C);
            // attention: dResidual becomes d(block input) after ln_1's backward.
            zero(a.dAtty, BT * C);
            Matmul.backward(a.dAtty, g(w.attnProjWeight[l]), g(w.attnProjBias[l]), a.dResidual, a.atty[l], p(w.attnProjWeight[l]), BT, C, C);
            zero(a.dQkv, BT * 3 * C);
            Attention.backward(a.dQkv, a.dAtty, a.qkv[l], a.atty[l], a.attLse[l], B, T, C, NH);
            zero(a.dLn, BT * C);
            Matmul.backward(a.dLn, g(w.qkvWeight[l]), g(w.qkvBias[l]), a.dQkv, a.ln1[l], p(w.qkvWeight[l]), BT, C, 3 * C);
            LayerNorm.backward(a.dResidual, g(w.ln1Weight[l]), g(w.ln1Bias[l]), a.dLn, residual, p(w.ln1Weight[l]),
                    a.ln1Mean[l], a.ln1Rstd[l], BT, C);
        }
        Encoder.backward(g(w.wte), g(w.wpe), a.dResidual, a.inputs, B, T, C);
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

    private void checkTokens(String what, int[] tokens, int n, int V, boolean allowIgnore) {
        if (tokens.length < n) throw new IllegalArgumentException(what + " ids: expected " + n + ", got " + tokens.length);
        for (int i = 0; i < n; i++) {
            int t = tokens[i];
            if (t >= V || t < (allowIgnore ? -1 : 0)) {
                throw new JgptException(what + " id " + t + " at position " + i + " is outside the vocabulary [0, " + V + ")");
            }
        }
    }

    /** A parameter tensor in the parameter buffer. */
    private Slice p(View v) {
        return v.in(params);
    }

    /** A parameter's gradient in the gradient buffer. */
    private Slice g(View v) {
        return v.in(grads());
    }

    private static void zero(Slice a, int n) {
        Arrays.fill(a.array(), a.offset(), a.offset() + n, 0f);
    }
}
