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

    /** W [OC, C] of bf16 values (as floats) with 2 floats before it, and its packed panels with 3 shorts before. */
    private record Weights(float[] wide, short[] panels) {
        static Weights random(SplittableRandom rng, int OC, int C) {
            float[] wide = new float[2 + OC * C];
            for (int i = 0; i < OC * C; i++) wide[2 + i] = Bf16.toFloat(Bf16.round((float) rng.nextGaussian()));
            short[] panels = new short[3 + Bf16.packedSize(OC, C)];
            Bf16.pack(wide, 2, OC, C, panels, 3);
            return new Weights(wide, panels);
        }
    }

    @Test
    void packedPanelsHoldEveryWeight() {
        SplittableRandom rng = new SplittableRandom(4);
        int OC = 70, C = 9;
        Weights w = Weights.random(rng, OC, C);
        for (int o = 0; o < OC; o++) {
            for (int c = 0; c < C; c++) assertEquals(w.wide()[2 + o * C + c], Bf16.at(w.panels(), 3, C, o, c));
        }
        int size = Bf16.packedSize(OC, C); // whole panels, the last one padded
        assertTrue(size >= OC * C && size < (OC + Bf16.PANEL) * C && size % (Bf16.PANEL * C) == 0, "size " + size);
    }

    @Test
    void matmulIsFloat32MathOnTheWidenedWeights() {
        SplittableRandom rng = new SplittableRandom(2);
        for (int[] shape : new int[][]{{768, 37, 1}, {60, 7, 5}, {5, 3, 9}, {48, 1, 4}, {130, 66, 3}, {17, 16, 8}, {32, 200, 13}}) {
            int C = shape[0], OC = shape[1], n = shape[2];
            float[] x = new float[3 + n * C], bias = new float[1 + OC];
            for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextGaussian();
            for (int i = 0; i < bias.length; i++) bias[i] = (float) rng.nextGaussian();
            Weights w = Weights.random(rng, OC, C);
            float[] got = new float[1 + n * OC];
            Bf16.matmul(got, 1, x, 3, w.panels(), 3, bias, 1, n, C, OC);
            for (int r = 0; r < n; r++) {
                for (int o = 0; o < OC; o++) {
                    double want = bias[1 + o];
                    for (int c = 0; c < C; c++) want += (double) x[3 + r * C + c] * w.wide()[2 + o * C + c];
                    // float32 rounding of a length-C dot product
                    assertEquals(want, got[1 + r * OC + o], 1e-6 * C, "C=" + C + " OC=" + OC + " n=" + n + " row " + r + " out " + o);
                }
            }
            assertEquals(0f, got[0]); // nothing written before out
        }
    }

    /** A row's bits do not depend on the rows beside it: n rows together equal each row alone. */
    @Test
    void rowsRoundAsALoneRow() {
        SplittableRandom rng = new SplittableRandom(3);
        for (int[] shape : new int[][]{{768, 37}, {60, 7}, {5, 3}, {130, 66}, {17, 16}, {64, 129}}) {
            int C = shape[0], OC = shape[1];
            Weights w = Weights.random(rng, OC, C);
            float[] bias = new float[OC];
            for (int i = 0; i < OC; i++) bias[i] = (float) rng.nextGaussian();
            for (int n = 1; n <= 9; n++) {
                float[] x = new float[n * C];
                for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextGaussian();
                float[] together = new float[n * OC], alone = new float[OC];
                Bf16.matmul(together, 0, x, 0, w.panels(), 3, bias, 0, n, C, OC);
                for (int r = 0; r < n; r++) {
                    Bf16.matmul(alone, 0, x, r * C, w.panels(), 3, bias, 0, 1, C, OC);
                    for (int o = 0; o < OC; o++) {
                        assertEquals(Float.floatToIntBits(alone[o]), Float.floatToIntBits(together[r * OC + o]),
                                "C=" + C + " OC=" + OC + " n=" + n + " row " + r + " out " + o);
                    }
                }
            }
        }
    }
}
