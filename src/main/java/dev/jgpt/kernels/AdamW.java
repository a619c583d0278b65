package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * One AdamW update of a span of the parameter buffer, exactly as torch.optim.AdamW computes it:
 * decoupled decay first ({@code p *= 1 − lr·wd}), then the moments, then the bias-corrected step
 * {@code p −= lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps)}.
 */
public final class AdamW {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** An update streams four buffers with little arithmetic per element: chunks of this many elements at least. */
    private static final int ELEMENTS_PER_CHUNK = 1 << 14;
    /**
     * The sum of squares adds up pieces of this many elements (at most {@value #MAX_PIECES} of them),
     * each in double from float partial sums over {@value #BLOCK} elements. The pieces do not depend
     * on the thread count, so neither does the sum.
     */
    private static final int PIECE = 1 << 14, MAX_PIECES = 256, BLOCK = 4096;

    private AdamW() {
    }

    /**
     * Updates params/m/v in [from, to) with the gradient times {@code gradScale} (the clipping
     * coefficient), then zeroes the gradient for the next step: one pass over the four buffers instead
     * of three. {@code step} counts from 1.
     */
    public static void update(float[] params, float[] grads, float[] m, float[] v, int from, int to, float gradScale,
                              float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        float decay = 1f - lr * weightDecay;
        float stepSize = (float) (lr / (1.0 - Math.pow(beta1, step)));
        float invSqrtBc2 = (float) (1.0 / Math.sqrt(1.0 - Math.pow(beta2, step)));
        float b1c = 1f - beta1, b2c = 1f - beta2;
        Parallel.forRange(to - from, ELEMENTS_PER_CHUNK, (start, end) -> {
            int i = from + start, stop = from + end;
            for (int bound = i + S.loopBound(stop - i); i < bound; i += S.length()) {
                FloatVector g = FloatVector.fromArray(S, grads, i).mul(gradScale);
                FloatVector.zero(S).intoArray(grads, i);
                FloatVector mv = FloatVector.fromArray(S, m, i).mul(beta1).add(g.mul(b1c));
                FloatVector vv = FloatVector.fromArray(S, v, i).mul(beta2).add(g.mul(g).mul(b2c));
                mv.intoArray(m, i);
                vv.intoArray(v, i);
                FloatVector denom = vv.sqrt().mul(invSqrtBc2).add(eps);
                FloatVector p = FloatVector.fromArray(S, params, i).mul(decay);
                p.sub(mv.div(denom).mul(stepSize)).intoArray(params, i);
            }
            for (; i < stop; i++) {
                float g = grads[i] * gradScale;
                grads[i] = 0f;
                float mi = beta1 * m[i] + b1c * g;
                float vi = beta2 * v[i] + b2c * g * g;
                m[i] = mi;
                v[i] = vi;
                float denom = (float) Math.sqrt(vi) * invSqrtBc2 + eps;
                params[i] = params[i] * decay - stepSize * (mi / denom);
            }
        });
    }

    /** Σ x² over [from, to), accumulated in double so a 1.5B-element buffer keeps its precision. */
    public static double sumOfSquares(float[] x, int from, int to) {
        int chunks = Math.max(1, Math.min(MAX_PIECES, (to - from) / PIECE));
        double[] partial = new double[chunks];
        int per = (to - from + chunks - 1) / chunks;
        Parallel.forRange(chunks, Parallel.WHOLE_TASKS, (start, end) -> {
            for (int c = start; c < end; c++) {
                int i = from + c * per, stop = Math.min(to, i + per);
                double total = 0;
                while (i < stop) {
                    int blockEnd = Math.min(stop, i + BLOCK);
                    FloatVector acc = FloatVector.zero(S);
                    for (int bound = i + S.loopBound(blockEnd - i); i < bound; i += S.length()) {
                        FloatVector a = FloatVector.fromArray(S, x, i);
                        acc = a.fma(a, acc);
                    }
                    double s = VectorMath.sum(acc);
                    for (; i < blockEnd; i++) s += (double) x[i] * x[i];
                    total += s;
                }
                partial[c] = total;
            }
        });
        double sum = 0;
        for (double p : partial) sum += p;
        return sum;
    }
}
