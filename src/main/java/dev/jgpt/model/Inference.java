package dev.jgpt.model;

import dev.jgpt.kernels.Bf16;
import dev.jgpt.kernels.LayerNorm;
import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.Slice;
import dev.jgpt.tensor.VectorMath;
import dev.jgpt.tensor.View;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.IdentityHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * Incremental decoding with a key/value cache, on the CPU (its {@link Decoder}). A {@link Sequence}
 * holds one sequence's cached keys and values and the logits after its last token. {@link #prefill}
 * runs a prompt (in chunks of up to {@value #CHUNK} rows, through the same {@link Block} as training);
 * {@link #step} then adds one token to each of up to {@value #CHUNK} sequences at once, attending over
 * each one's cached positions. A step
 * reads every weight once for all its sequences: decoding is bound by memory bandwidth, so n
 * sequences cost little more than one.
 *
 * <p>A step rounds each sequence's row exactly as it would alone: its matrix products are asked for
 * row by row ({@link Weight#forward}'s rowWise), which sum a row the same way whatever the number of
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
 * block) are read from a bf16 copy ({@link Bf16Weight}), half the bytes; biases, LayerNorm, activations, the cache and all
 * arithmetic stay float32. The logits are then those of float32 math on the model with its matrices
 * rounded to bf16.
 *
 * <p>Not thread-safe: one thread drives a decoder and its sequences.
 */
public final class Inference implements Decoder {
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

    /** One sequence being decoded: the keys and values of its positions and the logits after the last. */
    public final class Sequence extends Decoder.Sequence {
        // keys and values of every layer, head and position: [L][NH][maxT][hs]
        private final float[] keys, values;

        private Sequence() {
            super(cfg);
            int cacheSize = Math.toIntExact((long) L * maxT * C);
            keys = new float[cacheSize];
            values = new float[cacheSize];
        }

        private Inference owner() {
            return Inference.this;
        }
    }

    private final GptConfig cfg;
    private final GptLayout layout;
    private final Precision precision;
    private final Parallel pool;
    // the weight matrices as this decoder reads them: the model's own (FP32) or a bf16 copy
    private final Weight wte, wpe;
    private final Slice lnfw, lnfb;
    // a block's operations on a chunk: the rows tiled, or each row rounding as it would alone
    private final ChunkOps tiled, rowWise;
    private final int L, C, NH, hs, maxT, V, Vp;
    private final float scale;

    // per-chunk activations, CHUNK rows each
    private final float[] x, ln, qkv, atty, tmp, fch, mean, rstd;
    // attention scores: [CHUNK][NH][maxT]
    private final float[] scores;
    private final Block.Buffers<Slice> chunk; // the buffers above as a block reads and writes them
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
        GptLayout w = model.layout;
        float[] p = model.params();
        this.precision = precision;
        this.pool = model.pool();
        Function<View, Weight> matrix = precision == Precision.BF16
                ? v -> Bf16Weight.of(v.in(p), v.shape()[0], v.shape()[1])
                : v -> new F32Weight(v.in(p));
        wte = matrix.apply(w.wte);
        wpe = matrix.apply(w.wpe);
        Map<View, Weight> matrices = new IdentityHashMap<>();
        for (int l = 0; l < cfg.nLayer(); l++) {
            for (View m : new View[]{w.qkvWeight[l], w.attnProjWeight[l], w.fcWeight[l], w.fcProjWeight[l]}) matrices.put(m, matrix.apply(m));
        }
        layout = w;
        tiled = new ChunkOps(p, matrices, false);
        rowWise = new ChunkOps(p, matrices, true);
        lnfw = w.lnfWeight.in(p);
        lnfb = w.lnfBias.in(p);
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
        // the block adds each residual into x and runs GELU in place: nothing later needs the values it overwrites
        Slice xs = Slice.of(x), lns = Slice.of(ln), fchs = Slice.of(fch), tmps = Slice.of(tmp);
        chunk = new Block.Buffers<>(xs, lns, Slice.of(mean), Slice.of(rstd), Slice.of(qkv), Slice.of(atty), null, tmps,
                xs, lns, Slice.of(mean), Slice.of(rstd), fchs, fchs, tmps, xs);
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
            half = 2 * (Bf16.packedSize((int) maxT, (int) C) + Bf16.packedSize(cfg.paddedVocabSize(), (int) C) + L * ((long) Bf16.packedSize(3 * (int) C, (int) C)
                    + Bf16.packedSize((int) C, (int) C) + Bf16.packedSize(4 * (int) C, (int) C) + Bf16.packedSize((int) C, 4 * (int) C)));
        }
        return 4 * (floats + ints + sequences * perSequence) + half;
    }

    @Override
    public GptConfig config() {
        return cfg;
    }

    @Override
    public Precision precision() {
        return precision;
    }

    @Override
    public Sequence newSequence() {
        return new Sequence();
    }

    @Override
    public float[] prefill(Decoder.Sequence sequence, int[] tokens, int from, int to) {
        Sequence seq = ours(sequence);
        Decoder.checkPrefill(seq, tokens, from, to, V);
        pool.run(() -> prefillChunks(seq, tokens, from, to));
        return seq.logits();
    }

    private void prefillChunks(Sequence seq, int[] tokens, int from, int to) {
        int rows = 0;
        for (int start = from; start < to; start += rows) {
            rows = Math.min(CHUNK, to - start);
            for (int i = 0; i < rows; i++) {
                rowSequence[i] = seq;
                rowPosition[i] = seq.position() + i;
                rowToken[i] = tokens[start + i];
            }
            forwardRows(rows, false);
            seq.advance(rows);
        }
        head(rows - 1, 1, seq.logits());
    }

    @Override
    public void step(Decoder.Sequence[] seqs, int[] tokens, int n) {
        for (int i = 0; i < Math.min(n, seqs.length); i++) ours(seqs[i]);
        Decoder.checkStep(seqs, tokens, n, V);
        for (int i = 0; i < n; i++) {
            rowSequence[i] = (Sequence) seqs[i];
            rowPosition[i] = rowSequence[i].position();
            rowToken[i] = tokens[i];
        }
        if (headOut.length < n * V) headOut = new float[n * V];
        pool.run(() -> {
            forwardRows(n, true);
            head(0, n, headOut);
        });
        for (int i = 0; i < n; i++) {
            System.arraycopy(headOut, i * V, rowSequence[i].logits(), 0, V);
            rowSequence[i].advance(1);
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
        return own().logits();
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
        return own.logits();
    }

    /** seq as this decoder's own sequence; refused if another decoder made it. */
    private Sequence ours(Decoder.Sequence seq) {
        if (!(seq instanceof Sequence s) || s.owner() != this) throw new IllegalArgumentException("the sequence belongs to another decoder");
        return s;
    }


    /**
     * Runs the n rows set in rowSequence/rowPosition/rowToken through the blocks, caching their keys
     * and values. {@code separate}: the rows belong to different sequences and go through the row
     * kernels, whose rounding of a row does not depend on the others; otherwise they are one
     * sequence's consecutive positions (a prompt chunk) and larger chunks take the tiled matmul.
     */
    private void forwardRows(int n, boolean separate) {
        for (int i = 0; i < n; i++) {
            wte.copyRow(rowToken[i], C, x, i * C);
            wpe.addRow(rowPosition[i], C, x, i * C);
        }
        // a lone row (a one-token prompt chunk) takes the row kernels too, and rounds as a step does
        ChunkOps ops = separate || n == 1 ? rowWise : tiled;
        for (int l = 0; l < L; l++) {
            int layer = l;
            Block.forward(ops, layout, l, chunk, (out, qkv) -> attention(layer, n, out, qkv), n, C);
        }
    }

    /** Final LayerNorm and the LM head (tied to wte) for rows [row, row + n) of the chunk just run, into out [n][V]. */
    private void head(int row, int n, float[] out) {
        LayerNorm.forward(Slice.of(ln), Slice.of(mean), Slice.of(rstd), new Slice(x, row * C), lnfw, lnfb, n, C);
        wte.forward(Slice.of(out), Slice.of(ln), Slice.of(zeros), n, C, V, true); // the real vocabulary only
    }

    /**
     * Causal attention of the chunk's n rows, each over its own sequence's cache, after appending the
     * rows' keys and values to their caches. One task per head: it stores the head's keys and values
     * for all n rows, then answers the rows in order (a prompt chunk's later rows see its earlier ones).
     */
    private void attention(int l, int n, Slice out, Slice qkvRows) {
        float[] qkv = qkvRows.array(), atty = out.array();
        int qkvOff = qkvRows.offset(), attyOff = out.offset();
        Parallel.forRange(NH, Parallel.WHOLE_TASKS, (start, end) -> {
            for (int h = start; h < end; h++) {
                for (int i = 0; i < n; i++) {
                    Sequence seq = rowSequence[i];
                    int src = qkvOff + i * 3 * C + h * hs, dst = ((l * NH + h) * maxT + rowPosition[i]) * hs;
                    System.arraycopy(qkv, src + C, seq.keys, dst, hs);
                    System.arraycopy(qkv, src + 2 * C, seq.values, dst, hs);
                }
                for (int i = 0; i < n; i++) {
                    Sequence seq = rowSequence[i];
                    attendOne(qkv, qkvOff + i * 3 * C + h * hs, seq.keys, seq.values, (l * NH + h) * maxT * hs, rowPosition[i] + 1,
                            scores, (i * NH + h) * maxT, atty, attyOff + i * C + h * hs);
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

    /** A block's operations on one chunk: the matrices as this decoder stores them (float32 or bf16), multiplied tiled or row by row. */
    private record ChunkOps(float[] params, Map<View, Weight> matrices, boolean rowWise) implements CpuBlockOps {
        @Override
        public void matmul(Slice out, Slice inp, View weight, View bias, int n, int C, int OC) {
            matrices.get(weight).forward(out, inp, p(bias), n, C, OC, rowWise);
        }
    }
}
