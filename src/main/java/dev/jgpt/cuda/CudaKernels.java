package dev.jgpt.cuda;

import dev.jgpt.JgptException;

import java.util.Arrays;

/**
 * The GPU twin of dev.jgpt.kernels: the same operations with the same arguments and meaning (buffers
 * as device addresses; "+=" where the CPU kernel adds), each one launch or a few of the kernels in
 * resources/cuda, plus cuBLAS or cuBLASLt for the matmuls ({@link MatmulPath}). Scratch space (partial
 * sums, attention's row terms, the token buckets of the embedding backward) is owned here and grows as
 * needed.
 */
public final class CudaKernels {
    private static final int BLOCK = 256;
    private static final int ROW_WARPS = 4;          // rows per block for the one-warp-per-row kernels
    private static final int CLASSIFIER_BLOCK = 512;
    /** The most threads per block any launch here asks for: every kernel's registers must allow it. */
    // attention.cu's tiled kernels: TILE query rows or KEY_ROWS key rows per block of TILED_THREADS
    private static final int TILE = 64, KEY_ROWS = 32, TILED_THREADS = 256;
    public static final int LARGEST_BLOCK = Math.max(Math.max(BLOCK, TILED_THREADS), Math.max(32 * ROW_WARPS, CLASSIFIER_BLOCK));
    private static final int NORM_BLOCKS = 1024;
    static final int MAX_HEAD_SIZE = 32 * 8;         // attention.cu's and decode.cu's HS_PER_LANE lanes of 32
    /** The head size of attention.cu's tiled kernels (every GPT-2 size has it); others take the warp-per-row ones. */
    static final int TILED_HEAD_SIZE = 64;

    private final Cuda cuda;
    private final MatmulPath matmulPath;
    private DeviceBuffer partial, rowTerms, normPartial, bucketTokens, bucketStarts, positions, biasGradient;

    /** The matmuls on the path JGPT_MATMUL selects. */
    public CudaKernels(Cuda cuda) {
        this(cuda, MatmulPath.selected());
    }

    public CudaKernels(Cuda cuda, MatmulPath matmulPath) {
        this.cuda = cuda;
        this.matmulPath = matmulPath;
    }

    public MatmulPath matmulPath() {
        return matmulPath;
    }

    public Cuda cuda() {
        return cuda;
    }

    private static int blocks(long n, int block) {
        long b = (n + block - 1) / block;
        if (b > Integer.MAX_VALUE) throw new JgptException("a launch of " + n + " threads is too large");
        return (int) Math.max(1, b);
    }

    private DeviceBuffer grow(DeviceBuffer b, long floats) {
        if (b != null && b.count >= floats) return b;
        if (b != null) cuda.free(b);
        return cuda.floats(Math.max(floats, b == null ? 0 : b.count * 2));
    }

    private static int checkedInt(long n, String what) {
        if (n > Integer.MAX_VALUE) throw new JgptException(what + " of " + n + " elements exceeds the kernels' int range");
        return (int) n;
    }

    /** Frees the scratch buffers. */
    public void free() {
        for (DeviceBuffer b : new DeviceBuffer[]{partial, rowTerms, normPartial, bucketTokens, bucketStarts, positions, biasGradient}) {
            if (b != null) cuda.free(b);
        }
        partial = rowTerms = normPartial = bucketTokens = bucketStarts = positions = biasGradient = null;
    }

    // ---- encoder ----

    public void encoderForward(long out, long tokens, long wte, long wpe, int B, int T, int C) {
        cuda.launch("encoder_forward", blocks((long) B * T * C, BLOCK), 1, BLOCK, out, tokens, wte, wpe, B * T, T, C);
    }

    /**
     * dwte[token] += dout, dwpe[t] += dout, summing each token's positions in position order (as the
     * CPU does): the positions are grouped by token here, on the host, from the batch's tokens.
     */
    public void encoderBackward(long dwte, long dwpe, long dout, int[] tokens, int B, int T, int C) {
        int BT = B * T;
        long[] order = new long[BT]; // token in the high half, position in the low: one sort of primitives
        for (int i = 0; i < BT; i++) order[i] = (long) tokens[i] << 32 | i;
        Arrays.sort(order);
        int[] pos = new int[BT], starts = new int[BT + 1], toks = new int[BT];
        int buckets = 0;
        for (int i = 0; i < BT; i++) {
            pos[i] = (int) order[i];
            int token = (int) (order[i] >>> 32);
            if (i == 0 || token != toks[buckets - 1]) {
                toks[buckets] = token;
                starts[buckets++] = i;
            }
        }
        starts[buckets] = BT;
        positions = grow(positions, BT);
        bucketStarts = grow(bucketStarts, BT + 1);
        bucketTokens = grow(bucketTokens, BT);
        cuda.upload(positions, pos);
        cuda.upload(bucketStarts, starts);
        cuda.upload(bucketTokens, toks);
        cuda.launch("encoder_backward_wte", buckets, blocks(C, BLOCK), BLOCK, dwte, dout, bucketTokens, bucketStarts, positions, C);
        cuda.launch("encoder_backward_wpe", blocks((long) T * C, BLOCK), 1, BLOCK, dwpe, dout, B, T, C);
    }

    // ---- layernorm ----

    public void layernormForward(long out, long mean, long rstd, long inp, long weight, long bias, int N, int C) {
        cuda.launch("layernorm_forward", blocks(N, ROW_WARPS), 1, 32 * ROW_WARPS, out, mean, rstd, inp, weight, bias, N, C);
    }

    /** dinp += ∂L/∂inp; dweight, dbias += their gradients. */
    public void layernormBackward(long dinp, long dweight, long dbias, long dout, long inp, long weight, long mean, long rstd,
                                  int N, int C) {
        cuda.launch("layernorm_backward_input", blocks(N, ROW_WARPS), 1, 32 * ROW_WARPS, dinp, dout, inp, weight, mean, rstd, N, C);
        int rowsPerChunk = rowsPerChunk(N), chunks = blocks(N, rowsPerChunk);
        partial = grow(partial, 2L * chunks * C);
        cuda.launch("layernorm_backward_params_partial", blocks(C, BLOCK), chunks, BLOCK, partial, dout, inp, mean, rstd, N, C, rowsPerChunk);
        cuda.launch("add_column_partials", blocks(C, BLOCK), 1, BLOCK, dweight, partial, chunks, 2 * C, C);
        cuda.launch("add_column_partials", blocks(C, BLOCK), 1, BLOCK, dbias, partial.at(C), chunks, 2 * C, C);
    }

    /** Rows per partial-sum chunk: at most 512 chunks, at least 32 rows each. */
    private static int rowsPerChunk(int N) {
        return Math.max(32, (N + 511) / 512);
    }

    // ---- matmul ----

    /**
     * out[r, o] = bias[o] + Σ_c inp[r, c] · w[o, c]; bias may be 0 (none). cuBLAS: the bias is copied
     * into every row, then the GEMM adds onto it. cuBLASLt: one GEMM with the bias epilogue (where the
     * bias is aligned for it and an algorithm exists; otherwise as cuBLAS does).
     */
    public void matmulForward(long out, long inp, long w, long bias, int rows, int C, int OC) {
        if (matmulPath == MatmulPath.CUBLASLT) {
            CublasLt lt = cuda.cublasLt();
            if (bias != 0 && lt.forwardWithBias(out, inp, w, bias, rows, C, OC)) return;
            if (bias != 0) biasBroadcast(out, bias, rows, OC);
            lt.forward(out, inp, w, rows, C, OC, bias != 0);
            return;
        }
        if (bias != 0) biasBroadcast(out, bias, rows, OC);
        cuda.cublas().forward(out, inp, w, rows, C, OC, bias != 0);
    }

    private void biasBroadcast(long out, long bias, int rows, int OC) {
        cuda.launch("bias_broadcast", blocks((long) rows * OC, BLOCK), 1, BLOCK, out, bias, rows, OC);
    }

    /**
     * dinp += dout · W (skipped when dinp is 0), dw += doutᵀ · inp, dbias += Σ_r dout (skipped when 0).
     * cuBLAS: the bias gradient is two kernels of column sums over dout. cuBLASLt: the weight
     * gradient's GEMM writes it with the BGRADB epilogue into scratch (the epilogue writes; gradients
     * add, across micro-batches too), and one small kernel adds that to dbias.
     */
    public void matmulBackward(long dinp, long dw, long dbias, long dout, long inp, long w, int rows, int C, int OC) {
        if (matmulPath == MatmulPath.CUBLASLT) {
            CublasLt lt = cuda.cublasLt();
            if (dinp != 0) lt.backwardInput(dinp, dout, w, rows, C, OC);
            if (dbias != 0) {
                biasGradient = grow(biasGradient, OC);
                if (lt.backwardWeightWithBias(dw, biasGradient.address, dout, inp, rows, C, OC)) {
                    accumulate(dbias, biasGradient.address, OC);
                    return;
                }
            }
            lt.backwardWeight(dw, dout, inp, rows, C, OC);
            if (dbias != 0) addColumnSums(dbias, dout, rows, OC);
            return;
        }
        if (dinp != 0) cuda.cublas().backwardInput(dinp, dout, w, rows, C, OC);
        cuda.cublas().backwardWeight(dw, dout, inp, rows, C, OC);
        if (dbias != 0) addColumnSums(dbias, dout, rows, OC);
    }

    /** dbias[o] += Σ_r dout[r, o]: partial sums over chunks of rows, then the partials in chunk order. */
    private void addColumnSums(long dbias, long dout, int rows, int OC) {
        int rowsPerChunk = rowsPerChunk(rows), chunks = blocks(rows, rowsPerChunk);
        partial = grow(partial, (long) chunks * OC);
        cuda.launch("column_sums_partial", blocks(OC, BLOCK), chunks, BLOCK, partial, dout, rows, OC, rowsPerChunk);
        cuda.launch("add_column_partials", blocks(OC, BLOCK), 1, BLOCK, dbias, partial, chunks, OC, OC);
    }

    // ---- attention ----

    private static void checkHeads(int C, int NH) {
        if (C / NH > MAX_HEAD_SIZE) {
            throw new JgptException("head size " + C / NH + " exceeds the CUDA attention kernel's " + MAX_HEAD_SIZE);
        }
    }

    /** out (B, T, C) and lse (B, NH, T) from qkv (B, T, 3C). */
    public void attentionForward(long out, long lse, long qkv, int B, int T, int C, int NH) {
        checkHeads(C, NH);
        if (C / NH == TILED_HEAD_SIZE) {
            cuda.launch("attention_forward_tiled", blocks(T, TILE), B * NH, TILED_THREADS, out, lse, qkv, B, T, C, NH);
            return;
        }
        cuda.launch("attention_forward", blocks(T, ROW_WARPS), B * NH, 32 * ROW_WARPS, out, lse, qkv, B, T, C, NH);
    }

    /** dqkv += gradients for q, k, v, given dout (B, T, C) and the forward's out and lse. */
    public void attentionBackward(long dqkv, long dout, long qkv, long out, long lse, int B, int T, int C, int NH) {
        checkHeads(C, NH);
        rowTerms = grow(rowTerms, (long) B * NH * T);
        int gx = blocks(T, ROW_WARPS), gy = B * NH, block = 32 * ROW_WARPS;
        cuda.launch("attention_backward_rowdot", gx, gy, block, rowTerms, dout, out, B, T, C, NH);
        if (C / NH == TILED_HEAD_SIZE) {
            cuda.launch("attention_backward_query_tiled", blocks(T, TILE), gy, TILED_THREADS, dqkv, dout, qkv, lse, rowTerms, B, T, C, NH);
            cuda.launch("attention_backward_key_tiled", blocks(T, KEY_ROWS), gy, TILED_THREADS, dqkv, dout, qkv, lse, rowTerms, B, T, C, NH);
            return;
        }
        cuda.launch("attention_backward_query", gx, gy, block, dqkv, dout, qkv, lse, rowTerms, B, T, C, NH);
        cuda.launch("attention_backward_key", gx, gy, block, dqkv, dout, qkv, lse, rowTerms, B, T, C, NH);
    }

    // ---- decoding with a key/value cache (decode.cu) ----
    //
    // n rows, row r a token of its own sequence: tokens[r] and positions[r] (int arrays on the device),
    // caches[r] the device address of its sequence's cache (keys [L][NH][maxT][hs], then values).

    /** out[r] = wte[tokens[r]] + wpe[positions[r]], n rows of C. */
    public void decodeEmbed(long out, long tokens, long positions, long wte, long wpe, int n, int C) {
        cuda.launch("decode_embed", blocks((long) n * C, BLOCK), 1, BLOCK, out, tokens, positions, wte, wpe, n, C);
    }

    /** Each row's key and value of {@code layer}, from qkv (n, 3C), into its cache at its position. */
    public void kvStore(long caches, long positions, long qkv, int n, int L, int layer, int C, int NH, int maxT) {
        cuda.launch("kv_store", blocks((long) n * C, BLOCK), 1, BLOCK, caches, positions, qkv, n, L, layer, C, NH, maxT);
    }

    /** out (n, C): each row's query from qkv (n, 3C) over its cache's positions 0 .. positions[r] of {@code layer}. */
    public void decodeAttention(long out, long qkv, long caches, long positions, int n, int L, int layer, int C, int NH, int maxT) {
        checkHeads(C, NH);
        cuda.launch("decode_attention", blocks(n, ROW_WARPS), NH, 32 * ROW_WARPS, out, qkv, caches, positions, n, L, layer, C, NH, maxT);
    }

    // ---- elementwise ----

    public void geluForward(long out, long inp, long n) {
        cuda.launch("gelu_forward", blocks(n, BLOCK), 1, BLOCK, out, inp, checkedInt(n, "gelu"));
    }

    /** dinp += dout · gelu'(inp). */
    public void geluBackward(long dinp, long inp, long dout, long n) {
        cuda.launch("gelu_backward", blocks(n, BLOCK), 1, BLOCK, dinp, inp, dout, checkedInt(n, "gelu"));
    }

    public void residualForward(long out, long a, long b, long n) {
        cuda.launch("residual_forward", blocks(n, BLOCK), 1, BLOCK, out, a, b, checkedInt(n, "residual"));
    }

    /** dst += src. */
    public void accumulate(long dst, long src, long n) {
        cuda.launch("accumulate", blocks(n, BLOCK), 1, BLOCK, dst, src, checkedInt(n, "accumulate"));
    }

    // ---- classifier ----

    /** losses[r] = −log softmax(logits[r])[target[r]] over the first V of Vp columns; 0 where the target is -1. */
    public void crossEntropyForward(long losses, long logits, long targets, int rows, int V, int Vp) {
        cuda.launch("crossentropy_forward", rows, 1, CLASSIFIER_BLOCK, losses, logits, targets, V, Vp);
    }

    /** The losses, and the logits overwritten with dloss · (softmax − onehot(target)), in one launch. */
    public void classifierFused(long logits, long losses, long targets, float dloss, int rows, int V, int Vp) {
        cuda.launch("classifier_fused", rows, 1, CLASSIFIER_BLOCK, logits, losses, targets, dloss, V, Vp);
    }

    // ---- optimizer ----

    /**
     * One AdamW step over params/grads/m/v [from, to) (element indices), the gradient scaled by
     * {@code gradScale}, then zeroed; the scalars are derived as kernels/AdamW.update derives them.
     */
    public void adamw(DeviceBuffer params, DeviceBuffer grads, DeviceBuffer m, DeviceBuffer v, long from, long to,
                      float gradScale, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        float decay = 1f - lr * weightDecay;
        float stepSize = (float) (lr / (1.0 - Math.pow(beta1, step)));
        float invSqrtBc2 = (float) (1.0 / Math.sqrt(1.0 - Math.pow(beta2, step)));
        long n = to - from;
        cuda.launch("adamw_update", blocks(n, BLOCK), 1, BLOCK, params.at(from), grads.at(from), m.at(from), v.at(from),
                checkedInt(n, "adamw"), gradScale, beta1, beta2, eps, decay, stepSize, invSqrtBc2);
    }

    /** Σ x² over n floats from {@code x}: per-block partial sums in double, added here in order. */
    public double sumOfSquares(long x, long n) {
        int grid = Math.min(NORM_BLOCKS, blocks(n, BLOCK));
        if (normPartial == null) normPartial = cuda.doubles(NORM_BLOCKS);
        cuda.launch("sum_squares_partial", grid, 1, BLOCK, normPartial, x, n);
        double[] parts = new double[grid];
        cuda.download(parts, normPartial);
        double sum = 0;
        for (double p : parts) sum += p;
        return sum;
    }
}
