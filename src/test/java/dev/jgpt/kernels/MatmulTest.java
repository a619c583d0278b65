package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;


/**
 * The three products against plain double loops, on shapes that take every packing path: whole
 * 64-column panels with depths that are multiples of 16 (the in-register transpose and vector copies),
 * partial panels, depths that are not, and depths past one 768-deep panel.
 *
 * <p>Tolerance: a float32 sum of products is off by a small multiple of float32's rounding (6e-8)
 * times the sum of its terms' magnitudes, so each element is checked to {@value #TOL} of
 * Σ|term| (the initial value and the bias counted as terms). Measured: at most 2.9e-7 of it, in
 * every product and shape here.
 */
class MatmulTest {
    static final double TOL = 1.5e-6;

    /** A sum computed in double alongside the sum of its terms' magnitudes. */
    static final class Sum {
        double value, magnitude;

        Sum(double first) {
            value = first;
            magnitude = Math.abs(first);
        }

        void add(double term) {
            value += term;
            magnitude += Math.abs(term);
        }

        void check(float got, String what) {
            double err = Math.abs(got - value);
            if (!(err <= TOL * magnitude)) {
                throw new AssertionError(what + ": expected " + value + ", got " + got + ", error " + err + " = "
                        + err / magnitude + " of the sum of |terms| " + magnitude);
            }
        }
    }

    @Test
    void productsMatchPlainLoops() {
        checkShapes(new int[][]{{37, 768, 192}, {5, 48, 70}, {9, 40, 64}, {3, 1600, 128}, {66, 32, 131}, {1, 16, 64}});
    }

    /**
     * More rows (and, for the weight gradient, more outputs) than one task's {@value Matmul#ROW_BLOCK}, split
     * over threads: tasks side by side, each ending where the next begins, the last one short and
     * ending inside a tile. A tile that stored past its task's rows would race with the next task.
     */
    @Test
    void productsOverSeveralRowTasksMatchPlainLoops() {
        new Parallel(4).run(() -> checkShapes(new int[][]{{517, 40, 70}, {2 * Matmul.ROW_BLOCK + 3, 24, Matmul.ROW_BLOCK + 45}}));
    }

    private static void checkShapes(int[][] shapes) {
        SplittableRandom rng = new SplittableRandom(4);
        for (int[] shape : shapes) {
            int R = shape[0], C = shape[1], OC = shape[2];
            float[] x = randoms(rng, R * C), w = randoms(rng, OC * C), bias = randoms(rng, OC), dy = randoms(rng, R * OC);
            float[] y = new float[R * OC], dx = randoms(rng, R * C), dw = randoms(rng, OC * C), db = randoms(rng, OC);
            float[] dx0 = dx.clone(), dw0 = dw.clone(), db0 = db.clone();
            Matmul.forward(y, 0, x, 0, w, 0, bias, 0, R, C, OC);
            Matmul.backward(dx, 0, dw, 0, db, 0, dy, 0, x, 0, w, 0, R, C, OC);
            String at = R + "x" + C + "x" + OC;
            for (int r = 0; r < R; r++) {
                for (int o = 0; o < OC; o++) {
                    Sum want = new Sum(bias[o]);
                    for (int c = 0; c < C; c++) want.add((double) x[r * C + c] * w[o * C + c]);
                    want.check(y[r * OC + o], "forward " + at + " at " + r + "," + o);
                }
                for (int c = 0; c < C; c++) {
                    Sum want = new Sum(dx0[r * C + c]);
                    for (int o = 0; o < OC; o++) want.add((double) dy[r * OC + o] * w[o * C + c]);
                    want.check(dx[r * C + c], "input gradient " + at + " at " + r + "," + c);
                }
            }
            for (int o = 0; o < OC; o++) {
                Sum wantBias = new Sum(db0[o]);
                for (int r = 0; r < R; r++) wantBias.add(dy[r * OC + o]);
                wantBias.check(db[o], "bias gradient " + at + " at " + o);
                for (int c = 0; c < C; c++) {
                    Sum want = new Sum(dw0[o * C + c]);
                    for (int r = 0; r < R; r++) want.add((double) dy[r * OC + o] * x[r * C + c]);
                    want.check(dw[o * C + c], "weight gradient " + at + " at " + o + "," + c);
                }
            }
        }
    }

    private static float[] randoms(SplittableRandom rng, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rng.nextGaussian();
        return a;
    }
}
