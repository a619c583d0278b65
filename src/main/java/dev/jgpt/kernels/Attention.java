package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Causal multi-head self-attention over a fused qkv activation (B, T, 3C: q, k, v, heads side by side
 * in each), scale 1/√head_size. The (T × T) score matrix is never stored: the forward keeps only the
 * log-sum-exp of each query row (B, NH, T), and the backward recomputes the probabilities from it,
 * one query row at a time, so memory stays linear in T.
 *
 * <p>Work is split by (batch, head); each task transposes its K (and V in backward) into a per-thread
 * scratch so that a row of scores is a broadcast-FMA over contiguous keys rather than T dot products.
 */
public final class Attention {
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
    public static void forward(float[] out, int outOff, float[] lse, int lseOff, float[] qkv, int qkvOff,
                               int B, int T, int C, int NH) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        Parallel.forRange(B * NH, 1, (start, end) -> {
            float[] s = scratch(hs * T + T);
            int kT = 0, scores = hs * T;
            for (int task = start; task < end; task++) {
                int b = task / NH, h = task % NH;
                int base = qkvOff + b * T * 3 * C + h * hs;
                transpose(qkv, base + C, 3 * C, s, kT, T, hs);
                for (int t = 0; t < T; t++) {
                    int q = base + t * 3 * C;
                    float max = scoreRow(s, scores, qkv, q, scale, s, kT, T, hs, t + 1);
                    float sum = expRow(s, scores, t + 1, max);
                    int o = outOff + (b * T + t) * C + h * hs;
                    java.util.Arrays.fill(out, o, o + hs, 0f);
                    float inv = 1f / sum;
                    for (int t2 = 0; t2 <= t; t2++) {
                        axpy(out, o, s[scores + t2] * inv, qkv, base + t2 * 3 * C + 2 * C, hs);
                    }
                    lse[lseOff + (b * NH + h) * T + t] = max + (float) Math.log(sum);
                }
            }
        });
    }

    /** dqkv += gradients for q, k, v, given dout (B, T, C) and the forward's out and lse. */
    public static void backward(float[] dqkv, int dqkvOff, float[] dout, int doutOff, float[] qkv, int qkvOff,
                                float[] out, int outOff, float[] lse, int lseOff, int B, int T, int C, int NH) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        Parallel.forRange(B * NH, 1, (start, end) -> {
            float[] s = scratch(2 * hs * T + 2 * T);
            int kT = 0, vT = hs * T, p = 2 * hs * T, dp = p + T;
            for (int task = start; task < end; task++) {
                int b = task / NH, h = task % NH;
                int base = qkvOff + b * T * 3 * C + h * hs;
                int dbase = dqkvOff + b * T * 3 * C + h * hs;
                transpose(qkv, base + C, 3 * C, s, kT, T, hs);
                transpose(qkv, base + 2 * C, 3 * C, s, vT, T, hs);
                for (int t = 0; t < T; t++) {
                    int q = base + t * 3 * C, n = t + 1;
                    int go = doutOff + (b * T + t) * C + h * hs;
                    int oo = outOff + (b * T + t) * C + h * hs;
                    scoreRow(s, p, qkv, q, scale, s, kT, T, hs, n);
                    expRow(s, p, n, lse[lseOff + (b * NH + h) * T + t]);
                    scoreRow(s, dp, dout, go, 1f, s, vT, T, hs, n);
                    float D = dot(dout, go, out, oo, hs);
                    // ds = p · (dp − D), scaled once here for both dq and dk
                    for (int t2 = 0; t2 < n; t2++) s[dp + t2] = s[p + t2] * (s[dp + t2] - D) * scale;
                    int dq = dbase + t * 3 * C;
                    for (int t2 = 0; t2 < n; t2++) {
                        float ds = s[dp + t2];
                        int row = t2 * 3 * C;
                        axpy(dqkv, dq, ds, qkv, base + row + C, hs);
                        axpy(dqkv, dbase + row + C, ds, qkv, q, hs);
                        axpy(dqkv, dbase + row + 2 * C, s[p + t2], dout, go, hs);
                    }
                }
            }
        });
    }

    /** dst[d·T + t] = src[srcOff + t·stride + d] for t < T, d < hs. */
    private static void transpose(float[] src, int srcOff, int stride, float[] dst, int dstOff, int T, int hs) {
        for (int t = 0; t < T; t++) {
            int row = srcOff + t * stride;
            for (int d = 0; d < hs; d++) dst[dstOff + d * T + t] = src[row + d];
        }
    }

    /**
     * row[t2] = scale · Σ_d x[d] · kT[d, t2] for t2 < n; returns the row's maximum. Broadcast of x[d]
     * against a contiguous run of keys, so no horizontal sums.
     */
    private static float scoreRow(float[] row, int rowOff, float[] x, int xOff, float scale,
                                  float[] kT, int kTOff, int T, int hs, int n) {
        FloatVector maxv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int t2 = 0; t2 < n; t2 += L) {
            VectorMask<Float> m = S.indexInRange(t2, n);
            FloatVector acc = FloatVector.zero(S);
            for (int d = 0; d < hs; d++) {
                acc = FloatVector.fromArray(S, kT, kTOff + d * T + t2, m).fma(FloatVector.broadcast(S, x[xOff + d]), acc);
            }
            acc = acc.mul(scale);
            acc.intoArray(row, rowOff + t2, m);
            maxv = maxv.blend(maxv.max(acc), m);
        }
        return maxv.reduceLanes(VectorOperators.MAX);
    }

    /** row[t2] = exp(row[t2] − shift) for t2 < n; returns their sum. */
    private static float expRow(float[] row, int rowOff, int n, float shift) {
        FloatVector sum = FloatVector.zero(S);
        for (int t2 = 0; t2 < n; t2 += L) {
            VectorMask<Float> m = S.indexInRange(t2, n);
            FloatVector e = FloatVector.fromArray(S, row, rowOff + t2, m).sub(shift).lanewise(VectorOperators.EXP);
            e.intoArray(row, rowOff + t2, m);
            sum = sum.add(e, m);
        }
        return sum.reduceLanes(VectorOperators.ADD);
    }

    /** y[0..n) += a · x[0..n). */
    private static void axpy(float[] y, int yOff, float a, float[] x, int xOff, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector.fromArray(S, x, xOff + i).fma(FloatVector.broadcast(S, a), FloatVector.fromArray(S, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) y[yOff + i] += a * x[xOff + i];
    }

    private static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            acc = FloatVector.fromArray(S, a, aOff + i).fma(FloatVector.fromArray(S, b, bOff + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += a[aOff + i] * b[bOff + i];
        return sum;
    }
}
