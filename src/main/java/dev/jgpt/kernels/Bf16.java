package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.Slice;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * bfloat16 weights for inference: a float's top 16 bits (sign, the full 8-bit exponent, 7 mantissa
 * bits), stored in a {@code short[]}. Decoding one token reads every weight once, so it is bound by
 * memory bandwidth; halving the bytes nearly doubles the tokens per second. The arithmetic stays
 * float32: a weight widens to a float exactly (shift left 16), and products and sums are fp32 FMAs,
 * so the result equals float32 math on weights rounded to bf16.
 */
public final class Bf16 {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** As many shorts as F has floats: one load widens to one float vector. */
    private static final VectorSpecies<Short> H = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final int LANES = F.length();

    private Bf16() {
    }

    /** Rounds to the nearest bf16, ties to even, as torch's {@code .to(torch.bfloat16)}; NaN stays NaN. */
    public static short round(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    public static float toFloat(short h) {
        return Float.intBitsToFloat(h << 16);
    }

    /** LANES weights from w[off], widened to floats. */
    private static FloatVector widen(short[] w, int off) {
        return ((IntVector) ShortVector.fromArray(H, w, off).convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /** Output columns per panel: the micro-kernel's four vectors. */
    public static final int PANEL = 4 * LANES;

    /** Shorts that W [OC, C] takes packed ({@link #pack}): OC rounded up to a whole panel. */
    public static int packedSize(int OC, int C) {
        return Math.toIntExact((long) (OC + PANEL - 1) / PANEL * PANEL * C);
    }

    /**
     * Rounds W [OC, C] (float32, row-major at src[srcOff]) to bf16 column panels: panel b holds
     * columns [b·PANEL, (b+1)·PANEL) of Wᵀ, row c of it contiguous, dst[dstOff + (b·C + c)·PANEL + j] =
     * round(W[b·PANEL + j, c]), zeros past OC. A product then reads each panel front to back, once
     * for any number of input rows, with no transposing.
     */
    public static void pack(float[] src, int srcOff, int OC, int C, short[] dst, int dstOff) {
        int panels = (OC + PANEL - 1) / PANEL;
        for (int b = 0; b < panels; b++) {
            for (int j = 0; j < PANEL; j++) {
                int o = b * PANEL + j;
                for (int c = 0; c < C; c++) {
                    dst[dstOff + (b * C + c) * PANEL + j] = o < OC ? round(src[srcOff + o * C + c]) : 0;
                }
            }
        }
    }

    /** W[o, c] from packed panels, widened. */
    public static float at(short[] panels, int off, int C, int o, int c) {
        return toFloat(panels[off + ((o / PANEL) * C + c) * PANEL + o % PANEL]);
    }

    /**
     * out[r, o] = bias[o] + Σ_c inp[r, c] · W[o, c] for n rows of C inputs and OC outputs, W packed
     * by {@link #pack}. Split over panels, so each thread streams its own panels of W once; input rows
     * go four at a time through one panel (4 rows × 4 vectors of accumulators, fed by broadcast
     * FMAs), which stays in L2 for the next four. Each output is summed from its bias in order of c,
     * as {@link Matmul#forward} sums it: the result is float32 math on the widened weights, bit for
     * bit the tiled forward's, and a row's bits do not depend on n or the thread count (decoding
     * several sequences together gives each the logits it gets alone).
     */
    public static void matmul(Slice out, Slice inp, short[] w, int wOff, Slice bias, int n, int C, int OC) {
        matmul(out.array(), out.offset(), inp.array(), inp.offset(), w, wOff, bias.array(), bias.offset(), n, C, OC);
    }

    static void matmul(float[] out, int outOff, float[] inp, int inpOff, short[] w, int wOff,
                       float[] bias, int biasOff, int n, int C, int OC) {
        int panels = (OC + PANEL - 1) / PANEL;
        Parallel.forRange(panels, Parallel.WHOLE_TASKS, (start, end) -> {
            float[] edgeBias = null, edgeOut = null;
            for (int b = start; b < end; b++) {
                int o0 = b * PANEL, cols = Math.min(PANEL, OC - o0), at = wOff + b * C * PANEL;
                if (cols == PANEL) {
                    for (int r = 0; r < n; r += 4) {
                        if (r + 1 == n) panel1(out, outOff + o0 + r * OC, inp, inpOff + r * C, w, at, C, bias, biasOff + o0);
                        else panel4(out, outOff + o0, OC, inp, inpOff, r, n, w, at, C, bias, biasOff + o0);
                    }
                } else {
                    // the last panel, partly past OC: padded bias in, a tile out, the real columns copied
                    if (edgeBias == null) {
                        edgeBias = new float[PANEL];
                        edgeOut = new float[4 * PANEL];
                    }
                    System.arraycopy(bias, biasOff + o0, edgeBias, 0, cols);
                    for (int r = 0; r < n; r += 4) {
                        int rows = Math.min(4, n - r);
                        panel4(edgeOut, -r * PANEL, PANEL, inp, inpOff, r, n, w, at, C, edgeBias, 0);
                        for (int k = 0; k < rows; k++) System.arraycopy(edgeOut, k * PANEL, out, outOff + (r + k) * OC + o0, cols);
                    }
                }
            }
        });
    }

    /**
     * One row times one panel, as {@link #panel4} computes its first row (the same FMAs in the same
     * order, so the same bits) without three rows' worth of repeated work: a lone sequence's decode
     * step is this, and it is bound by reading the panel.
     */
    private static void panel1(float[] out, int o, float[] inp, int x0, short[] w, int at, int C, float[] bias, int biasOff) {
        FloatVector a0 = FloatVector.fromArray(F, bias, biasOff), a1 = FloatVector.fromArray(F, bias, biasOff + LANES);
        FloatVector a2 = FloatVector.fromArray(F, bias, biasOff + 2 * LANES), a3 = FloatVector.fromArray(F, bias, biasOff + 3 * LANES);
        for (int c = 0, p = at; c < C; c++, p += PANEL) {
            FloatVector x = FloatVector.broadcast(F, inp[x0 + c]);
            a0 = x.fma(widen(w, p), a0);
            a1 = x.fma(widen(w, p + LANES), a1);
            a2 = x.fma(widen(w, p + 2 * LANES), a2);
            a3 = x.fma(widen(w, p + 3 * LANES), a3);
        }
        a0.intoArray(out, o);
        a1.intoArray(out, o + LANES);
        a2.intoArray(out, o + 2 * LANES);
        a3.intoArray(out, o + 3 * LANES);
    }

    /**
     * Rows [r, r + 4) of n (the last rows repeated past n, not stored) times one panel:
     * out[row · stride + j] = bias[j] + Σ_c inp[row, c] · panel[c, j] for the panel's PANEL columns.
     * Written out by hand: vectors kept in an array would be boxed.
     */
    private static void panel4(float[] out, int outOff, int stride, float[] inp, int inpOff, int r, int n,
                               short[] w, int at, int C, float[] bias, int biasOff) {
        int x0 = inpOff + r * C, x1 = inpOff + Math.min(r + 1, n - 1) * C;
        int x2 = inpOff + Math.min(r + 2, n - 1) * C, x3 = inpOff + Math.min(r + 3, n - 1) * C;
        FloatVector b0 = FloatVector.fromArray(F, bias, biasOff), b1 = FloatVector.fromArray(F, bias, biasOff + LANES);
        FloatVector b2 = FloatVector.fromArray(F, bias, biasOff + 2 * LANES), b3 = FloatVector.fromArray(F, bias, biasOff + 3 * LANES);
        FloatVector a0 = b0, a1 = b1, a2 = b2, a3 = b3, c0 = b0, c1 = b1, c2 = b2, c3 = b3;
        FloatVector d0 = b0, d1 = b1, d2 = b2, d3 = b3, e0 = b0, e1 = b1, e2 = b2, e3 = b3;
        for (int c = 0, p = at; c < C; c++, p += PANEL) {
            FloatVector w0 = widen(w, p), w1 = widen(w, p + LANES), w2 = widen(w, p + 2 * LANES), w3 = widen(w, p + 3 * LANES);
            FloatVector x = FloatVector.broadcast(F, inp[x0 + c]);
            a0 = x.fma(w0, a0);
            a1 = x.fma(w1, a1);
            a2 = x.fma(w2, a2);
            a3 = x.fma(w3, a3);
            x = FloatVector.broadcast(F, inp[x1 + c]);
            c0 = x.fma(w0, c0);
            c1 = x.fma(w1, c1);
            c2 = x.fma(w2, c2);
            c3 = x.fma(w3, c3);
            x = FloatVector.broadcast(F, inp[x2 + c]);
            d0 = x.fma(w0, d0);
            d1 = x.fma(w1, d1);
            d2 = x.fma(w2, d2);
            d3 = x.fma(w3, d3);
            x = FloatVector.broadcast(F, inp[x3 + c]);
            e0 = x.fma(w0, e0);
            e1 = x.fma(w1, e1);
            e2 = x.fma(w2, e2);
            e3 = x.fma(w3, e3);
        }
        int o = outOff + r * stride;
        a0.intoArray(out, o);
        a1.intoArray(out, o + LANES);
        a2.intoArray(out, o + 2 * LANES);
        a3.intoArray(out, o + 3 * LANES);
        if (r + 1 >= n) return;
        o += stride;
        c0.intoArray(out, o);
        c1.intoArray(out, o + LANES);
        c2.intoArray(out, o + 2 * LANES);
        c3.intoArray(out, o + 3 * LANES);
        if (r + 2 >= n) return;
        o += stride;
        d0.intoArray(out, o);
        d1.intoArray(out, o + LANES);
        d2.intoArray(out, o + 2 * LANES);
        d3.intoArray(out, o + 3 * LANES);
        if (r + 3 >= n) return;
        o += stride;
        e0.intoArray(out, o);
        e1.intoArray(out, o + LANES);
        e2.intoArray(out, o + 2 * LANES);
        e3.intoArray(out, o + 3 * LANES);
    }
}
