package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.VectorMath;
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

    /** dst[dstOff + i] = round(src[srcOff + i]) for i in [0, n). */
    public static void round(float[] src, int srcOff, short[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) dst[dstOff + i] = round(src[srcOff + i]);
    }

    /** LANES weights from w[off], widened to floats. */
    static FloatVector widen(short[] w, int off) {
        return ((IntVector) ShortVector.fromArray(H, w, off).convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * out[r, o] = bias[o] + Σ_c inp[r, c] · w[o, c] for n rows of C inputs and OC outputs, with W
     * [OC, C] in bf16 (torch's Linear orientation). Split over output rows, so each thread streams its
     * own contiguous part of W once; input rows go four at a time against one widened weight row,
     * which stays in L1. Each output is summed in a fixed order, whatever the thread count, and a row
     * is summed the same way alone or beside others: its result does not depend on n (decoding
     * several sequences together gives each the bits it would get alone).
     */
    public static void matmul(float[] out, int outOff, float[] inp, int inpOff, short[] w, int wOff,
                              float[] bias, int biasOff, int n, int C, int OC) {
        Parallel.forRange(OC, 16, (start, end) -> {
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
    private static float dot(float[] x, int xOff, short[] w, int wOff, int C) {
        int unrolled = C / (4 * LANES) * (4 * LANES), full = C / LANES * LANES;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int c = 0;
        for (; c < unrolled; c += 4 * LANES) {
            a0 = widen(w, wOff + c).fma(FloatVector.fromArray(F, x, xOff + c), a0);
            a1 = widen(w, wOff + c + LANES).fma(FloatVector.fromArray(F, x, xOff + c + LANES), a1);
            a2 = widen(w, wOff + c + 2 * LANES).fma(FloatVector.fromArray(F, x, xOff + c + 2 * LANES), a2);
            a3 = widen(w, wOff + c + 3 * LANES).fma(FloatVector.fromArray(F, x, xOff + c + 3 * LANES), a3);
        }
        for (; c < full; c += LANES) a0 = widen(w, wOff + c).fma(FloatVector.fromArray(F, x, xOff + c), a0);
        float sum = VectorMath.sum(a0.add(a1).add(a2.add(a3)));
        for (; c < C; c++) sum += x[xOff + c] * toFloat(w[wOff + c]);
        return sum;
    }

    /**
     * Four rows of x against one weight row: out[k · stride] = Σ_c x[k, c] · w[c] + b for k < 4, each
     * row with the four accumulators and the order of {@link #dot}, so its bits equal a lone row's.
     * Every widened weight vector feeds four rows: W is read once for all of them.
     */
    private static void dot4(float[] out, int outOff, int stride, float[] x, int xOff, short[] w, int wOff, int C, float b) {
        int unrolled = C / (4 * LANES) * (4 * LANES), full = C / LANES * LANES;
        FloatVector z = FloatVector.zero(F);
        FloatVector a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
        FloatVector c0 = z, c1 = z, c2 = z, c3 = z, d0 = z, d1 = z, d2 = z, d3 = z;
        int x0 = xOff, x1 = xOff + C, x2 = xOff + 2 * C, x3 = xOff + 3 * C;
        int c = 0;
        for (; c < unrolled; c += 4 * LANES) {
            FloatVector w0 = widen(w, wOff + c);
            a0 = w0.fma(FloatVector.fromArray(F, x, x0 + c), a0);
            b0 = w0.fma(FloatVector.fromArray(F, x, x1 + c), b0);
            c0 = w0.fma(FloatVector.fromArray(F, x, x2 + c), c0);
            d0 = w0.fma(FloatVector.fromArray(F, x, x3 + c), d0);
            FloatVector w1 = widen(w, wOff + c + LANES);
            a1 = w1.fma(FloatVector.fromArray(F, x, x0 + c + LANES), a1);
            b1 = w1.fma(FloatVector.fromArray(F, x, x1 + c + LANES), b1);
            c1 = w1.fma(FloatVector.fromArray(F, x, x2 + c + LANES), c1);
            d1 = w1.fma(FloatVector.fromArray(F, x, x3 + c + LANES), d1);
            FloatVector w2 = widen(w, wOff + c + 2 * LANES);
            a2 = w2.fma(FloatVector.fromArray(F, x, x0 + c + 2 * LANES), a2);
            b2 = w2.fma(FloatVector.fromArray(F, x, x1 + c + 2 * LANES), b2);
            c2 = w2.fma(FloatVector.fromArray(F, x, x2 + c + 2 * LANES), c2);
            d2 = w2.fma(FloatVector.fromArray(F, x, x3 + c + 2 * LANES), d2);
            FloatVector w3 = widen(w, wOff + c + 3 * LANES);
            a3 = w3.fma(FloatVector.fromArray(F, x, x0 + c + 3 * LANES), a3);
            b3 = w3.fma(FloatVector.fromArray(F, x, x1 + c + 3 * LANES), b3);
            c3 = w3.fma(FloatVector.fromArray(F, x, x2 + c + 3 * LANES), c3);
            d3 = w3.fma(FloatVector.fromArray(F, x, x3 + c + 3 * LANES), d3);
        }
        for (; c < full; c += LANES) {
            FloatVector wv = widen(w, wOff + c);
            a0 = wv.fma(FloatVector.fromArray(F, x, x0 + c), a0);
            b0 = wv.fma(FloatVector.fromArray(F, x, x1 + c), b0);
            c0 = wv.fma(FloatVector.fromArray(F, x, x2 + c), c0);
            d0 = wv.fma(FloatVector.fromArray(F, x, x3 + c), d0);
        }
        float s0 = VectorMath.sum(a0.add(a1).add(a2.add(a3))), s1 = VectorMath.sum(b0.add(b1).add(b2.add(b3)));
        float s2 = VectorMath.sum(c0.add(c1).add(c2.add(c3))), s3 = VectorMath.sum(d0.add(d1).add(d2.add(d3)));
        for (; c < C; c++) {
            float wc = toFloat(w[wOff + c]);
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
}
