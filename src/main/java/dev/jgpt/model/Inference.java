package dev.jgpt.model;

import dev.jgpt.JgptException;
import dev.jgpt.kernels.Bf16;
import dev.jgpt.kernels.Gelu;
import dev.jgpt.kernels.LayerNorm;
import dev.jgpt.kernels.Matmul;
import dev.jgpt.kernels.Residual;
import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.Slice;
import dev.jgpt.tensor.VectorMath;
import dev.jgpt.tensor.View;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Incremental decoding with a key/value cache. A {@link Sequence} holds one sequence's cached keys
 * and values and the logits after its last token. {@link #prefill} runs a prompt (in chunks of up to
 * {@value #CHUNK} rows, through the same kernels as training); {@link #step} then adds one token to
 * each of up to {@value #CHUNK} sequences at once, attending over each one's cached positions. A step
 * reads every weight once for all its sequences: decoding is bound by memory bandwidth, so n
 * sequences cost little more than one.
 *
 * <p>A step rounds each sequence's row exactly as it would alone: the matrix products run on the row
 * kernels ({@link Bf16#matmul}, {@link #matvec}), which sum a row the same way whatever the number of
 * rows, and LayerNorm, GELU, the residual and attention are per row. So a sequence decoded beside
 * others gets the same logits, bit for bit, as decoded alone.
 *
 * <p>A sequence's cache holds {@code block_size} positions, the most the position embedding allows.
 * When it is full, {@link #step} refuses; a caller that wants to go on re-prefills a shorter tail of
 * its tokens (see {@link Sequence#remaining()}). A cache is 2·n_layer·block_size·n_embd floats (75 MB
 * for GPT-2 124M), allocated by {@link #newSequence}; the chunk buffers are allocated once in the
 * constructor. A step allocates only the small task object of each parallel call.
 *
 * <p>The methods without a {@link Sequence} argument decode one sequence of this decoder's own.
 *
 * <p>A step's matrix-vector products are split over output rows so all cores stream their share of
 * the weights, the LM head included. Attention is split over heads.
 *
 * <p>With {@link Precision#BF16} the weight matrices (wte, wpe and the four linear layers of every
 * block) are read from a bf16 copy, half the bytes; biases, LayerNorm, activations, the cache and all
 * arithmetic stay float32. The logits are then those of float32 math on the model with its matrices
 * rounded to bf16.
 *
 * <p>Not thread-safe: one thread drives a decoder and its sequences.
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

    /** Prompt rows processed together in {@link #prefill}, and the most sequences one {@link #step} takes. */
    public static final int CHUNK = 64;

    /** A row of W is C multiply-adds per input row: fewer rows than this are not worth another thread's hand-off. */
    private static final int OUTPUTS_PER_CHUNK = 16;

    /** One sequence being decoded: the keys and values of its positions and the logits after the last. */
    public final class Sequence {
        // keys and values of every layer, head and position: [L][NH][maxT][hs]
        private final float[] keys, values;
        private final float[] logits;
        private int pos;
        private float[] saved; // save()'s logits, allocated on first use
        private int savedPosition = -1;

        private Sequence() {
            int cacheSize = Math.toIntExact((long) L * maxT * C);
            keys = new float[cacheSize];
            values = new float[cacheSize];
            logits = new float[Vp];
            Arrays.fill(logits, V, Vp, Float.NEGATIVE_INFINITY); // padded columns never win
        }

        /** Number of positions in the cache (tokens seen so far). */
        public int position() {
            return pos;
        }

        /** Positions still free in the cache: how many more tokens a step accepts. */
        public int remaining() {
            return maxT - pos;
        }

        /** Empties the cache. */
        public void reset() {
            pos = 0;
            savedPosition = -1;
        }

        /** Remembers the position and the logits now (after a prompt, say), for {@link #restore()}. */
        public void save() {
            if (saved == null) saved = new float[logits.length];
            System.arraycopy(logits, 0, saved, 0, logits.length);
            savedPosition = pos;
        }

        /**
         * Goes back to what {@link #save()} remembered: the positions after it are forgotten and the
         * logits are those it saw, so a prompt serves another sample without being read again.
         */
        public void restore() {
            if (savedPosition < 0) throw new IllegalStateException("nothing saved, or the cache was reset since");
            pos = savedPosition;
            System.arraycopy(saved, 0, logits, 0, logits.length);
        }

        /**
         * Forgets every position from {@code length} on, keeping the first {@code length} (a shared
         * prompt, for another sample). The logits are stale until the next prefill or step.
         */
        public void rewind(int length) {
            if (length < 0 || length > pos) {
                throw new IllegalArgumentException("rewind to " + length + " but the cache holds " + pos + " positions");
            }
            pos = length;
            if (length < savedPosition) savedPosition = -1;
        }

        /** The logits after the last token: paddedVocabSize entries, the first vocabSize real, the rest -∞. */
        public float[] logits() {
            return logits;
        }

        private Inference owner() {
            return Inference.this;
        }
    }

    private final GptConfig cfg;
    private final GptLayout w;
    private final float[] p;
    private final Precision precision;
    private final Parallel pool;
    // bf16 copy of the weight matrices (null for FP32): wte and the linear weights as Bf16.pack's
    // column panels, wpe as rows; halfAt gives each matrix's offset in it
    private final short[] half;
    private final java.util.IdentityHashMap<View, Integer> halfAt = new java.util.IdentityHashMap<>();
    private final int L, C, NH, hs, maxT, V, Vp;
    private final float scale;

    // per-chunk activations, CHUNK rows each
    private final float[] x, ln, qkv, atty, tmp, fch, mean, rstd;
    // attention scores: [CHUNK][NH][maxT]
    private final float[] scores;
    // the sequence and position of each row of the chunk being run
    private final Sequence[] rowSequence = new Sequence[CHUNK];
    private final int[] rowPosition = new int[CHUNK];
    private final int[] rowToken = new int[CHUNK];
    private float[] headOut = new float[0]; // a step's logits, [n][V], before they go to their sequences
    private final float[] zeros; // the LM head's bias: one code path for every product keeps the JIT's profile simple
    private Sequence own; // the sequence of the one-sequence methods, made on first use
    private final Sequence[] ownRow = new Sequence[1];
    private final int[] ownToken = new int[1];

    public Inference(Gpt model) {
        this(model, Precision.FP32);
    }

    public Inference(Gpt model, Precision precision) {
        this.cfg = model.config;
        this.w = model.layout;
        this.p = model.params();
        this.precision = precision;
        this.pool = model.pool();
        if (precision == Precision.BF16) {
            int size = 0;
            for (View v : w.layout.views()) {
                if (v.rank() < 2) continue;
                halfAt.put(v, size);
                size += v == w.wpe ? v.end() - v.start() : Bf16.packedSize(v.shape()[0], v.shape()[1]);
            }
            half = new short[size];
            for (View v : halfAt.keySet()) {
                if (v == w.wpe) Bf16.round(p, v.start(), half, halfAt.get(v), v.end() - v.start());
                else Bf16.pack(p, v.start(), v.shape()[0], v.shape()[1], half, halfAt.get(v));
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
        int rows = CHUNK;
        x = new float[rows * C];
        ln = new float[rows * C];
        qkv = new float[rows * 3 * C];
        atty = new float[rows * C];
        tmp = new float[rows * C];
        fch = new float[rows * 4 * C];
        mean = new float[rows];
        rstd = new float[rows];
        scores = new float[Math.toIntExact((long) rows * NH * maxT)];
        zeros = new float[V];
    }

    /**
     * The bytes a decoder of {@code sequences} sequences allocates besides the model's own weights
     * (the bf16 copy, one chunk's activations and scores, and per sequence its cache, its logits, the
     * logits it saves and its row of a step's logits), counted from the same shapes: what {@link MemoryEstimate} charges a
     * run that samples.
     */
    static long bytes(GptConfig cfg, Precision precision, int sequences) {
        long L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead(), maxT = cfg.blockSize(), rows = CHUNK;
        long floats = rows * C * (1 + 1 + 3 + 1 + 1 + 4)     // x, ln, qkv, atty, tmp, fch
                + 2 * rows + rows * NH * maxT                // mean, rstd, scores
                + cfg.vocabSize();                           // zeros
        long ints = 2 * rows + 1;                            // rowPosition, rowToken, ownToken
        long perSequence = 2 * L * maxT * C                  // keys, values
                + 2L * cfg.paddedVocabSize()                 // its logits, and those save() keeps
                + cfg.vocabSize();                           // its row of a step's logits
        long half = 0;
        if (precision == Precision.BF16) {
            half = 2 * (maxT * C + Bf16.packedSize(cfg.paddedVocabSize(), (int) C) + L * ((long) Bf16.packedSize(3 * (int) C, (int) C)
                    + Bf16.packedSize((int) C, (int) C) + Bf16.packedSize(4 * (int) C, (int) C) + Bf16.packedSize((int) C, 4 * (int) C)));
        }
        return 4 * (floats + ints + sequences * perSequence) + half;
    }

    public GptConfig config() {
        return cfg;
    }

    public Precision precision() {
        return precision;
    }

    /** A new, empty sequence of this decoder (its cache is allocated now). */
    public Sequence newSequence() {
        return new Sequence();
    }

    /** Appends {@code tokens[from, to)} to {@code seq}; returns its logits after the last of them. */
    public float[] prefill(Sequence seq, int[] tokens, int from, int to) {
        checkOwner(seq);
        int n = to - from;
        if (n <= 0) throw new IllegalArgumentException("prefill needs at least one token");
        if (n > seq.remaining()) {
            throw new JgptException(n + " tokens do not fit: the context holds " + maxT
                    + " (block_size) and " + seq.pos + " are used");
        }
        for (int i = from; i < to; i++) checkToken(tokens[i]);
        pool.run(() -> prefillChunks(seq, tokens, from, to));
        return seq.logits;
    }

    private void prefillChunks(Sequence seq, int[] tokens, int from, int to) {
        int rows = 0;
        for (int start = from; start < to; start += rows) {
            rows = Math.min(CHUNK, to - start);
            for (int i = 0; i < rows; i++) {
                rowSequence[i] = seq;
                rowPosition[i] = seq.pos + i;
                rowToken[i] = tokens[start + i];
            }
            forwardRows(rows, false);
            seq.pos += rows;
        }
        head(rows - 1, 1, seq.logits);
    }

    /**
     * Appends {@code tokens[i]} to {@code seqs[i]} for i < n, all in one pass over the weights; each
     * sequence's {@link Sequence#logits()} then hold the logits after its new token. The sequences
     * must be distinct, each with room for one more position.
     */
    public void step(Sequence[] seqs, int[] tokens, int n) {
        if (n < 1 || n > CHUNK) throw new IllegalArgumentException("a step takes 1 to " + CHUNK + " sequences, got " + n);
        for (int i = 0; i < n; i++) {
            Sequence seq = seqs[i];
            checkOwner(seq);
            if (seq.pos >= maxT) {
                throw new IllegalStateException("the context is full (block_size " + maxT + "); reset or re-prefill a shorter tail");
            }
            for (int j = 0; j < i; j++) {
                if (seqs[j] == seq) throw new IllegalArgumentException("sequence " + j + " and " + i + " of a step are the same");
            }
            checkToken(tokens[i]);
        }
        for (int i = 0; i < n; i++) {
            rowSequence[i] = seqs[i];
            rowPosition[i] = seqs[i].pos;
            rowToken[i] = tokens[i];
        }
        if (headOut.length < n * V) headOut = new float[n * V];
        pool.run(() -> {
            forwardRows(n, true);
            head(0, n, headOut);
        });
        for (int i = 0; i < n; i++) {
            System.arraycopy(headOut, i * V, seqs[i].logits, 0, V);
            seqs[i].pos++;
        }
    }

    // ---- one sequence of the decoder's own ----

    private Sequence own() {
        if (own == null) own = new Sequence();
        return own;
    }

    /** Number of positions in the cache (tokens seen so far). */
    public int position() {
        return own().position();
    }

    /** Positions still free in the cache: how many more tokens {@link #step(int)} accepts. */
    public int remaining() {
        return own().remaining();
    }

    /** Empties the cache. */
    public void reset() {
        own().reset();
    }

    /** See {@link Sequence#rewind}. */
    public void rewind(int length) {
        own().rewind(length);
    }

    /** The logits of the last call: paddedVocabSize entries, the first vocabSize real, the rest -∞. */
    public float[] logits() {
        return own().logits;
    }

    /** Appends all of {@code tokens}; returns the logits that follow the last of them. */
    public float[] prefill(int[] tokens) {
        return prefill(own(), tokens, 0, tokens.length);
    }

    /** Appends {@code tokens[from, to)}; returns the logits that follow the last of them. */
    public float[] prefill(int[] tokens, int from, int to) {
        return prefill(own(), tokens, from, to);
    }

    /** Appends one token; returns the logits that follow it. */
    public float[] step(int token) {
        ownRow[0] = own();
        ownToken[0] = token;
        step(ownRow, ownToken, 1);
        return own.logits;
    }

    private void checkOwner(Sequence seq) {
        if (seq.owner() != this) throw new IllegalArgumentException("the sequence belongs to another decoder");
    }

    private void checkToken(int t) {
        if (t < 0 || t >= V) throw new JgptException("token id " + t + " is outside the model's vocabulary [0, " + V + ")");
    }

    /**
     * Runs the n rows set in rowSequence/rowPosition/rowToken through the blocks, caching their keys
     * and values. {@code separate}: the rows belong to different sequences and go through the row
     * kernels, whose rounding of a row does not depend on the others; otherwise they are one
     * sequence's consecutive positions (a prompt chunk) and larger chunks take the tiled matmul.
     */
    private void forwardRows(int n, boolean separate) {
        float[] p = this.p;
        for (int i = 0; i < n; i++) {
            if (half == null) {
                int tok = w.wte.start() + rowToken[i] * C, at = w.wpe.start() + rowPosition[i] * C;
                for (int c = 0; c < C; c++) x[i * C + c] = p[tok + c] + p[at + c];
            } else {
                int wte = halfAt.get(w.wte), at = halfAt.get(w.wpe) + rowPosition[i] * C;
                for (int c = 0; c < C; c++) x[i * C + c] = Bf16.at(half, wte, C, rowToken[i], c) + Bf16.toFloat(half[at + c]);
            }
        }
        for (int l = 0; l < L; l++) {
            // x = x + attn(ln_1(x))
            LayerNorm.forward(Slice.of(ln), Slice.of(mean), Slice.of(rstd), Slice.of(x), w.ln1Weight[l].in(p), w.ln1Bias[l].in(p), n, C);
            linear(qkv, ln, w.qkvWeight[l], w.qkvBias[l].start(), n, C, 3 * C, separate);
            attention(l, n);
            linear(tmp, atty, w.attnProjWeight[l], w.attnProjBias[l].start(), n, C, C, separate);
            Residual.accumulate(Slice.of(x), Slice.of(tmp), n * C);
            // x = x + mlp(ln_2(x))
            LayerNorm.forward(Slice.of(ln), Slice.of(mean), Slice.of(rstd), Slice.of(x), w.ln2Weight[l].in(p), w.ln2Bias[l].in(p), n, C);
            linear(fch, ln, w.fcWeight[l], w.fcBias[l].start(), n, C, 4 * C, separate);
            Gelu.forward(Slice.of(fch), Slice.of(fch), n * 4 * C);
            linear(tmp, fch, w.fcProjWeight[l], w.fcProjBias[l].start(), n, 4 * C, C, separate);
            Residual.accumulate(Slice.of(x), Slice.of(tmp), n * C);
        }
    }

    /** Final LayerNorm and the LM head (tied to wte) for rows [row, row + n) of the chunk just run, into out [n][V]. */
    private void head(int row, int n, float[] out) {
        LayerNorm.forward(Slice.of(ln), Slice.of(mean), Slice.of(rstd), new Slice(x, row * C), w.lnfWeight.in(p), w.lnfBias.in(p), n, C);
        // the real vocabulary only
        if (half == null) matvec(out, 0, ln, 0, p, w.wte.start(), zeros, 0, n, C, V);
        else Bf16.matmul(out, 0, ln, 0, half, halfAt.get(w.wte), zeros, 0, n, C, V);
    }

    /**
     * out = inp · Wᵀ + b for n rows. bf16: the panel kernel, for any n. fp32: separate sequences, and
     * a single row, take the row kernel (which streams W once for all rows and sums a row the same way
     * whatever n); a prompt chunk of more rows takes the tiled matmul.
     */
    private void linear(float[] out, float[] inp, View weight, int bOff, int n, int in, int outs, boolean separate) {
        if (half != null) Bf16.matmul(out, 0, inp, 0, half, halfAt.get(weight), p, bOff, n, in, outs);
        else if (separate || n == 1) matvec(out, 0, inp, 0, p, weight.start(), p, bOff, n, in, outs);
        else Matmul.forward(Slice.of(out), Slice.of(inp), weight.in(p), new Slice(p, bOff), n, in, outs);
    }

    /**
     * out[r, o] = bias[o] + Σ_c inp[r, c] · w[o, c] for n rows, split over output rows so each thread
     * streams its own contiguous part of W once. One row of W at a time, read front to back with four
     * independent accumulators per input row: a single sequential stream per core is what the
     * hardware prefetcher serves best (about 1.6x the bandwidth of interleaving four rows, as the
     * tiled {@link Matmul#forward} does, on the 2-core machine this was tuned on). Input rows go four
     * at a time against one row of W, which stays in L1; each is summed as it would be alone.
     */
    static void matvec(float[] out, int outOff, float[] inp, int inpOff, float[] w, int wOff,
                       float[] bias, int biasOff, int n, int C, int OC) {
        Parallel.forRange(OC, OUTPUTS_PER_CHUNK, (start, end) -> {
            for (int o = start; o < end; o++) {
                int row = wOff + o * C;
                float b = bias[biasOff + o];
                int r = 0;
                for (; r + 4 <= n; r += 4) dot4(out, outOff + r * OC + o, OC, inp, inpOff + r * C, w, row, C, b);
                for (; r < n; r++) out[outOff + r * OC + o] = dot(inp, inpOff + r * C, w, row, C) + b;
            }
        });
    }

    /** Σ_c x[c] · w[c] with four accumulators over the row, to keep four FMA chains in flight. */
    private static float dot(float[] x, int xOff, float[] w, int wOff, int C) {
        int unrolled = C / (4 * LANES) * (4 * LANES), full = S.loopBound(C);
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int c = 0;
        for (; c < unrolled; c += 4 * LANES) {
            a0 = FloatVector.fromArray(S, x, xOff + c).fma(FloatVector.fromArray(S, w, wOff + c), a0);
            a1 = FloatVector.fromArray(S, x, xOff + c + LANES).fma(FloatVector.fromArray(S, w, wOff + c + LANES), a1);
            a2 = FloatVector.fromArray(S, x, xOff + c + 2 * LANES).fma(FloatVector.fromArray(S, w, wOff + c + 2 * LANES), a2);
            a3 = FloatVector.fromArray(S, x, xOff + c + 3 * LANES).fma(FloatVector.fromArray(S, w, wOff + c + 3 * LANES), a3);
        }
        for (; c < full; c += LANES) {
            a0 = FloatVector.fromArray(S, x, xOff + c).fma(FloatVector.fromArray(S, w, wOff + c), a0);
        }
        float sum = VectorMath.sum(a0.add(a1).add(a2.add(a3)));
        for (; c < C; c++) sum += x[xOff + c] * w[wOff + c];
        return sum;
    }

    /** Four rows of x against one row of w, each with the accumulators and the order of {@link #dot}. */
    private static void dot4(float[] out, int outOff, int stride, float[] x, int xOff, float[] w, int wOff, int C, float b) {
        int unrolled = C / (4 * LANES) * (4 * LANES), full = S.loopBound(C);
        FloatVector z = FloatVector.zero(S);
        FloatVector a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
        FloatVector c0 = z, c1 = z, c2 = z, c3 = z, d0 = z, d1 = z, d2 = z, d3 = z;
        int x0 = xOff, x1 = xOff + C, x2 = xOff + 2 * C, x3 = xOff + 3 * C;
        int c = 0;
        for (; c < unrolled; c += 4 * LANES) {
            FloatVector w0 = FloatVector.fromArray(S, w, wOff + c);
            a0 = FloatVector.fromArray(S, x, x0 + c).fma(w0, a0);
            b0 = FloatVector.fromArray(S, x, x1 + c).fma(w0, b0);
            c0 = FloatVector.fromArray(S, x, x2 + c).fma(w0, c0);
            d0 = FloatVector.fromArray(S, x, x3 + c).fma(w0, d0);
            FloatVector w1 = FloatVector.fromArray(S, w, wOff + c + LANES);
            a1 = FloatVector.fromArray(S, x, x0 + c + LANES).fma(w1, a1);
            b1 = FloatVector.fromArray(S, x, x1 + c + LANES).fma(w1, b1);
            c1 = FloatVector.fromArray(S, x, x2 + c + LANES).fma(w1, c1);
            d1 = FloatVector.fromArray(S, x, x3 + c + LANES).fma(w1, d1);
            FloatVector w2 = FloatVector.fromArray(S, w, wOff + c + 2 * LANES);
            a2 = FloatVector.fromArray(S, x, x0 + c + 2 * LANES).fma(w2, a2);
            b2 = FloatVector.fromArray(S, x, x1 + c + 2 * LANES).fma(w2, b2);
            c2 = FloatVector.fromArray(S, x, x2 + c + 2 * LANES).fma(w2, c2);
            d2 = FloatVector.fromArray(S, x, x3 + c + 2 * LANES).fma(w2, d2);
            FloatVector w3 = FloatVector.fromArray(S, w, wOff + c + 3 * LANES);
            a3 = FloatVector.fromArray(S, x, x0 + c + 3 * LANES).fma(w3, a3);
            b3 = FloatVector.fromArray(S, x, x1 + c + 3 * LANES).fma(w3, b3);
            c3 = FloatVector.fromArray(S, x, x2 + c + 3 * LANES).fma(w3, c3);
            d3 = FloatVector.fromArray(S, x, x3 + c + 3 * LANES).fma(w3, d3);
        }
        for (; c < full; c += LANES) {
            FloatVector wv = FloatVector.fromArray(S, w, wOff + c);
            a0 = FloatVector.fromArray(S, x, x0 + c).fma(wv, a0);
            b0 = FloatVector.fromArray(S, x, x1 + c).fma(wv, b0);
            c0 = FloatVector.fromArray(S, x, x2 + c).fma(wv, c0);
            d0 = FloatVector.fromArray(S, x, x3 + c).fma(wv, d0);
        }
        float s0 = VectorMath.sum(a0.add(a1).add(a2.add(a3))), s1 = VectorMath.sum(b0.add(b1).add(b2.add(b3)));
        float s2 = VectorMath.sum(c0.add(c1).add(c2.add(c3))), s3 = VectorMath.sum(d0.add(d1).add(d2.add(d3)));
        for (; c < C; c++) {
            float wc = w[wOff + c];
            s0 += x[x0 + c] * wc;
            s1 += x[x1 + c] * wc;
            s2 += x[x2 + c] * wc;
            s3 += x[x3 + c] * wc;
        }
        out[outOff] = s0 + b;
        out[outOff + stride] = s1 + b;
        out[outOff + 2 * stride] = s2 + b;
        out[outOff + 3 * stride] = s3 + b;
    }

    /**
     * Causal attention of the chunk's n rows, each over its own sequence's cache, after appending the
     * rows' keys and values to their caches. One task per head: it stores the head's keys and values
     * for all n rows, then answers the rows in order (a prompt chunk's later rows see its earlier ones).
     */
    private void attention(int l, int n) {
        Parallel.forRange(NH, Parallel.WHOLE_TASKS, (start, end) -> {
            for (int h = start; h < end; h++) {
                for (int i = 0; i < n; i++) {
                    Sequence seq = rowSequence[i];
                    int src = i * 3 * C + h * hs, dst = ((l * NH + h) * maxT + rowPosition[i]) * hs;
                    System.arraycopy(qkv, src + C, seq.keys, dst, hs);
                    System.arraycopy(qkv, src + 2 * C, seq.values, dst, hs);
                }
                for (int i = 0; i < n; i++) {
                    Sequence seq = rowSequence[i];
                    attendOne(qkv, i * 3 * C + h * hs, seq.keys, seq.values, (l * NH + h) * maxT * hs, rowPosition[i] + 1,
                            scores, (i * NH + h) * maxT, atty, i * C + h * hs);
                }
            }
        });
    }

    /**
     * out[0, hs) = softmax(q · Kᵀ · scale) · V over the first {@code n} cached positions of one head.
     * Whole vectors plus a scalar tail, no masks: the hot loops stay plain loads and FMAs.
     */
    private void attendOne(float[] q, int qOff, float[] keys, float[] values, int cache, int n, float[] s, int sOff,
                           float[] out, int outOff) {

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
