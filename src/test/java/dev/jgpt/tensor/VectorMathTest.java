package dev.jgpt.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VectorMathTest {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    @Test
    void expIsAccurateAndTheScalarFormMatchesTheVectorBitForBit() {
        SplittableRandom rng = new SplittableRandom(3);
        float[] x = new float[S.length()], y = new float[S.length()];
        double worst = 0;
        for (int rep = 0; rep < 20000; rep++) {
            for (int i = 0; i < x.length; i++) x[i] = (float) (rng.nextDouble() * 180 - 90);
            VectorMath.exp(FloatVector.fromArray(S, x, 0)).intoArray(y, 0);
            for (int i = 0; i < x.length; i++) {
                assertEquals(Float.floatToIntBits(VectorMath.exp(x[i])), Float.floatToIntBits(y[i]), "x = " + x[i]);
                double want = Math.exp(x[i]);
                if (want > Float.MAX_VALUE) {
                    assertEquals(Float.POSITIVE_INFINITY, y[i]);
                } else if (want >= Float.MIN_NORMAL) {
                    worst = Math.max(worst, Math.abs(y[i] - want) / Math.ulp((float) want));
                }
            }
        }
        assertTrue(worst <= 2, "worst error " + worst + " ulp");
        assertEquals(0f, VectorMath.exp(Float.NEGATIVE_INFINITY));
        assertEquals(1f, VectorMath.exp(0f));
    }

    @Test
    void tanhIsAccurate() {
        double worst = 0;
        for (float x = -12f; x <= 12f; x += 0.001f) {
            float v = VectorMath.tanh(x);
            worst = Math.max(worst, Math.abs(v - Math.tanh(x)));
            float[] lanes = new float[S.length()];
            java.util.Arrays.fill(lanes, x);
            assertEquals(Float.floatToIntBits(v), Float.floatToIntBits(VectorMath.tanh(FloatVector.fromArray(S, lanes, 0)).lane(0)));
        }
        assertTrue(worst <= 2e-7, "worst absolute error " + worst);
    }
}
