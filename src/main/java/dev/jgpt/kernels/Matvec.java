package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.Slice;
import dev.jgpt.tensor.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The row kernel of {@code out = inp · Wᵀ + bias} for a few rows (decoding): it streams W once for
 * all of them and sums each row exactly as it would sum that row alone, so a sequence's logits do
 * not depend on which others share its step. {@link Matmul}'s tiles are for many rows.
 */
public final class Matvec {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = S.length();

    /** A row of W is C multiply-adds per input row: fewer rows than this are not worth another thread's hand-off. */
    private static final int OUTPUTS_PER_CHUNK = 16;

    private Matvec() {
    }

    /** out[r, o] = bias[o] + Σ_c inp[r, c] · w[o, c] for n rows of C inputs and OC outputs. */
    public static void forward(Slice out, Slice inp, Slice w, Slice bias, int n, int C, int OC) {
        forward(out.array(), out.offset(), inp.array(), inp.offset(), w.array(), w.offset(), bias.array(), bias.offset(), n, C, OC);
    }

    /**
     * out[r, o] = bias[o] + Σ_c inp[r, c] · w[o, c] for n rows, split over output rows so each thread
     * streams its own contiguous part of W once. One row of W at a time, read front to back with four
     * independent accumulators per input row: a single sequential stream per core is what the
     * hardware prefetcher serves best (about 1.6x the bandwidth of interleaving four rows, as the
     * tiled {@link Matmul#forward} does, on the 2-core machine this was tuned on). Input rows go four
     * at a time against one row of W, which stays in L1; each is summed as it would be alone.
     */
    static void forward(float[] out, int outOff, float[] inp, int inpOff, float[] w, int wOff,
                        float[] bias, int biasOff, int n, int C, int OC) {
        Parallel.forRange(OC, OUTPUTS_PER_CHUNK, (start, end) -> {
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
    private static float dot(float[] x, int xOff, float[] w, int wOff, int C) {
        int unrolled = C / (4 * LANES) * (4 * LANES), full = S.loopBound(C);
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int c = 0;
        for (; c < unrolled; c += 4 * LANES) {
            a0 = FloatVector.fromArray(S, x, xOff + c).fma(FloatVector.fromArray(S, w, wOff + c), a0);
            a1 = FloatVector.fromArray(S, x, xOff + c + LANES).fma(FloatVector.fromArray(S, w, wOff + c + LANES), a1);
            a2 = FloatVector.fromArray(S, x, xOff + c + 2 * LANES).fma(FloatVector.fromArray(S, w, wOff + c + 2 * LANES), a2);
            a3 = FloatVector.fromArray(S, x, xOff + c + 3 * LANES).fma(FloatVector.fromArray(S, w, wOff + c + 3 * LANES), a3);
        }
        for (; c < full; c += LANES) {
            a0 = FloatVector.fromArray(S, x, xOff + c).fma(FloatVector.fromArray(S, w, wOff + c), a0);
        }
        float sum = VectorMath.sum(a0.add(a1).add(a2.add(a3)));
        for (; c < C; c++) sum += x[xOff + c] * w[wOff + c];
        return sum;
    }

    /** Four rows of x against one row of w, each with the accumulators and the order of {@link #dot}. */
    private static void dot4(float[] out, int outOff, int stride, float[] x, int xOff, float[] w, int wOff, int C, float b) {
        int unrolled = C / (4 * LANES) * (4 * LANES), full = S.loopBound(C);
        FloatVector z = FloatVector.zero(S);
        FloatVector a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
        FloatVector c0 = z, c1 = z, c2 = z, c3 = z, d0 = z, d1 = z, d2 = z, d3 = z;
        int x0 = xOff, x1 = xOff + C, x2 = xOff + 2 * C, x3 = xOff + 3 * C;
        int c = 0;
        for (; c < unrolled; c += 4 * LANES) {
            FloatVector w0 = FloatVector.fromArray(S, w, wOff + c);
            a0 = FloatVector.fromArray(S, x, x0 + c).fma(w0, a0);
            b0 = FloatVector.fromArray(S, x, x1 + c).fma(w0, b0);
            c0 = FloatVector.fromArray(S, x, x2 + c).fma(w0, c0);
            d0 = FloatVector.fromArray(S, x, x3 + c).fma(w0, d0);
            FloatVector w1 = FloatVector.fromArray(S, w, wOff + c + LANES);
            a1 = FloatVector.fromArray(S, x, x0 + c + LANES).fma(w1, a1);
            b1 = FloatVector.fromArray(S, x, x1 + c + LANES).fma(w1, b1);
            c1 = FloatVector.fromArray(S, x, x2 + c + LANES).fma(w1, c1);
            d1 = FloatVector.fromArray(S, x, x3 + c + LANES).fma(w1, d1);
            FloatVector w2 = FloatVector.fromArray(S, w, wOff + c + 2 * LANES);
            a2 = FloatVector.fromArray(S, x, x0 + c + 2 * LANES).fma(w2, a2);
            b2 = FloatVector.fromArray(S, x, x1 + c + 2 * LANES).fma(w2, b2);
            c2 = FloatVector.fromArray(S, x, x2 + c + 2 * LANES).fma(w2, c2);
            d2 = FloatVector.fromArray(S, x, x3 + c + 2 * LANES).fma(w2, d2);
            FloatVector w3 = FloatVector.fromArray(S, w, wOff + c + 3 * LANES);
            a3 = FloatVector.fromArray(S, x, x0 + c + 3 * LANES).fma(w3, a3);
            b3 = FloatVector.fromArray(S, x, x1 + c + 3 * LANES).fma(w3, b3);
            c3 = FloatVector.fromArray(S, x, x2 + c + 3 * LANES).fma(w3, c3);
            d3 = FloatVector.fromArray(S, x, x3 + c + 3 * LANES).fma(w3, d3);
        }
        for (; c < full; c += LANES) {
            FloatVector wv = FloatVector.fromArray(S, w, wOff + c);
            a0 = FloatVector.fromArray(S, x, x0 + c).fma(wv, a0);
            b0 = FloatVector.fromArray(S, x, x1 + c).fma(wv, b0);
            c0 = FloatVector.fromArray(S, x, x2 + c).fma(wv, c0);
            d0 = FloatVector.fromArray(S, x, x3 + c).fma(wv, d0);
        }
        float s0 = VectorMath.sum(a0.add(a1).add(a2.add(a3))), s1 = VectorMath.sum(b0.add(b1).add(b2.add(b3)));
        float s2 = VectorMath.sum(c0.add(c1).add(c2.add(c3))), s3 = VectorMath.sum(d0.add(d1).add(d2.add(d3)));
        for (; c < C; c++) {
            float wc = w[wOff + c];
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
