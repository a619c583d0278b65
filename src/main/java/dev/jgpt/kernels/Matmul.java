package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The linear layer {@code out = inp · Wᵀ + bias}, with W stored [OC, C] (PyTorch's nn.Linear order,
 * llm.c's too), and its backward. Every buffer is a flat float[] plus an offset, so views into the
 * one parameter buffer and the activation buffers are passed without copying.
 *
 * <p>All three products run on one micro-kernel: 4 rows × 4 vectors of accumulators, fed by
 * broadcast-FMAs over a packed panel (K_BLOCK × 4 vectors, copied contiguous so it stays in cache
 * while every row tile of the task streams past it). The forward packs Wᵀ, the input gradient W, the
 * weight gradient the input. Edge tiles clamp their row index to the last row and skip the stores,
 * and panels are zero-padded, so one code path serves every shape.
 */
public final class Matmul {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private static final int ROW_BLOCK = 256; // rows of the accumulated matrix per task: each packed panel serves them all
    private static final int COL_BLOCK = 4 * L; // columns per task: the micro-kernel's width
    private static final int K_BLOCK = 768;   // panel depth: a K_BLOCK × COL_BLOCK panel (192 kB) sits in L2; longer sweeps keep the tile's accumulators busy

    private Matmul() {
    }

    /** out[r, o] = bias[o] + Σ_c inp[r, c] · w[o, c]; bias may be null. */
    public static void forward(float[] out, int outOff, float[] inp, int inpOff, float[] w, int wOff,
                               float[] bias, int biasOff, int rows, int C, int OC) {
        int rowTasks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
        int outTasks = (OC + COL_BLOCK - 1) / COL_BLOCK;
        Parallel.forRange(rowTasks * outTasks, 1, (start, end) -> {
            for (int task = start; task < end; task++) {
                int r0 = (task / outTasks) * ROW_BLOCK, o0 = (task % outTasks) * COL_BLOCK;
                int r1 = Math.min(rows, r0 + ROW_BLOCK), o1 = Math.min(OC, o0 + COL_BLOCK);
                for (int r = r0; r < r1; r++) {
                    int row = outOff + r * OC;
                    if (bias == null) java.util.Arrays.fill(out, row + o0, row + o1, 0f);
                    else System.arraycopy(bias, biasOff + o0, out, row + o0, o1 - o0);
                }
                // out = inp · Wᵀ as broadcast-FMAs over packed panels of Wᵀ (b[k=c, o] = w[o·C + c])
                broadcastBlock(out, outOff, OC, inp, inpOff, C, 1, w, wOff, 1, C, rows, r0, r1, o0, o1, C);
            }
        });
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
                broadcastBlock(dinp, dinpOff, C, dout, doutOff, OC, 1, w, wOff, C, 1,
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
                broadcastBlock(dw, dwOff, C, dout, doutOff, 1, OC, inp, inpOff, C, 1,
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
                                       float[] b, int bOff, int bRow, int bCol, int n, int i0, int i1, int c0, int c1, int K) {
        float[] panel = PANEL.get();
        int width = c1 - c0;
        for (int k0 = 0; k0 < K; k0 += K_BLOCK) {
            int kn = Math.min(K_BLOCK, K - k0);
            if (bCol == 1) {
                for (int k = 0; k < kn; k++) {
                    System.arraycopy(b, bOff + (k0 + k) * bRow + c0, panel, k * COL_BLOCK, width);
                }
            } else {
                // b is a transposed view (the forward's Wᵀ): gather column by column, each a contiguous run of W
                for (int c = 0; c < width; c++) {
                    int src = bOff + (c0 + c) * bCol + k0 * bRow;
                    for (int k = 0; k < kn; k++) panel[k * COL_BLOCK + c] = b[src + k * bRow];
                }
            }
            if (width < COL_BLOCK) {
                for (int k = 0; k < kn; k++) java.util.Arrays.fill(panel, k * COL_BLOCK + width, (k + 1) * COL_BLOCK, 0f);
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
        // Spill the tile and add it from memory: passing 16 vectors to another method exceeds C2's inlining
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
