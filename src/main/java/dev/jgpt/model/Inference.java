package dev.jgpt.model;

import dev.jgpt.JgptException;
import dev.jgpt.kernels.Bf16;
import dev.jgpt.kernels.Gelu;
import dev.jgpt.kernels.LayerNorm;
import dev.jgpt.kernels.Matmul;
import dev.jgpt.kernels.Residual;
import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.VectorMath;
import dev.jgpt.tensor.View;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Incremental decoding of one sequence with a key/value cache: {@link #prefill} runs the prompt (in
 * chunks of up to {@value #CHUNK} rows, through the same kernels as training), then {@link #step}
 * adds one token at a time, attending over the cached keys and values of every earlier position.
 * Each call returns the logits for the next token.
 *
 * <p>The cache holds {@code block_size} positions, the most the position embedding allows. When it
 * is full, {@link #step} refuses; a caller that wants to go on re-prefills a shorter tail of its
 * tokens (see {@link #remaining()}). All buffers (the cache is 2·n_layer·block_size·n_embd floats,
 * 75 MB for GPT-2 124M) are allocated once in the constructor; a step allocates only the small task
 * object of each parallel call (about 5 kB per token for GPT-2 124M).
 *
 * <p>A step reads every weight once, so it is bound by memory bandwidth; its matrix-vector products
 * are split over output rows so all cores stream their share of the weights, the LM head included.
 * Attention for one query is split over heads.
 *
 * <p>With {@link Precision#BF16} the weight matrices (wte, wpe and the four linear layers of every
 * block) are read from a bf16 copy, half the bytes; biases, LayerNorm, activations, the cache and all
 * arithmetic stay float32. The logits are then those of float32 math on the model with its matrices
 * rounded to bf16.
 */
public final class Inference {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = S.length();

    /** How the weight matrices are stored for decoding. */
    public enum Precision {
        /** The model's own float32 weights: the logits of {@link Gpt#forward}, to float32 rounding. */
        FP32,
        /** A bf16 copy of the weight matrices: half the memory traffic per token. */
        BF16;

        @Override
        public String toString() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** Prompt rows processed together in {@link #prefill}. */
    public static final int CHUNK = 64;

    private final GptConfig cfg;
    private final GptLayout w;
    private final float[] p;
    private final Precision precision;
    // bf16 copy of the weight matrices at the same offsets as p (null for FP32)
    private final short[] half;
    private final int L, C, NH, hs, maxT, V, Vp;
    private final float scale;

    // keys and values of every layer, head and position: [L][NH][maxT][hs]
    private final float[] keys, values;
    // per-chunk activations, CHUNK rows each
    private final float[] x, ln, qkv, atty, tmp, fch, mean, rstd;
    // attention scores: [CHUNK][NH][maxT]
    private final float[] scores;
    private final float[] logits;
    private final float[] zeros; // the LM head's bias: one code path for every product keeps the JIT's profile simple
    private final int[] oneToken = new int[1];
    private int pos;

    public Inference(Gpt model) {
        this(model, Precision.FP32);
    }

    public Inference(Gpt model, Precision precision) {
        this.cfg = model.config;
        this.w = model.layout;
        this.p = model.params();
        this.precision = precision;
        if (precision == Precision.BF16) {
            half = new short[p.length];
            for (View v : w.layout.views()) {
                if (v.rank() >= 2) Bf16.round(p, v.start(), half, v.start(), v.end() - v.start());
            }
        } else {
            half = null;
        }
        L = cfg.nLayer();
        C = cfg.nEmbd();
        NH = cfg.nHead();
        hs = cfg.headSize();
        maxT = cfg.blockSize();
        V = cfg.vocabSize();
        Vp = cfg.paddedVocabSize();
        scale = (float) (1.0 / Math.sqrt(hs));
        int cacheSize = Math.toIntExact((long) L * maxT * C);
        keys = new float[cacheSize];
        values = new float[cacheSize];
        int rows = Math.min(CHUNK, maxT);
        x = new float[rows * C];
        ln = new float[rows * C];
        qkv = new float[rows * 3 * C];
        atty = new float[rows * C];
        tmp = new float[rows * C];
        fch = new float[rows * 4 * C];
        mean = new float[rows];
        rstd = new float[rows];
        scores = new float[Math.toIntExact((long) rows * NH * maxT)];
        logits = new float[Vp];
        zeros = new float[V];
        Arrays.fill(logits, V, Vp, Float.NEGATIVE_INFINITY); // padded columns never win
    }

    /**
     * The bytes the constructor allocates besides the model's own weights (the bf16 copy, the cache,
     * one chunk's activations, the scores), counted from the same shapes: what {@link MemoryEstimate}
     * charges a run that samples.
     */
    static long bytes(GptConfig cfg, Precision precision) {
        long L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead(), maxT = cfg.blockSize();
        long rows = Math.min(CHUNK, maxT);
        long floats = 2 * L * maxT * C                       // keys, values
                + rows * C * (1 + 1 + 3 + 1 + 1 + 4)         // x, ln, qkv, atty, tmp, fch
                + 2 * rows + rows * NH * maxT                // mean, rstd, scores
                + cfg.paddedVocabSize() + cfg.vocabSize();   // logits, zeros
        long half = precision == Precision.BF16 ? 2 * cfg.parameterCount() : 0;
        return 4 * floats + half;
    }

    public GptConfig config() {
        return cfg;
    }

    public Precision precision() {
        return precision;
    }

    /** Number of positions in the cache (tokens seen so far). */
    public int position() {
        return pos;
    }

    /** Positions still free in the cache: how many more tokens {@link #step} accepts. */
    public int remaining() {
        return maxT - pos;
    }

    /** Empties the cache. */
    public void reset() {
        pos = 0;
    }

    /**
     * Forgets every position from {@code length} on, keeping the first {@code length} (a shared
     * prompt, for another sample). The logits are stale until the next {@link #prefill} or
     * {@link #step}.
     */
    public void rewind(int length) {
        if (length < 0 || length > pos) {
            throw new IllegalArgumentException("rewind to " + length + " but the cache holds " + pos + " positions");
        }
        pos = length;
    }

    /** The logits of the last call: paddedVocabSize entries, the first vocabSize real, the rest -∞. */
    public float[] logits() {
        return logits;
    }

    /** Appends all of {@code tokens}; returns the logits that follow the last of them. */
    public float[] prefill(int[] tokens) {
        return prefill(tokens, 0, tokens.length);
    }

    /** Appends {@code tokens[from, to)}; returns the logits that follow the last of them. */
    public float[] prefill(int[] tokens, int from, int to) {
        int n = to - from;
        if (n <= 0) throw new IllegalArgumentException("prefill needs at least one token");
        if (n > remaining()) {
            throw new JgptException(n + " tokens do not fit: the context holds " + maxT
                    + " (block_size) and " + pos + " are used");
        }
        for (int i = from; i < to; i++) checkToken(tokens[i]);
        int rows = 0;
        for (int start = from; start < to; start += rows) {
            rows = Math.min(CHUNK, to - start);
            forwardRows(tokens, start, rows);
        }
        head(rows - 1);
        return logits;
    }

    /** Appends one token; returns the logits that follow it. */
    public float[] step(int token) {
        if (pos >= maxT) {
            throw new IllegalStateException("the context is full (block_size " + maxT + "); reset or re-prefill a shorter tail");
        }
        checkToken(token);
        oneToken[0] = token;
        forwardRows(oneToken, 0, 1);
        head(0);
        return logits;
    }

    private void checkToken(int t) {
        if (t < 0 || t >= V) throw new JgptException("token id " + t + " is outside the model's vocabulary [0, " + V + ")");
    }

    /** Runs {@code n} tokens at positions [pos, pos + n) through the blocks, caching their keys and values. */
    private void forwardRows(int[] tokens, int from, int n) {
        float[] p = this.p;
        for (int i = 0; i < n; i++) {
            int tok = w.wte.start() + tokens[from + i] * C, at = w.wpe.start() + (pos + i) * C;
            if (half == null) {
                for (int c = 0; c < C; c++) x[i * C + c] = p[tok + c] + p[at + c];
            } else {
                for (int c = 0; c < C; c++) x[i * C + c] = Bf16.toFloat(half[tok + c]) + Bf16.toFloat(half[at + c]);
            }
        }
        for (int l = 0; l < L; l++) {
            // x = x + attn(ln_1(x))
            LayerNorm.forward(ln, 0, mean, 0, rstd, 0, x, 0, p, w.ln1Weight[l].start(), p, w.ln1Bias[l].start(), n, C);
            linear(qkv, ln, w.qkvWeight[l].start(), w.qkvBias[l].start(), n, C, 3 * C);
            attention(l, n);
            linear(tmp, atty, w.attnProjWeight[l].start(), w.attnProjBias[l].start(), n, C, C);
            Residual.accumulate(x, 0, tmp, 0, n * C);
            // x = x + mlp(ln_2(x))
            LayerNorm.forward(ln, 0, mean, 0, rstd, 0, x, 0, p, w.ln2Weight[l].start(), p, w.ln2Bias[l].start(), n, C);
            linear(fch, ln, w.fcWeight[l].start(), w.fcBias[l].start(), n, C, 4 * C);
            Gelu.forward(fch, 0, fch, 0, n * 4 * C);
            linear(tmp, fch, w.fcProjWeight[l].start(), w.fcProjBias[l].start(), n, 4 * C, C);
            Residual.accumulate(x, 0, tmp, 0, n * C);
        }
        pos += n;
    }

    /** Final LayerNorm and the LM head (tied to wte) for row {@code row} of the chunk just run. */
    private void head(int row) {
        LayerNorm.forward(ln, 0, mean, 0, rstd, 0, x, row * C, p, w.lnfWeight.start(), p, w.lnfBias.start(), 1, C);
        // the real vocabulary only
        if (half == null) matvec(logits, 0, ln, 0, p, w.wte.start(), zeros, 0, C, V);
        else Bf16.matmul(logits, 0, ln, 0, half, w.wte.start(), zeros, 0, 1, C, V);
    }

    /**
     * out = inp · Wᵀ + b for n rows: a matrix-vector product for one row (bf16: up to four, which
     * stream W once), the tiled matmul for more (bf16: widening W as it packs it).
     */
    private void linear(float[] out, float[] inp, int wOff, int bOff, int n, int in, int outs) {
        if (half != null && n <= 4) Bf16.matmul(out, 0, inp, 0, half, wOff, p, bOff, n, in, outs);
        else if (half != null) Matmul.forward(out, 0, inp, 0, half, wOff, p, bOff, n, in, outs);
        else if (n == 1) matvec(out, 0, inp, 0, p, wOff, p, bOff, in, outs);
        else Matmul.forward(out, 0, inp, 0, p, wOff, p, bOff, n, in, outs);
    }

    /**
     * out[o] = bias[o] + Σ_c inp[c] · w[o, c] for one input row, split over
     * output rows so each thread streams its own contiguous part of W. One row of W at a time, read
     * front to back with four independent accumulators: a single sequential stream per core is what
     * the hardware prefetcher serves best (about 1.6x the bandwidth of interleaving four rows, as
     * the tiled {@link Matmul#forward} does, on the 2-core machine this was tuned on).
     */
    static void matvec(float[] out, int outOff, float[] inp, int inpOff, float[] w, int wOff,
                       float[] bias, int biasOff, int C, int OC) {
        Parallel.forRange(OC, 16, (start, end) -> {
            int unrolled = C / (4 * LANES) * (4 * LANES), full = S.loopBound(C);
            for (int o = start; o < end; o++) {
                int row = wOff + o * C;
                FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
                int c = 0;
                for (; c < unrolled; c += 4 * LANES) {
                    a0 = FloatVector.fromArray(S, inp, inpOff + c).fma(FloatVector.fromArray(S, w, row + c), a0);
                    a1 = FloatVector.fromArray(S, inp, inpOff + c + LANES).fma(FloatVector.fromArray(S, w, row + c + LANES), a1);
                    a2 = FloatVector.fromArray(S, inp, inpOff + c + 2 * LANES).fma(FloatVector.fromArray(S, w, row + c + 2 * LANES), a2);
                    a3 = FloatVector.fromArray(S, inp, inpOff + c + 3 * LANES).fma(FloatVector.fromArray(S, w, row + c + 3 * LANES), a3);
                }
                for (; c < full; c += LANES) {
                    a0 = FloatVector.fromArray(S, inp, inpOff + c).fma(FloatVector.fromArray(S, w, row + c), a0);
                }
                float sum = VectorMath.sum(a0.add(a1).add(a2.add(a3)));
                for (; c < C; c++) sum += inp[inpOff + c] * w[row + c];
                out[outOff + o] = sum + bias[biasOff + o];
            }
        });
    }

    /**
     * Causal attention of the chunk's n queries (positions pos + i) over the cache, after appending
     * the chunk's keys and values to it. One task per head: it stores the head's keys and values for
     * all n rows, then answers the rows in order.
     */
    private void attention(int l, int n) {
        int pos0 = pos;
        Parallel.forRange(NH, 1, (start, end) -> {
            for (int h = start; h < end; h++) {
                int cache = (l * NH + h) * maxT * hs;
                for (int i = 0; i < n; i++) {
                    int src = i * 3 * C + h * hs, dst = cache + (pos0 + i) * hs;
                    System.arraycopy(qkv, src + C, keys, dst, hs);
                    System.arraycopy(qkv, src + 2 * C, values, dst, hs);
                }
                for (int i = 0; i < n; i++) {
                    attendOne(qkv, i * 3 * C + h * hs, cache, pos0 + i + 1, scores, (i * NH + h) * maxT,
                            atty, i * C + h * hs);
                }
            }
        });
    }

    /**
     * out[0, hs) = softmax(q · Kᵀ · scale) · V over the first {@code n} cached positions of one head.
     * Whole vectors plus a scalar tail, no masks: the hot loops stay plain loads and FMAs.
     */
    private void attendOne(float[] q, int qOff, int cache, int n, float[] s, int sOff, float[] out, int outOff) {
        int full = S.loopBound(hs);
        float max = Float.NEGATIVE_INFINITY;
        for (int t = 0, k = cache; t < n; t++, k += hs) {
            FloatVector acc = FloatVector.zero(S);
            for (int d = 0; d < full; d += LANES) {
                acc = FloatVector.fromArray(S, q, qOff + d).fma(FloatVector.fromArray(S, keys, k + d), acc);
            }
            float dot = VectorMath.sum(acc);
            for (int d = full; d < hs; d++) dot += q[qOff + d] * keys[k + d];
            float score = dot * scale;
            s[sOff + t] = score;
            max = Math.max(max, score);
        }
        FloatVector sumv = FloatVector.zero(S);
        int t = 0;
        for (int bound = S.loopBound(n); t < bound; t += LANES) {
            FloatVector e = VectorMath.exp(FloatVector.fromArray(S, s, sOff + t).sub(max));
            e.intoArray(s, sOff + t);
            sumv = sumv.add(e);
        }
        float sum = VectorMath.sum(sumv);
        for (; t < n; t++) {
            float e = VectorMath.exp(s[sOff + t] - max);
            s[sOff + t] = e;
            sum += e;
        }
        float inv = 1f / sum;
        // Σ p_t · v_t, a vector of hs at a time, accumulated in a register over the positions.
        for (int d = 0; d < full; d += LANES) {
            FloatVector acc = FloatVector.zero(S);
            for (int u = 0, v = cache + d; u < n; u++, v += hs) {
                acc = FloatVector.fromArray(S, values, v).fma(FloatVector.broadcast(S, s[sOff + u]), acc);
            }
            acc.mul(inv).intoArray(out, outOff + d);
        }
        for (int d = full; d < hs; d++) {
            float acc = 0;
            for (int u = 0, v = cache + d; u < n; u++, v += hs) acc += values[v] * s[sOff + u];
            out[outOff + d] = acc * inv;
        }
    }
}
