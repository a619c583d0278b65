package dev.jgpt.kernels;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

class GeluTest {
    /**
     * The scalar tail computes what the vector lanes compute, bit for bit: where a chunk boundary or
     * the end of a row falls does not change an element (so a row is the same alone or batched).
     */
    @Test
    void tailEqualsTheVectorLanes() {
        SplittableRandom rng = new SplittableRandom(1);
        int n = 4096;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rng.nextGaussian() * 3);
        float[] vector = new float[n];
        Gelu.forward(vector, 0, x, 0, n);
        float[] scalar = new float[n];
        for (int i = 0; i < n; i++) Gelu.forward(scalar, i, x, i, 1); // one element: the tail alone
        for (int i = 0; i < n; i++) assertEquals(Float.floatToIntBits(vector[i]), Float.floatToIntBits(scalar[i]), "x = " + x[i]);
    }
}
