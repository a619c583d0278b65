package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The linear layer {@code out = inp · Wᵀ + bias}, with W stored [OC, C] (PyTorch's nn.Linear order,
 * llm.c's too), and its backward. Every buffer is a flat float[] plus an offset, so views into the
 * one parameter buffer and the activation buffers are passed without copying.
 *
 * <p>All three products are register-tiled 4×4 (forward: 4 rows × 4 outputs of dot products along C;
 * backward: 4 rows × 4 vectors of broadcast FMAs) and blocked so that a slab of W stays in L2 while
 * the rows stream past it. Edge tiles clamp their row index to the last row and skip the stores, so
 * one code path serves every shape; the last partial vector along C is masked.
 */
public final class Matmul {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private static final int ROW_BLOCK = 64;  // rows of inp per task
    private static final int OUT_BLOCK = 64;  // outputs (rows of W) per task in forward
    private static final int COL_BLOCK = 4 * 16; // columns of C per task in backward
    private static final int K_BLOCK = 256;   // reduction slab kept in cache in backward

    private Matmul() {
    }

    /** out[r, o] = bias[o] + Σ_c inp[r, c] · w[o, c]; bias may be null. */
    public static void forward(float[] out, int outOff, float[] inp, int inpOff, float[] w, int wOff,
                               float[] bias, int biasOff, int rows, int C, int OC) {
        int rowTasks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
        int outTasks = (OC + OUT_BLOCK - 1) / OUT_BLOCK;
        Parallel.forRange(rowTasks * outTasks, 1, (start, end) -> {
            for (int task = start; task < end; task++) {
                int r0 = (task / outTasks) * ROW_BLOCK, o0 = (task % outTasks) * OUT_BLOCK;
                forwardBlock(out, outOff, inp, inpOff, w, wOff, bias, biasOff, rows, C, OC,
                        r0, Math.min(rows, r0 + ROW_BLOCK), o0, Math.min(OC, o0 + OUT_BLOCK));
            }
        });
    }

    private static void forwardBlock(float[] out, int outOff, float[] inp, int inpOff, float[] w, int wOff,
                                     float[] bias, int biasOff, int rows, int C, int OC,
                                     int r0, int r1, int o0, int o1) {
        int full = S.loopBound(C);
        VectorMask<Float> tailMask = S.indexInRange(full, C);
        for (int r = r0; r < r1; r += 4) {
            int i0 = inpOff + r * C;
            int i1 = inpOff + Math.min(r + 1, rows - 1) * C;
            int i2 = inpOff + Math.min(r + 2, rows - 1) * C;
            int i3 = inpOff + Math.min(r + 3, rows - 1) * C;
            for (int o = o0; o < o1; o += 4) {
                int w0 = wOff + o * C;
                int w1 = wOff + Math.min(o + 1, OC - 1) * C;
                int w2 = wOff + Math.min(o + 2, OC - 1) * C;
                int w3 = wOff + Math.min(o + 3, OC - 1) * C;
                FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00;
                FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
                FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
                FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
                for (int c = 0; c < full; c += L) {
                    FloatVector x0 = FloatVector.fromArray(S, inp, i0 + c);
                    FloatVector x1 = FloatVector.fromArray(S, inp, i1 + c);
                    FloatVector x2 = FloatVector.fromArray(S, inp, i2 + c);
                    FloatVector x3 = FloatVector.fromArray(S, inp, i3 + c);
                    FloatVector y = FloatVector.fromArray(S, w, w0 + c);
                    a00 = x0.fma(y, a00); a10 = x1.fma(y, a10); a20 = x2.fma(y, a20); a30 = x3.fma(y, a30);
                    y = FloatVector.fromArray(S, w, w1 + c);
                    a01 = x0.fma(y, a01); a11 = x1.fma(y, a11); a21 = x2.fma(y, a21); a31 = x3.fma(y, a31);
                    y = FloatVector.fromArray(S, w, w2 + c);
                    a02 = x0.fma(y, a02); a12 = x1.fma(y, a12); a22 = x2.fma(y, a22); a32 = x3.fma(y, a32);
                    y = FloatVector.fromArray(S, w, w3 + c);
                    a03 = x0.fma(y, a03); a13 = x1.fma(y, a13); a23 = x2.fma(y, a23); a33 = x3.fma(y, a33);
                }
                if (full < C) {
                    FloatVector x0 = FloatVector.fromArray(S, inp, i0 + full, tailMask);
                    FloatVector x1 = FloatVector.fromArray(S, inp, i1 + full, tailMask);
                    FloatVector x2 = FloatVector.fromArray(S, inp, i2 + full, tailMask);
                    FloatVector x3 = FloatVector.fromArray(S, inp, i3 + full, tailMask);
                    FloatVector y = FloatVector.fromArray(S, w, w0 + full, tailMask);
                    a00 = x0.fma(y, a00); a10 = x1.fma(y, a10); a20 = x2.fma(y, a20); a30 = x3.fma(y, a30);
                    y = FloatVector.fromArray(S, w, w1 + full, tailMask);
                    a01 = x0.fma(y, a01); a11 = x1.fma(y, a11); a21 = x2.fma(y, a21); a31 = x3.fma(y, a31);
                    y = FloatVector.fromArray(S, w, w2 + full, tailMask);
                    a02 = x0.fma(y, a02); a12 = x1.fma(y, a12); a22 = x2.fma(y, a22); a32 = x3.fma(y, a32);
                    y = FloatVector.fromArray(S, w, w3 + full, tailMask);
                    a03 = x0.fma(y, a03); a13 = x1.fma(y, a13); a23 = x2.fma(y, a23); a33 = x3.fma(y, a33);
                }
                store(out, outOff, bias, biasOff, rows, OC, r, o, 0, a00, a01, a02, a03);
                store(out, outOff, bias, biasOff, rows, OC, r, o, 1, a10, a11, a12, a13);
                store(out, outOff, bias, biasOff, rows, OC, r, o, 2, a20, a21, a22, a23);
                store(out, outOff, bias, biasOff, rows, OC, r, o, 3, a30, a31, a32, a33);
            }
        }
    }

    private static void store(float[] out, int outOff, float[] bias, int biasOff, int rows, int OC,
                              int r, int o, int i, FloatVector s0, FloatVector s1, FloatVector s2, FloatVector s3) {
        if (r + i >= rows) return;
        int base = outOff + (r + i) * OC + o;
        out[base] = s0.reduceLanes(VectorOperators.ADD) + (bias == null ? 0f : bias[biasOff + o]);
        if (o + 1 < OC) out[base + 1] = s1.reduceLanes(VectorOperators.ADD) + (bias == null ? 0f : bias[biasOff + o + 1]);
        if (o + 2 < OC) out[base + 2] = s2.reduceLanes(VectorOperators.ADD) + (bias == null ? 0f : bias[biasOff + o + 2]);
        if (o + 3 < OC) out[base + 3] = s3.reduceLanes(VectorOperators.ADD) + (bias == null ? 0f : bias[biasOff + o + 3]);
    }

    /**
     * Backward of {@link #forward}: dinp += dout · W, dw += doutᵀ · inp, dbias += Σ_r dout.
     * dinp (and dbias) may be null when not needed.
     */
    public static void backward(float[] dinp, int dinpOff, float[] dw, int dwOff, float[] dbias, int dbiasOff,
                                float[] dout, int doutOff, float[] inp, int inpOff, float[] w, int wOff,
                                int rows, int C, int OC) {
        if (dinp != null) backwardInput(dinp, dinpOff, dout, doutOff, w, wOff, rows, C, OC);
        backwardWeight(dw, dwOff, dbias, dbiasOff, dout, doutOff, inp, inpOff, rows, C, OC);
    }

    /** dinp[r, c] += Σ_o dout[r, o] · w[o, c]: broadcast dout, stream rows of W along c. */
    static void backwardInput(float[] dinp, int dinpOff, float[] dout, int doutOff, float[] w, int wOff,
                              int rows, int C, int OC) {
        int rowTasks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
        int colTasks = (C + COL_BLOCK - 1) / COL_BLOCK;
        Parallel.forRange(rowTasks * colTasks, 1, (start, end) -> {
            for (int task = start; task < end; task++) {
                int r0 = (task / colTasks) * ROW_BLOCK, c0 = (task % colTasks) * COL_BLOCK;
                int r1 = Math.min(rows, r0 + ROW_BLOCK), c1 = Math.min(C, c0 + COL_BLOCK);
                for (int k0 = 0; k0 < OC; k0 += K_BLOCK) {
                    int k1 = Math.min(OC, k0 + K_BLOCK);
                    for (int r = r0; r < r1; r += 4) {
                        broadcastTile(dinp, dinpOff, C, dout, doutOff, OC, 1, w, wOff, C, rows, r, c0, c1, k0, k1);
                    }
                }
            }
        });
    }

    /** dw[o, c] += Σ_r dout[r, o] · inp[r, c]; dbias[o] += Σ_r dout[r, o]. */
    static void backwardWeight(float[] dw, int dwOff, float[] dbias, int dbiasOff, float[] dout, int doutOff,
                               float[] inp, int inpOff, int rows, int C, int OC) {
        int outTasks = (OC + ROW_BLOCK - 1) / ROW_BLOCK;
        int colTasks = (C + COL_BLOCK - 1) / COL_BLOCK;
        Parallel.forRange(outTasks * colTasks, 1, (start, end) -> {
            for (int task = start; task < end; task++) {
                int o0 = (task / colTasks) * ROW_BLOCK, c0 = (task % colTasks) * COL_BLOCK;
                int o1 = Math.min(OC, o0 + ROW_BLOCK), c1 = Math.min(C, c0 + COL_BLOCK);
                for (int k0 = 0; k0 < rows; k0 += K_BLOCK) {
                    int k1 = Math.min(rows, k0 + K_BLOCK);
                    for (int o = o0; o < o1; o += 4) {
                        // dwᵀ tile: "rows" are outputs o, the reduction runs over r, the scalar is dout[r, o]
                        broadcastTile(dw, dwOff, C, dout, doutOff, 1, OC, inp, inpOff, C, OC, o, c0, c1, k0, k1);
                    }
                }
                if (dbias != null && c0 == 0) {
                    for (int o = o0; o < o1; o++) {
                        float s = 0f;
                        for (int r = 0; r < rows; r++) s += dout[doutOff + r * OC + o];
                        dbias[dbiasOff + o] += s;
                    }
                }
            }
        });
    }

    /**
     * acc[i, c] += Σ_k a[i, k] · b[k, c] for 4 consecutive i from {@code i}, columns [c0, c1), k in
     * [k0, k1). a[i, k] is read at {@code aOff + i*aRow + k*aCol}, so the same tile serves dout (rows
     * × OC) and its transpose. Rows past {@code n} are clamped on load and skipped on store.
     */
    private static void broadcastTile(float[] acc, int accOff, int accRow, float[] a, int aOff, int aRow, int aCol,
                                      float[] b, int bOff, int bRow, int n, int i, int c0, int c1, int k0, int k1) {
        int ia = aOff + i * aRow;
        int ib = aOff + Math.min(i + 1, n - 1) * aRow;
        int ic = aOff + Math.min(i + 2, n - 1) * aRow;
        int id = aOff + Math.min(i + 3, n - 1) * aRow;
        int c = c0;
        for (; c + 4 * L <= c1; c += 4 * L) {
            FloatVector s00 = FloatVector.zero(S), s01 = s00, s02 = s00, s03 = s00;
            FloatVector s10 = s00, s11 = s00, s12 = s00, s13 = s00;
            FloatVector s20 = s00, s21 = s00, s22 = s00, s23 = s00;
            FloatVector s30 = s00, s31 = s00, s32 = s00, s33 = s00;
            for (int k = k0; k < k1; k++) {
                int bk = bOff + k * bRow + c;
                FloatVector y0 = FloatVector.fromArray(S, b, bk);
                FloatVector y1 = FloatVector.fromArray(S, b, bk + L);
                FloatVector y2 = FloatVector.fromArray(S, b, bk + 2 * L);
                FloatVector y3 = FloatVector.fromArray(S, b, bk + 3 * L);
                int ko = k * aCol;
                FloatVector x = FloatVector.broadcast(S, a[ia + ko]);
                s00 = x.fma(y0, s00); s01 = x.fma(y1, s01); s02 = x.fma(y2, s02); s03 = x.fma(y3, s03);
                x = FloatVector.broadcast(S, a[ib + ko]);
                s10 = x.fma(y0, s10); s11 = x.fma(y1, s11); s12 = x.fma(y2, s12); s13 = x.fma(y3, s13);
                x = FloatVector.broadcast(S, a[ic + ko]);
                s20 = x.fma(y0, s20); s21 = x.fma(y1, s21); s22 = x.fma(y2, s22); s23 = x.fma(y3, s23);
                x = FloatVector.broadcast(S, a[id + ko]);
                s30 = x.fma(y0, s30); s31 = x.fma(y1, s31); s32 = x.fma(y2, s32); s33 = x.fma(y3, s33);
            }
            addRow(acc, accOff, accRow, n, i, c, s00, s01, s02, s03);
            addRow(acc, accOff, accRow, n, i + 1, c, s10, s11, s12, s13);
            addRow(acc, accOff, accRow, n, i + 2, c, s20, s21, s22, s23);
            addRow(acc, accOff, accRow, n, i + 3, c, s30, s31, s32, s33);
        }
        for (; c < c1; c += L) {
            VectorMask<Float> m = S.indexInRange(c, c1);
            FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            for (int k = k0; k < k1; k++) {
                FloatVector y = FloatVector.fromArray(S, b, bOff + k * bRow + c, m);
                int ko = k * aCol;
                s0 = FloatVector.broadcast(S, a[ia + ko]).fma(y, s0);
                s1 = FloatVector.broadcast(S, a[ib + ko]).fma(y, s1);
                s2 = FloatVector.broadcast(S, a[ic + ko]).fma(y, s2);
                s3 = FloatVector.broadcast(S, a[id + ko]).fma(y, s3);
            }
            addMasked(acc, accOff, accRow, n, i, c, m, s0);
            addMasked(acc, accOff, accRow, n, i + 1, c, m, s1);
            addMasked(acc, accOff, accRow, n, i + 2, c, m, s2);
            addMasked(acc, accOff, accRow, n, i + 3, c, m, s3);
        }
    }

    private static void addRow(float[] acc, int accOff, int accRow, int n, int i, int c,
                               FloatVector s0, FloatVector s1, FloatVector s2, FloatVector s3) {
        if (i >= n) return;
        int p = accOff + i * accRow + c;
        FloatVector.fromArray(S, acc, p).add(s0).intoArray(acc, p);
        FloatVector.fromArray(S, acc, p + L).add(s1).intoArray(acc, p + L);
        FloatVector.fromArray(S, acc, p + 2 * L).add(s2).intoArray(acc, p + 2 * L);
        FloatVector.fromArray(S, acc, p + 3 * L).add(s3).intoArray(acc, p + 3 * L);
    }

    private static void addMasked(float[] acc, int accOff, int accRow, int n, int i, int c,
                                  VectorMask<Float> m, FloatVector s) {
        if (i >= n) return;
        int p = accOff + i * accRow + c;
        FloatVector.fromArray(S, acc, p, m).add(s).intoArray(acc, p, m);
    }
}
