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
    private static final int COL_BLOCK = 4 * L; // columns per backward task: the micro-kernel's width
    private static final int K_BLOCK = 96;    // panel depth: K_BLOCK × COL_BLOCK floats fit in L1

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
                float[] acc = ACC.get();
                dotTile(acc, inp, i0, i1, i2, i3, w, w0, w1, w2, w3, full);
                for (int i = 0; i < 4 && r + i < rows; i++) {
                    int x = inpOff + (r + i) * C;
                    for (int j = 0; j < 4 && o + j < OC; j++) {
                        float sum = acc[i * 4 + j];
                        int y = wOff + (o + j) * C;
                        for (int c = full; c < C; c++) sum += inp[x + c] * w[y + c]; // the last partial vector
                        out[outOff + (r + i) * OC + o + j] = sum + (bias == null ? 0f : bias[biasOff + o + j]);
                    }
                }
            }
        }
    }

    private static final ThreadLocal<float[]> ACC = ThreadLocal.withInitial(() -> new float[16]);

    /**
     * acc[i·4 + j] = Σ_{c < n} x_i[c] · y_j[c] for four rows of inp and four rows of W: the micro-kernel,
     * kept small so that C2 inlines every vector operation in it.
     */
    private static void dotTile(float[] acc, float[] x, int i0, int i1, int i2, int i3,
                                float[] y, int w0, int w1, int w2, int w3, int n) {
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int c = 0; c < n; c += L) {
            FloatVector x0 = FloatVector.fromArray(S, x, i0 + c);
            FloatVector x1 = FloatVector.fromArray(S, x, i1 + c);
            FloatVector x2 = FloatVector.fromArray(S, x, i2 + c);
            FloatVector x3 = FloatVector.fromArray(S, x, i3 + c);
            FloatVector v = FloatVector.fromArray(S, y, w0 + c);
            a00 = x0.fma(v, a00); a10 = x1.fma(v, a10); a20 = x2.fma(v, a20); a30 = x3.fma(v, a30);
            v = FloatVector.fromArray(S, y, w1 + c);
            a01 = x0.fma(v, a01); a11 = x1.fma(v, a11); a21 = x2.fma(v, a21); a31 = x3.fma(v, a31);
            v = FloatVector.fromArray(S, y, w2 + c);
            a02 = x0.fma(v, a02); a12 = x1.fma(v, a12); a22 = x2.fma(v, a22); a32 = x3.fma(v, a32);
            v = FloatVector.fromArray(S, y, w3 + c);
            a03 = x0.fma(v, a03); a13 = x1.fma(v, a13); a23 = x2.fma(v, a23); a33 = x3.fma(v, a33);
        }
        acc[0] = a00.reduceLanes(VectorOperators.ADD); acc[1] = a01.reduceLanes(VectorOperators.ADD);
        acc[2] = a02.reduceLanes(VectorOperators.ADD); acc[3] = a03.reduceLanes(VectorOperators.ADD);
        acc[4] = a10.reduceLanes(VectorOperators.ADD); acc[5] = a11.reduceLanes(VectorOperators.ADD);
        acc[6] = a12.reduceLanes(VectorOperators.ADD); acc[7] = a13.reduceLanes(VectorOperators.ADD);
        acc[8] = a20.reduceLanes(VectorOperators.ADD); acc[9] = a21.reduceLanes(VectorOperators.ADD);
        acc[10] = a22.reduceLanes(VectorOperators.ADD); acc[11] = a23.reduceLanes(VectorOperators.ADD);
        acc[12] = a30.reduceLanes(VectorOperators.ADD); acc[13] = a31.reduceLanes(VectorOperators.ADD);
        acc[14] = a32.reduceLanes(VectorOperators.ADD); acc[15] = a33.reduceLanes(VectorOperators.ADD);
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

    /** dinp[r, c] += Σ_o dout[r, o] · w[o, c]: broadcast dout against packed panels of W. */
    static void backwardInput(float[] dinp, int dinpOff, float[] dout, int doutOff, float[] w, int wOff,
                              int rows, int C, int OC) {
        int rowTasks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
        int colTasks = (C + COL_BLOCK - 1) / COL_BLOCK;
        Parallel.forRange(rowTasks * colTasks, 1, (start, end) -> {
            for (int task = start; task < end; task++) {
                int r0 = (task / colTasks) * ROW_BLOCK, c0 = (task % colTasks) * COL_BLOCK;
                broadcastBlock(dinp, dinpOff, C, dout, doutOff, OC, 1, w, wOff, C,
                        rows, r0, Math.min(rows, r0 + ROW_BLOCK), c0, Math.min(C, c0 + COL_BLOCK), OC);
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
                int o1 = Math.min(OC, o0 + ROW_BLOCK);
                // dwᵀ view: "rows" are outputs o, the reduction runs over r, the scalar is dout[r, o]
                broadcastBlock(dw, dwOff, C, dout, doutOff, 1, OC, inp, inpOff, C,
                        OC, o0, o1, c0, Math.min(C, c0 + COL_BLOCK), rows);
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

    private static final ThreadLocal<float[]> PANEL = ThreadLocal.withInitial(() -> new float[K_BLOCK * COL_BLOCK]);

    /**
     * acc[i, c] += Σ_k a[i, k] · b[k, c] for rows i in [i0, i1) (of n), columns [c0, c1), k in [0, K).
     * a[i, k] is read at {@code aOff + i*aRow + k*aCol}, so one routine serves dout and its transpose.
     * Each K_BLOCK × COL_BLOCK slab of b is first copied into a contiguous, zero-padded panel: rows of
     * b are thousands of floats apart, and reading them in place thrashes a few L1 sets.
     */
    private static void broadcastBlock(float[] acc, int accOff, int accRow, float[] a, int aOff, int aRow, int aCol,
                                       float[] b, int bOff, int bRow, int n, int i0, int i1, int c0, int c1, int K) {
        float[] panel = PANEL.get();
        int width = c1 - c0;
        for (int k0 = 0; k0 < K; k0 += K_BLOCK) {
            int kn = Math.min(K_BLOCK, K - k0);
            for (int k = 0; k < kn; k++) {
                int src = bOff + (k0 + k) * bRow + c0;
                System.arraycopy(b, src, panel, k * COL_BLOCK, width);
                if (width < COL_BLOCK) java.util.Arrays.fill(panel, k * COL_BLOCK + width, (k + 1) * COL_BLOCK, 0f);
            }
            for (int i = i0; i < i1; i += 4) {
                int ia = aOff + i * aRow + k0 * aCol;
                int ib = aOff + Math.min(i + 1, n - 1) * aRow + k0 * aCol;
                int ic = aOff + Math.min(i + 2, n - 1) * aRow + k0 * aCol;
                int id = aOff + Math.min(i + 3, n - 1) * aRow + k0 * aCol;
                broadcastTile(acc, accOff + c0, accRow, width, a, ia, ib, ic, id, aCol, panel, n, i, kn);
            }
        }
    }

    /** The micro-kernel: 4 rows × 4 vectors (one panel width) of accumulators, one sweep over the panel. */
    private static void broadcastTile(float[] acc, int accOff, int accRow, int width, float[] a, int ia, int ib,
                                      int ic, int id, int aCol, float[] panel, int n, int i, int kn) {
        FloatVector s00 = FloatVector.zero(S), s01 = s00, s02 = s00, s03 = s00;
        FloatVector s10 = s00, s11 = s00, s12 = s00, s13 = s00;
        FloatVector s20 = s00, s21 = s00, s22 = s00, s23 = s00;
        FloatVector s30 = s00, s31 = s00, s32 = s00, s33 = s00;
        for (int k = 0; k < kn; k++) {
            int pk = k * COL_BLOCK;
            FloatVector y0 = FloatVector.fromArray(S, panel, pk);
            FloatVector y1 = FloatVector.fromArray(S, panel, pk + L);
            FloatVector y2 = FloatVector.fromArray(S, panel, pk + 2 * L);
            FloatVector y3 = FloatVector.fromArray(S, panel, pk + 3 * L);
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
        // Spill the tile and add it from memory: passing 16 vectors to a helper exceeds C2's inlining
        // budget, and an un-inlined call boxes every vector.
        float[] t = TILE.get();
        s00.intoArray(t, 0); s01.intoArray(t, L); s02.intoArray(t, 2 * L); s03.intoArray(t, 3 * L);
        s10.intoArray(t, 4 * L); s11.intoArray(t, 5 * L); s12.intoArray(t, 6 * L); s13.intoArray(t, 7 * L);
        s20.intoArray(t, 8 * L); s21.intoArray(t, 9 * L); s22.intoArray(t, 10 * L); s23.intoArray(t, 11 * L);
        s30.intoArray(t, 12 * L); s31.intoArray(t, 13 * L); s32.intoArray(t, 14 * L); s33.intoArray(t, 15 * L);
        for (int r = 0; r < 4 && i + r < n; r++) {
            int p = accOff + (i + r) * accRow, q = r * COL_BLOCK;
            int c = 0;
            for (; c + L <= width; c += L) {
                FloatVector.fromArray(S, acc, p + c).add(FloatVector.fromArray(S, t, q + c)).intoArray(acc, p + c);
            }
            for (; c < width; c++) acc[p + c] += t[q + c];
        }
    }

    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[4 * COL_BLOCK]);
}
