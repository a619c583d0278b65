package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Softmax cross-entropy over logits (rows, Vp) of which only the first V columns are real: the padded
 * columns never take probability and never receive gradient. A target of -1 means "no loss here".
 */
public final class CrossEntropy {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** A row is a pass or two over the whole vocabulary (tens of thousands of logits): a few make a chunk. */
    private static final int ROWS_PER_CHUNK = 4;

    private CrossEntropy() {
    }

    /**
     * losses[r] = −log softmax(logits[r])[target[r]], or 0 where target is -1. Each counted row's max
     * and Σ exp(logit − max) are kept in rowMax and rowSum for the backward, which then needs one pass
     * over the row instead of three.
     */
    public static void forward(float[] losses, float[] rowMax, double[] rowSum, float[] logits, int[] targets,
                               int rows, int V, int Vp) {
        Parallel.forRange(rows, ROWS_PER_CHUNK, (start, end) -> {
            for (int r = start; r < end; r++) {
                int target = targets[r];
                if (target < 0) {
                    losses[r] = 0f;
                    continue;
                }
                int row = r * Vp;
                float max = max(logits, row, V);
                double sum = sumExp(logits, row, V, max);
                rowMax[r] = max;
                rowSum[r] = sum;
                losses[r] = (float) (Math.log(sum) + max - logits[row + target]);
            }
        });
    }

    /**
     * Overwrites logits with dlogits = dloss · (softmax − onehot(target)) on each row, where
     * {@code dloss} is the gradient of the total loss with respect to each position's loss (1/count for
     * a mean), from the row statistics of {@link #forward} on the same logits. Rows with target -1 and
     * the padded columns become 0.
     */
    public static void backwardInPlace(float[] logits, float[] rowMax, double[] rowSum, int[] targets, float dloss,
                                       int rows, int V, int Vp) {
        Parallel.forRange(rows, ROWS_PER_CHUNK, (start, end) -> {
            for (int r = start; r < end; r++) {
                int row = r * Vp, target = targets[r];
                if (target < 0) {
                    java.util.Arrays.fill(logits, row, row + Vp, 0f);
                    continue;
                }
                float max = rowMax[r];
                float scale = (float) (dloss / rowSum[r]);
                int v = 0;
                for (int bound = S.loopBound(V); v < bound; v += L) {
                    VectorMath.exp(FloatVector.fromArray(S, logits, row + v).sub(max)).mul(scale)
                            .intoArray(logits, row + v);
                }
                for (; v < V; v++) logits[row + v] = VectorMath.exp(logits[row + v] - max) * scale;
                logits[row + target] -= dloss;
                java.util.Arrays.fill(logits, row + V, row + Vp, 0f);
            }
        });
    }

    private static float max(float[] x, int off, int n) {
        FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) m = m.max(FloatVector.fromArray(S, x, off + i));
        float r = m.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) r = Math.max(r, x[off + i]);
        return r;
    }

    private static double sumExp(float[] x, int off, int n, float max) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            acc = acc.add(VectorMath.exp(FloatVector.fromArray(S, x, off + i).sub(max)));
        }
        double sum = VectorMath.sum(acc);
        for (; i < n; i++) sum += VectorMath.exp(x[off + i] - max);
        return sum;
    }
}
