package dev.jgpt.kernels;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The row kernel against the tiled product, and each row of it against the same row alone. */
class MatvecTest {
    @Test
    void matchesMatmul() {
        SplittableRandom rng = new SplittableRandom(6);
        for (int[] shape : new int[][]{{768, 13}, {60, 7}, {5, 3}, {48, 1}, {130, 66}}) {
            int C = shape[0], OC = shape[1];
            float[] x = randoms(rng, C, 1), w = randoms(rng, OC * C + 3 + OC, 1);
            float[] want = new float[OC], got = new float[OC];
            Matmul.forward(want, 0, x, 0, w, 3, w, 3 + OC * C, 1, C, OC);
            Matvec.forward(got, 0, x, 0, w, 3, w, 3 + OC * C, 1, C, OC);
            // another summation order: agreement to float32 rounding of a length-C dot product
            for (int o = 0; o < OC; o++) assertEquals(want[o], got[o], 1e-6 * Math.sqrt(C), "C=" + C + " OC=" + OC + " o=" + o);
        }
    }

    @Test
    void roundsEachRowAsALoneRow() {
        SplittableRandom rng = new SplittableRandom(7);
        for (int[] shape : new int[][]{{768, 13}, {60, 7}, {5, 3}, {130, 66}}) {
            int C = shape[0], OC = shape[1];
            for (int n = 1; n <= 9; n++) {
                float[] x = randoms(rng, n * C, 1), w = randoms(rng, OC * C + OC, 1);
                float[] together = new float[n * OC], alone = new float[OC];
                Matvec.forward(together, 0, x, 0, w, 0, w, OC * C, n, C, OC);
                for (int r = 0; r < n; r++) {
                    Matvec.forward(alone, 0, x, r * C, w, 0, w, OC * C, 1, C, OC);
                    for (int o = 0; o < OC; o++) {
                        assertEquals(Float.floatToIntBits(alone[o]), Float.floatToIntBits(together[r * OC + o]),
                                "C=" + C + " OC=" + OC + " n=" + n + " row " + r);
                    }
                }
            }
        }
    }

    private static float[] randoms(SplittableRandom rng, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rng.nextGaussian() * scale);
        return a;
    }
}
