package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.Slice;
import dev.jgpt.tensor.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Causal multi-head self-attention over a fused qkv activation (B, T, 3C: q, k, v, heads side by side
 * in each), scale 1/√head_size.
 *
 * <p>Work is split by (batch, head). Each task walks the queries in blocks of {@link #QUERY_BLOCK}
 * rows: a block's scores against the keys it may see form a (block × keys) tile, small and linear in
 * T, so the (T × T) matrix is never stored, not even for one head. The forward keeps only the
 * log-sum-exp of each query row (B, NH, T); the backward recomputes the probabilities from it. Every
 * product in both directions — QKᵀ, PV, dO·Vᵀ, dS·K, dSᵀ·Q, Pᵀ·dO — runs on {@link Matmul}'s
 * micro-kernel over per-thread copies of this head's rows.
 */
public final class Attention {
    static final int QUERY_BLOCK = 64;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[0]);

    private Attention() {
    }

    private static float[] scratch(int size) {
        float[] s = SCRATCH.get();
        if (s.length < size) {
            s = new float[size];
            SCRATCH.set(s);
        }
        return s;
    }

    /** out (B, T, C) and lse (B, NH, T) from qkv (B, T, 3C). */
    public static void forward(Slice out, Slice lse, Slice qkv, int B, int T, int C, int NH) {
        forward(out.array(), out.offset(), lse.array(), lse.offset(), qkv.array(), qkv.offset(), B, T, C, NH);
    }

    static void forward(float[] out, int outOff, float[] lse, int lseOff, float[] qkv, int qkvOff,
                        int B, int T, int C, int NH) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        Parallel.forRange(B * NH, Parallel.WHOLE_TASKS, (start, end) -> {
            int QB = QUERY_BLOCK;
            float[] s = scratch(2 * T * hs + 2 * QB * hs + QB * T);
            int k = 0, v = T * hs, q = 2 * T * hs, o = q + QB * hs, p = o + QB * hs;
            for (int task = start; task < end; task++) {
                int b = task / NH, h = task % NH;
                int base = qkvOff + b * T * 3 * C + h * hs;
                gather(qkv, base + C, 3 * C, s, k, T, hs);
                gather(qkv, base + 2 * C, 3 * C, s, v, T, hs);
                for (int t0 = 0; t0 < T; t0 += QB) {
                    int m = Math.min(QB, T - t0), n = t0 + m; // queries t0..t0+m see keys 0..n-1
                    gather(qkv, base + t0 * 3 * C, 3 * C, s, q, m, hs);
                    Matmul.forward(s, p, s, q, s, k, null, 0, m, hs, n);
                    for (int r = 0; r < m; r++) {
                        lse[lseOff + (b * NH + h) * T + t0 + r] = softmaxRow(s, p + r * n, t0 + r + 1, n, scale);
                    }
                    Arrays.fill(s, o, o + m * hs, 0f);
                    Matmul.backwardInput(s, o, s, p, s, v, m, hs, n); // O = P · V
                    scatter(s, o, out, outOff + (b * T + t0) * C + h * hs, C, m, hs, false);
                }
            }
        });
    }

    /** dqkv += gradients for q, k, v, given dout (B, T, C) and the forward's out and lse. */
    public static void backward(Slice dqkv, Slice dout, Slice qkv, Slice out, Slice lse, int B, int T, int C, int NH) {
        backward(dqkv.array(), dqkv.offset(), dout.array(), dout.offset(), qkv.array(), qkv.offset(),
                out.array(), out.offset(), lse.array(), lse.offset(), B, T, C, NH);
    }

    static void backward(float[] dqkv, int dqkvOff, float[] dout, int doutOff, float[] qkv, int qkvOff,
                         float[] out, int outOff, float[] lse, int lseOff, int B, int T, int C, int NH) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        Parallel.forRange(B * NH, Parallel.WHOLE_TASKS, (start, end) -> {
            int QB = QUERY_BLOCK;
            float[] s = scratch(4 * T * hs + 3 * QB * hs + 2 * QB * T + QB);
            int k = 0, v = T * hs, dk = 2 * T * hs, dv = 3 * T * hs;
            int q = 4 * T * hs, dO = q + QB * hs, dq = dO + QB * hs, p = dq + QB * hs, ds = p + QB * T, D = ds + QB * T;
            for (int task = start; task < end; task++) {
                int b = task / NH, h = task % NH;
                int base = qkvOff + b * T * 3 * C + h * hs;
                gather(qkv, base + C, 3 * C, s, k, T, hs);
                gather(qkv, base + 2 * C, 3 * C, s, v, T, hs);
                Arrays.fill(s, dk, dk + 2 * T * hs, 0f);
                for (int t0 = 0; t0 < T; t0 += QB) {
                    int m = Math.min(QB, T - t0), n = t0 + m;
                    int rows = (b * T + t0) * C + h * hs; // this block's rows in out / dout
                    gather(qkv, base + t0 * 3 * C, 3 * C, s, q, m, hs);
                    gather(dout, doutOff + rows, C, s, dO, m, hs);
                    for (int r = 0; r < m; r++) s[D + r] = dot(dout, doutOff + rows + r * C, out, outOff + rows + r * C, hs);
                    // recompute P from the saved log-sum-exp
                    Matmul.forward(s, p, s, q, s, k, null, 0, m, hs, n);
                    for (int r = 0; r < m; r++) {
                        probabilityRow(s, p + r * n, t0 + r + 1, n, scale, lse[lseOff + (b * NH + h) * T + t0 + r]);
                    }
                    Matmul.forward(s, ds, s, dO, s, v, null, 0, m, hs, n); // dP = dO · Vᵀ
                    for (int r = 0; r < m; r++) {
                        int pr = p + r * n, dr = ds + r * n;
                        float Dr = s[D + r];
                        for (int t2 = 0; t2 < n; t2++) s[dr + t2] = s[pr + t2] * (s[dr + t2] - Dr) * scale; // dS, pre-scaled
                    }
                    Arrays.fill(s, dq, dq + m * hs, 0f);
                    Matmul.backwardInput(s, dq, s, ds, s, k, m, hs, n);                 // dQ = dS · K
                    Matmul.backwardWeight(s, dk, null, 0, s, ds, s, q, m, hs, n);       // dK += dSᵀ · Q
                    Matmul.backwardWeight(s, dv, null, 0, s, p, s, dO, m, hs, n);       // dV += Pᵀ · dO
                    scatter(s, dq, dqkv, dqkvOff + b * T * 3 * C + t0 * 3 * C + h * hs, 3 * C, m, hs, true);
                }
                scatter(s, dk, dqkv, dqkvOff + b * T * 3 * C + C + h * hs, 3 * C, T, hs, true);
                scatter(s, dv, dqkv, dqkvOff + b * T * 3 * C + 2 * C + h * hs, 3 * C, T, hs, true);
            }
        });
    }

    /**
     * Row of scores → probabilities in place: scale, keep the first {@code visible} (the causal mask),
     * softmax over them, zero the rest up to {@code n}; returns the row's log-sum-exp.
     */
    private static float softmaxRow(float[] x, int off, int visible, int n, float scale) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < visible; i++) max = Math.max(max, x[off + i] * scale);
        float sum = 0f;
        int i = 0;
        FloatVector acc = FloatVector.zero(S);
        for (int bound = S.loopBound(visible); i < bound; i += L) {
            FloatVector e = VectorMath.exp(FloatVector.fromArray(S, x, off + i).mul(scale).sub(max));
            e.intoArray(x, off + i);
            acc = acc.add(e);
        }
        sum = VectorMath.sum(acc);
        for (; i < visible; i++) {
            float e = VectorMath.exp(x[off + i] * scale - max);
            x[off + i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (i = 0; i < visible; i++) x[off + i] *= inv;
        Arrays.fill(x, off + visible, off + n, 0f);
        return max + (float) Math.log(sum);
    }

    /** Row of scores → the forward's probabilities, exp(scale·s − lse), zero past the causal mask. */
    private static void probabilityRow(float[] x, int off, int visible, int n, float scale, float lse) {
        int i = 0;
        for (int bound = S.loopBound(visible); i < bound; i += L) {
            VectorMath.exp(FloatVector.fromArray(S, x, off + i).mul(scale).sub(lse)).intoArray(x, off + i);
        }
        for (; i < visible; i++) x[off + i] = VectorMath.exp(x[off + i] * scale - lse);
        Arrays.fill(x, off + visible, off + n, 0f);
    }

    /** dst[r·hs + d] = src[srcOff + r·stride + d]: one head's rows, made contiguous. */
    private static void gather(float[] src, int srcOff, int stride, float[] dst, int dstOff, int rows, int hs) {
        for (int r = 0; r < rows; r++) System.arraycopy(src, srcOff + r * stride, dst, dstOff + r * hs, hs);
    }

    /** The inverse of {@link #gather}, adding into dst when {@code add}. */
    private static void scatter(float[] src, int srcOff, float[] dst, int dstOff, int stride, int rows, int hs, boolean add) {
        for (int r = 0; r < rows; r++) {
            int from = srcOff + r * hs, to = dstOff + r * stride;
            if (!add) {
                System.arraycopy(src, from, dst, to, hs);
                continue;
            }
            int d = 0;
            for (int bound = S.loopBound(hs); d < bound; d += L) {
                FloatVector.fromArray(S, dst, to + d).add(FloatVector.fromArray(S, src, from + d)).intoArray(dst, to + d);
            }
            for (; d < hs; d++) dst[to + d] += src[from + d];
        }
    }

    private static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            acc = FloatVector.fromArray(S, a, aOff + i).fma(FloatVector.fromArray(S, b, bOff + i), acc);
        }
        float sum = VectorMath.sum(acc);
        for (; i < n; i++) sum += a[aOff + i] * b[bOff + i];
        return sum;
    }
}
