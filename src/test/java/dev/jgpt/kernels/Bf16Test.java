package dev.jgpt.kernels;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Bf16Test {
    private static short round(int floatBits) {
        return Bf16.round(Float.intBitsToFloat(floatBits));
    }

    @Test
    void roundsToNearestTiesToEvenAsTorch() {
        assertEquals((short) 0x3F80, Bf16.round(1f));
        assertEquals((short) 0x3F80, round(0x3F808000)); // halfway, even neighbour below
        assertEquals((short) 0x3F82, round(0x3F818000)); // halfway, even neighbour above
        assertEquals((short) 0x3F81, round(0x3F808001)); // just past halfway
        assertEquals((short) 0x3F80, round(0x3F807FFF)); // just short of halfway
        assertEquals((short) 0xC020, Bf16.round(-2.5f));
        assertEquals((short) 0x4000, round(0x3FFFFFFF)); // carries into the exponent
        assertEquals((short) 0x7F80, round(0x7F7FFFFF)); // past the largest bf16: infinity, as torch
        assertEquals((short) 0xFF80, Bf16.round(Float.NEGATIVE_INFINITY));
        assertEquals((short) 0x0000, round(0x00008000)); // subnormal tie to even
        assertEquals((short) 0x0002, round(0x00018000));
        assertTrue(Float.isNaN(Bf16.toFloat(Bf16.round(Float.NaN))));
        assertTrue(Float.isNaN(Bf16.toFloat(round(0x7F800001)))); // a NaN whose payload is all in the low half
    }

    @Test
    void roundTripIsWithinHalfAUnitInTheLastPlace() {
        SplittableRandom rng = new SplittableRandom(1);
        for (int i = 0; i < 100_000; i++) {
            float x = (float) (rng.nextGaussian() * Math.pow(10, rng.nextInt(-20, 20)));
            float back = Bf16.toFloat(Bf16.round(x));
            double halfUlp = Math.scalb(1.0, Math.getExponent(x) - 8); // bf16 keeps 7 of float's 23 fraction bits
            assertTrue(Math.abs(back - x) <= halfUlp, x + " -> " + back);
        }
    }

    @Test
    void matmulIsFloat32MathOnTheWidenedWeights() {
        SplittableRandom rng = new SplittableRandom(2);
        for (int[] shape : new int[][]{{768, 37, 1}, {60, 7, 5}, {5, 3, 9}, {48, 1, 4}, {130, 66, 3}, {17, 16, 8}}) {
            int C = shape[0], OC = shape[1], n = shape[2];
            float[] x = new float[3 + n * C], bias = new float[OC];
            short[] w = new short[2 + OC * C];
            for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextGaussian();
            for (int i = 0; i < OC; i++) bias[i] = (float) rng.nextGaussian();
            for (int i = 0; i < w.length; i++) w[i] = Bf16.round((float) rng.nextGaussian());
            float[] got = new float[1 + n * OC];
            Bf16.matmul(got, 1, x, 3, w, 2, bias, 0, n, C, OC);
            for (int r = 0; r < n; r++) {
                for (int o = 0; o < OC; o++) {
                    double want = bias[o];
                    for (int c = 0; c < C; c++) want += (double) x[3 + r * C + c] * Bf16.toFloat(w[2 + o * C + c]);
                    // float32 rounding of a length-C dot product, in another summation order
                    assertEquals(want, got[1 + r * OC + o], 1e-6 * C, "C=" + C + " OC=" + OC + " n=" + n + " row " + r + " out " + o);
                }
            }
        }
    }

    /** A row's bits do not depend on the rows beside it: n rows together equal each row alone. */
    @Test
    void rowsRoundAsALoneRow() {
        SplittableRandom rng = new SplittableRandom(3);
        for (int[] shape : new int[][]{{768, 37}, {60, 7}, {5, 3}, {130, 66}, {17, 16}, {64, 9}}) {
            int C = shape[0], OC = shape[1];
            for (int n = 1; n <= 9; n++) {
                float[] x = new float[n * C], bias = new float[OC];
                short[] w = new short[OC * C];
                for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextGaussian();
                for (int i = 0; i < OC; i++) bias[i] = (float) rng.nextGaussian();
                for (int i = 0; i < w.length; i++) w[i] = Bf16.round((float) rng.nextGaussian());
                float[] together = new float[n * OC], alone = new float[OC];
                Bf16.matmul(together, 0, x, 0, w, 0, bias, 0, n, C, OC);
                for (int r = 0; r < n; r++) {
                    Bf16.matmul(alone, 0, x, r * C, w, 0, bias, 0, 1, C, OC);
                    for (int o = 0; o < OC; o++) {
                        assertEquals(Float.floatToIntBits(alone[o]), Float.floatToIntBits(together[r * OC + o]),
                                "C=" + C + " OC=" + OC + " n=" + n + " row " + r + " out " + o);
                    }
                }
            }
        }
    }
}
