package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * The residual connection's kernels against plain loops, bit for bit (one float addition per element
 * has one right answer), into buffers that already hold values, at offsets, below and above the size
 * at which the work is split across threads.
 */
class ResidualTest {
    @Test
    void forwardAddsAndAccumulateAddsToWhatIsThere() {
        new Parallel(4).run(() -> { // split even on a machine with fewer cores
            SplittableRandom rng = new SplittableRandom(3);
            for (int n : new int[]{37, 3 * 8192 + 37}) {
                float[] a = randoms(rng, n + 5), b = randoms(rng, n + 3), out = randoms(rng, n + 4);
                float[] want = out.clone();
                for (int i = 0; i < n; i++) want[2 + i] = a[5 + i] + b[3 + i];
                Residual.forward(out, 2, a, 5, b, 3, n);
                assertArrayEquals(want, out, "forward, n = " + n);

                float[] dst = randoms(rng, n + 7), src = randoms(rng, n + 3);
                float[] sum = dst.clone();
                for (int i = 0; i < n; i++) sum[7 + i] += src[3 + i];
                Residual.accumulate(dst, 7, src, 3, n);
                assertArrayEquals(sum, dst, "accumulate, n = " + n);
            }
        });
    }

    private static float[] randoms(SplittableRandom rng, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rng.nextGaussian();
        return x;
    }
}
