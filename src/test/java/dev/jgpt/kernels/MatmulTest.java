package dev.jgpt.kernels;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The three products against plain double loops, on shapes that take every packing path: whole
 * 64-column panels with depths that are multiples of 16 (the in-register transpose and vector copies),
 * partial panels, depths that are not, and depths past one 768-deep panel.
 */
class MatmulTest {
    @Test
    void productsMatchPlainLoops() {
        SplittableRandom rng = new SplittableRandom(4);
        int[][] shapes = {{37, 768, 192}, {5, 48, 70}, {9, 40, 64}, {3, 1600, 128}, {66, 32, 131}, {1, 16, 64}};
        for (int[] shape : shapes) {
            int R = shape[0], C = shape[1], OC = shape[2];
            float[] x = randoms(rng, R * C), w = randoms(rng, OC * C), bias = randoms(rng, OC), dy = randoms(rng, R * OC);
            float[] y = new float[R * OC], dx = randoms(rng, R * C), dw = randoms(rng, OC * C), db = randoms(rng, OC);
            float[] dx0 = dx.clone(), dw0 = dw.clone(), db0 = db.clone();
            Matmul.forward(y, 0, x, 0, w, 0, bias, 0, R, C, OC);
            Matmul.backward(dx, 0, dw, 0, db, 0, dy, 0, x, 0, w, 0, R, C, OC);
            String at = R + "x" + C + "x" + OC;
            double tol = 2e-6 * Math.max(R, Math.max(C, OC)); // float32 sums of ~n products of N(0,1) values
            for (int r = 0; r < R; r++) {
                for (int o = 0; o < OC; o++) {
                    double want = bias[o];
                    for (int c = 0; c < C; c++) want += (double) x[r * C + c] * w[o * C + c];
                    assertEquals(want, y[r * OC + o], tol, "forward " + at + " at " + r + "," + o);
                }
                for (int c = 0; c < C; c++) {
                    double want = dx0[r * C + c];
                    for (int o = 0; o < OC; o++) want += (double) dy[r * OC + o] * w[o * C + c];
                    assertEquals(want, dx[r * C + c], tol, "input gradient " + at + " at " + r + "," + c);
                }
            }
            for (int o = 0; o < OC; o++) {
                double wantBias = db0[o];
                for (int r = 0; r < R; r++) wantBias += dy[r * OC + o];
                assertEquals(wantBias, db[o], tol, "bias gradient " + at + " at " + o);
                for (int c = 0; c < C; c++) {
                    double want = dw0[o * C + c];
                    for (int r = 0; r < R; r++) want += (double) dy[r * OC + o] * x[r * C + c];
                    assertEquals(want, dw[o * C + c], tol, "weight gradient " + at + " at " + o + "," + c);
                }
            }
        }
    }

    @Test
    void bf16ForwardIsFloat32MathOnTheWidenedWeights() {
        SplittableRandom rng = new SplittableRandom(5);
        for (int[] shape : new int[][]{{37, 768, 192}, {5, 48, 70}, {9, 40, 64}, {66, 32, 131}}) {
            int R = shape[0], C = shape[1], OC = shape[2];
            float[] x = randoms(rng, R * C), bias = randoms(rng, OC), wide = new float[OC * C];
            short[] w = new short[3 + OC * C];
            for (int i = 0; i < OC * C; i++) {
                w[3 + i] = Bf16.round((float) rng.nextGaussian());
                wide[i] = Bf16.toFloat(w[3 + i]);
            }
            float[] got = new float[R * OC], want = new float[R * OC];
            Matmul.forward(got, 0, x, 0, w, 3, bias, 0, R, C, OC);
            Matmul.forward(want, 0, x, 0, wide, 0, bias, 0, R, C, OC);
            // the same products summed in the same order: identical
            org.junit.jupiter.api.Assertions.assertArrayEquals(want, got, R + "x" + C + "x" + OC);
        }
    }

    private static float[] randoms(SplittableRandom rng, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rng.nextGaussian();
        return a;
    }
}
