package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.Slice;
import jdk.incubator.vector.FloatVector;
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

    private static final int TILE_ROWS = 4;   // rows of the micro-kernel's tile
    static final int ROW_BLOCK = 256;         // rows of the accumulated matrix per task: each packed panel serves them all
    private static final int COL_BLOCK = 4 * L; // columns per task: the micro-kernel's width
    private static final int K_BLOCK = 768;   // panel depth: a K_BLOCK × COL_BLOCK panel (192 kB) sits in L2; longer sweeps keep the tile's accumulators busy

    static {
        // A tile stores the rows it holds below the matrix's total row count, not below its task's
        // last row: a task of whole tiles never writes a row of the next task's (which another
        // thread is adding into at the same time).
        if (ROW_BLOCK % TILE_ROWS != 0) {
            throw new AssertionError("ROW_BLOCK " + ROW_BLOCK + " must be a multiple of the tile's " + TILE_ROWS + " rows");
        }
    }

    private Matmul() {
    }

    /** out[r, o] = bias[o] + Σ_c inp[r, c] · w[o, c] for {@code rows} rows; bias may be null. */
    public static void forward(Slice out, Slice inp, Slice w, Slice bias, int rows, int C, int OC) {
        forward(out.array(), out.offset(), inp.array(), inp.offset(), w.array(), w.offset(),
                bias == null ? null : bias.array(), bias == null ? 0 : bias.offset(), rows, C, OC);
    }

    static void forward(float[] out, int outOff, float[] inp, int inpOff, float[] w, int wOff,
                        float[] bias, int biasOff, int rows, int C, int OC) {
        int rowTasks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
        int outTasks = (OC + COL_BLOCK - 1) / COL_BLOCK;
        Parallel.forRange(rowTasks * outTasks, Parallel.WHOLE_TASKS, (start, end) -> {
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
    public static void backward(Slice dinp, Slice dw, Slice dbias, Slice dout, Slice inp, Slice w, int rows, int C, int OC) {
        backward(dinp == null ? null : dinp.array(), dinp == null ? 0 : dinp.offset(), dw.array(), dw.offset(),
                dbias == null ? null : dbias.array(), dbias == null ? 0 : dbias.offset(),
                dout.array(), dout.offset(), inp.array(), inp.offset(), w.array(), w.offset(), rows, C, OC);
    }

    static void backward(float[] dinp, int dinpOff, float[] dw, int dwOff, float[] dbias, int dbiasOff,
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
        Parallel.forRange(rowTasks * colTasks, Parallel.WHOLE_TASKS, (start, end) -> {
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
        Parallel.forRange(outTasks * colTasks, Parallel.WHOLE_TASKS, (start, end) -> {
            for (int task = start; task < end; task++) {
                int o0 = (task / colTasks) * ROW_BLOCK, c0 = (task % colTasks) * COL_BLOCK;
                int o1 = Math.min(OC, o0 + ROW_BLOCK);
                // dwᵀ view: "rows" are outputs o, the reduction runs over r, the scalar is dout[r, o]
                broadcastBlock(dw, dwOff, C, dout, doutOff, 1, OC, inp, inpOff, C, 1,
                        OC, o0, o1, c0, Math.min(C, c0 + COL_BLOCK), rows);
                if (dbias != null && c0 == 0) biasGradient(dbias, dbiasOff, dout, doutOff, rows, OC, o0, o1);
            }
        });
    }

    /**
     * dbias[o] += Σ_r dout[r, o] for o in [o0, o1): 64 columns at a time, walking down the rows, so
     * every load is a contiguous piece of a row (a column walk touches a new cache line per element).
     * Each lane still adds its rows in order, as the scalar tail does.
     */
    private static void biasGradient(float[] dbias, int dbiasOff, float[] dout, int doutOff, int rows, int OC, int o0, int o1) {
        int o = o0;
        for (; o + 4 * L <= o1; o += 4 * L) {
            FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            for (int r = 0, at = doutOff + o; r < rows; r++, at += OC) {
                s0 = s0.add(FloatVector.fromArray(S, dout, at));
                s1 = s1.add(FloatVector.fromArray(S, dout, at + L));
                s2 = s2.add(FloatVector.fromArray(S, dout, at + 2 * L));
                s3 = s3.add(FloatVector.fromArray(S, dout, at + 3 * L));
            }
            int b = dbiasOff + o;
            FloatVector.fromArray(S, dbias, b).add(s0).intoArray(dbias, b);
            FloatVector.fromArray(S, dbias, b + L).add(s1).intoArray(dbias, b + L);
            FloatVector.fromArray(S, dbias, b + 2 * L).add(s2).intoArray(dbias, b + 2 * L);
            FloatVector.fromArray(S, dbias, b + 3 * L).add(s3).intoArray(dbias, b + 3 * L);
        }
        for (; o < o1; o++) {
            float s = 0f;
            for (int r = 0; r < rows; r++) s += dout[doutOff + r * OC + o];
            dbias[dbiasOff + o] += s;
        }
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
            if (bCol == 1 && width == COL_BLOCK) {
                // four vector moves per panel row: a third less time than System.arraycopy of 64 floats
                for (int k = 0; k < kn; k++) {
                    int src = bOff + (k0 + k) * bRow + c0, dst = k * COL_BLOCK;
                    FloatVector.fromArray(S, b, src).intoArray(panel, dst);
                    FloatVector.fromArray(S, b, src + L).intoArray(panel, dst + L);
                    FloatVector.fromArray(S, b, src + 2 * L).intoArray(panel, dst + 2 * L);
                    FloatVector.fromArray(S, b, src + 3 * L).intoArray(panel, dst + 3 * L);
                }
            } else if (bCol == 1) {
                for (int k = 0; k < kn; k++) {
                    System.arraycopy(b, bOff + (k0 + k) * bRow + c0, panel, k * COL_BLOCK, width);
                }
            } else if (L == 16 && bRow == 1 && width == COL_BLOCK && kn % 16 == 0) {
                // b is a transposed view (the forward's Wᵀ): 16×16 blocks transposed in registers
                for (int cb = 0; cb < COL_BLOCK; cb += 16) {
                    for (int kb = 0; kb < kn; kb += 16) {
                        transpose16(b, bOff + (c0 + cb) * bCol + k0 + kb, bCol, panel, kb * COL_BLOCK + cb);
                    }
                }
            } else {
                // a transposed view of any shape: gather column by column, each a contiguous run of W
                for (int c = 0; c < width; c++) {
                    int src = bOff + (c0 + c) * bCol + k0 * bRow;
                    for (int k = 0; k < kn; k++) panel[k * COL_BLOCK + c] = b[src + k * bRow];
                }
            }
            if (width < COL_BLOCK) {
                for (int k = 0; k < kn; k++) java.util.Arrays.fill(panel, k * COL_BLOCK + width, (k + 1) * COL_BLOCK, 0f);
            }
            for (int i = i0; i < i1; i += TILE_ROWS) {
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
        for (int r = 0; r < TILE_ROWS && i + r < n; r++) {
            int p = accOff + (i + r) * accRow, q = r * COL_BLOCK;
            int c = 0;
            for (; c + L <= width; c += L) {
                FloatVector.fromArray(S, acc, p + c).add(FloatVector.fromArray(S, t, q + c)).intoArray(acc, p + c);
            }
            for (; c < width; c++) acc[p + c] += t[q + c];
        }
    }

    // Lane indices for transpose16's permutes: round s takes lanes from rows r and r + s (indices ≥ 16
    // select from the second); SWAP_LOW makes row r, SWAP_HIGH row r + s.
    private static final FloatVector[] SWAP_LOW = new FloatVector[4], SWAP_HIGH = new FloatVector[4];

    static {
        if (L == 16) {
            for (int round = 0; round < 4; round++) {
                int s = 1 << round;
                float[] lo = new float[16], hi = new float[16];
                for (int j = 0; j < 16; j++) {
                    lo[j] = (j & s) == 0 ? j : 16 + j - s;
                    hi[j] = (j & s) == 0 ? j + s : 16 + j;
                }
                SWAP_LOW[round] = FloatVector.fromArray(S, lo, 0);
                SWAP_HIGH[round] = FloatVector.fromArray(S, hi, 0);
            }
        }
    }

    /**
     * panel[dst + k·COL_BLOCK + r] = b[src + r·stride + k] for r, k < 16: sixteen row pieces loaded
     * whole, transposed in registers by four rounds of two-vector permutes (round s swaps bit s of the
     * row index with bit s of the lane index), stored as sixteen panel rows. A scalar gather of the
     * same block writes 16 cache lines per row piece and cost the forward 15% of its time.
     * Written out by hand: vectors kept in an array would be boxed.
     */
    private static void transpose16(float[] b, int src, int stride, float[] panel, int dst) {
        FloatVector v0 = FloatVector.fromArray(S, b, src + 0 * stride);
        FloatVector v1 = FloatVector.fromArray(S, b, src + 1 * stride);
        FloatVector v2 = FloatVector.fromArray(S, b, src + 2 * stride);
        FloatVector v3 = FloatVector.fromArray(S, b, src + 3 * stride);
        FloatVector v4 = FloatVector.fromArray(S, b, src + 4 * stride);
        FloatVector v5 = FloatVector.fromArray(S, b, src + 5 * stride);
        FloatVector v6 = FloatVector.fromArray(S, b, src + 6 * stride);
        FloatVector v7 = FloatVector.fromArray(S, b, src + 7 * stride);
        FloatVector v8 = FloatVector.fromArray(S, b, src + 8 * stride);
        FloatVector v9 = FloatVector.fromArray(S, b, src + 9 * stride);
        FloatVector v10 = FloatVector.fromArray(S, b, src + 10 * stride);
        FloatVector v11 = FloatVector.fromArray(S, b, src + 11 * stride);
        FloatVector v12 = FloatVector.fromArray(S, b, src + 12 * stride);
        FloatVector v13 = FloatVector.fromArray(S, b, src + 13 * stride);
        FloatVector v14 = FloatVector.fromArray(S, b, src + 14 * stride);
        FloatVector v15 = FloatVector.fromArray(S, b, src + 15 * stride);
        FloatVector lo = SWAP_LOW[0], hi = SWAP_HIGH[0], x, y;
        x = v0; y = v1; v0 = lo.selectFrom(x, y); v1 = hi.selectFrom(x, y);
        x = v2; y = v3; v2 = lo.selectFrom(x, y); v3 = hi.selectFrom(x, y);
        x = v4; y = v5; v4 = lo.selectFrom(x, y); v5 = hi.selectFrom(x, y);
        x = v6; y = v7; v6 = lo.selectFrom(x, y); v7 = hi.selectFrom(x, y);
        x = v8; y = v9; v8 = lo.selectFrom(x, y); v9 = hi.selectFrom(x, y);
        x = v10; y = v11; v10 = lo.selectFrom(x, y); v11 = hi.selectFrom(x, y);
        x = v12; y = v13; v12 = lo.selectFrom(x, y); v13 = hi.selectFrom(x, y);
        x = v14; y = v15; v14 = lo.selectFrom(x, y); v15 = hi.selectFrom(x, y);
        lo = SWAP_LOW[1];
        hi = SWAP_HIGH[1];
        x = v0; y = v2; v0 = lo.selectFrom(x, y); v2 = hi.selectFrom(x, y);
        x = v1; y = v3; v1 = lo.selectFrom(x, y); v3 = hi.selectFrom(x, y);
        x = v4; y = v6; v4 = lo.selectFrom(x, y); v6 = hi.selectFrom(x, y);
        x = v5; y = v7; v5 = lo.selectFrom(x, y); v7 = hi.selectFrom(x, y);
        x = v8; y = v10; v8 = lo.selectFrom(x, y); v10 = hi.selectFrom(x, y);
        x = v9; y = v11; v9 = lo.selectFrom(x, y); v11 = hi.selectFrom(x, y);
        x = v12; y = v14; v12 = lo.selectFrom(x, y); v14 = hi.selectFrom(x, y);
        x = v13; y = v15; v13 = lo.selectFrom(x, y); v15 = hi.selectFrom(x, y);
        lo = SWAP_LOW[2];
        hi = SWAP_HIGH[2];
        x = v0; y = v4; v0 = lo.selectFrom(x, y); v4 = hi.selectFrom(x, y);
        x = v1; y = v5; v1 = lo.selectFrom(x, y); v5 = hi.selectFrom(x, y);
        x = v2; y = v6; v2 = lo.selectFrom(x, y); v6 = hi.selectFrom(x, y);
        x = v3; y = v7; v3 = lo.selectFrom(x, y); v7 = hi.selectFrom(x, y);
        x = v8; y = v12; v8 = lo.selectFrom(x, y); v12 = hi.selectFrom(x, y);
        x = v9; y = v13; v9 = lo.selectFrom(x, y); v13 = hi.selectFrom(x, y);
        x = v10; y = v14; v10 = lo.selectFrom(x, y); v14 = hi.selectFrom(x, y);
        x = v11; y = v15; v11 = lo.selectFrom(x, y); v15 = hi.selectFrom(x, y);
        lo = SWAP_LOW[3];
        hi = SWAP_HIGH[3];
        x = v0; y = v8; v0 = lo.selectFrom(x, y); v8 = hi.selectFrom(x, y);
        x = v1; y = v9; v1 = lo.selectFrom(x, y); v9 = hi.selectFrom(x, y);
        x = v2; y = v10; v2 = lo.selectFrom(x, y); v10 = hi.selectFrom(x, y);
        x = v3; y = v11; v3 = lo.selectFrom(x, y); v11 = hi.selectFrom(x, y);
        x = v4; y = v12; v4 = lo.selectFrom(x, y); v12 = hi.selectFrom(x, y);
        x = v5; y = v13; v5 = lo.selectFrom(x, y); v13 = hi.selectFrom(x, y);
        x = v6; y = v14; v6 = lo.selectFrom(x, y); v14 = hi.selectFrom(x, y);
        x = v7; y = v15; v7 = lo.selectFrom(x, y); v15 = hi.selectFrom(x, y);
        v0.intoArray(panel, dst + 0 * COL_BLOCK);
        v1.intoArray(panel, dst + 1 * COL_BLOCK);
        v2.intoArray(panel, dst + 2 * COL_BLOCK);
        v3.intoArray(panel, dst + 3 * COL_BLOCK);
        v4.intoArray(panel, dst + 4 * COL_BLOCK);
        v5.intoArray(panel, dst + 5 * COL_BLOCK);
        v6.intoArray(panel, dst + 6 * COL_BLOCK);
        v7.intoArray(panel, dst + 7 * COL_BLOCK);
        v8.intoArray(panel, dst + 8 * COL_BLOCK);
        v9.intoArray(panel, dst + 9 * COL_BLOCK);
        v10.intoArray(panel, dst + 10 * COL_BLOCK);
        v11.intoArray(panel, dst + 11 * COL_BLOCK);
        v12.intoArray(panel, dst + 12 * COL_BLOCK);
        v13.intoArray(panel, dst + 13 * COL_BLOCK);
        v14.intoArray(panel, dst + 14 * COL_BLOCK);
        v15.intoArray(panel, dst + 15 * COL_BLOCK);
    }

    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[4 * COL_BLOCK]);
}
