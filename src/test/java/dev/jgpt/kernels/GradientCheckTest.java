package dev.jgpt.kernels;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Finite-difference checks of every kernel's backward. Each op's output is reduced to a scalar with
 * random weights R (so dL/dout = R), every input element is nudged by ±h and ±2h, and the five-point
 * central difference (error O(h⁴)) is compared with the analytic gradient. Shapes are odd on purpose
 * (tails of vectors and tiles).
 *
 * <p>Tolerance: {@value #TOL} of the tensor's largest gradient. The kernels run in float32, so the
 * difference is limited by the rounding of the output, about 1e-7 of it divided by h: the larger h,
 * the smaller that error, and the fourth-order stencil keeps the curvature's share negligible up to
 * h = 0.05. Measured: at most 6e-6 of the scale over every check here (attention past one query block
 * and GELU are the largest), so the tolerance sits within 10× of the error; a gradient 1% off, or
 * any element above 5e-5 of the largest zeroed, fails.
 */
class GradientCheckTest {
    private static final double H = 5e-2;
    private static final double TOL = 5e-5;
    private final Random rng = new Random(42);

    /** A forward pass that writes its output given the current inputs. */
    interface Forward {
        void run();
    }

    private float[] random(int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rng.nextGaussian() * scale);
        return a;
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }

    /** Σ out·R with x[i] set to saved + d. */
    private static double nudged(float[] x, int i, float saved, double d, float[] out, float[] R, Forward f) {
        x[i] = (float) (saved + d);
        f.run();
        return dot(out, R);
    }

    /** Compares analytic[i] with the five-point central difference of Σ out·R with respect to x[i]. */
    private void check(String what, float[] x, float[] analytic, float[] out, float[] R, Forward f) {
        double maxErr = 0, scale = 1e-3;
        for (float g : analytic) scale = Math.max(scale, Math.abs(g));
        for (int i = 0; i < x.length; i++) {
            float saved = x[i];
            double near = nudged(x, i, saved, H, out, R, f) - nudged(x, i, saved, -H, out, R, f);
            double far = nudged(x, i, saved, 2 * H, out, R, f) - nudged(x, i, saved, -2 * H, out, R, f);
            x[i] = saved;
            double numeric = (8 * near - far) / (12 * H);
            maxErr = Math.max(maxErr, Math.abs(numeric - analytic[i]));
        }
        f.run();
        assertTrue(maxErr <= TOL * scale, what + ": max |numeric − analytic| = " + maxErr + " vs gradient scale " + scale);
    }

    @Test
    void matmul() {
        int rows = 7, C = 37, OC = 21; // not multiples of the 4×4 tile or the vector width
        float[] inp = random(rows * C, 1), w = random(OC * C, 0.3), b = random(OC, 0.3);
        float[] out = new float[rows * OC], R = random(rows * OC, 1);
        Forward f = () -> Matmul.forward(out, 0, inp, 0, w, 0, b, 0, rows, C, OC);
        f.run();
        float[] dinp = new float[inp.length], dw = new float[w.length], db = new float[b.length];
        Matmul.backward(dinp, 0, dw, 0, db, 0, R, 0, inp, 0, w, 0, rows, C, OC);
        check("matmul dinp", inp, dinp, out, R, f);
        check("matmul dweight", w, dw, out, R, f);
        check("matmul dbias", b, db, out, R, f);
    }

    @Test
    void matmulLargeEnoughForEveryTilePath() {
        int rows = 70, C = 150, OC = 67; // > one 64-block, a 4-vector column tile and masked tails
        float[] inp = random(rows * C, 1), w = random(OC * C, 0.1);
        float[] out = new float[rows * OC], R = random(rows * OC, 1);
        Forward f = () -> Matmul.forward(out, 0, inp, 0, w, 0, null, 0, rows, C, OC);
        f.run();
        float[] dinp = new float[inp.length], dw = new float[w.length];
        Matmul.backward(dinp, 0, dw, 0, null, 0, R, 0, inp, 0, w, 0, rows, C, OC);
        // compare against plain double loops rather than differences: 10^4 inputs are too many to nudge
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < C; c++) {
                MatmulTest.Sum s = new MatmulTest.Sum(0);
                for (int o = 0; o < OC; o++) s.add((double) R[r * OC + o] * w[o * C + c]);
                s.check(dinp[r * C + c], "dinp " + r + "," + c);
            }
        }
        for (int o = 0; o < OC; o++) {
            for (int c = 0; c < C; c++) {
                MatmulTest.Sum s = new MatmulTest.Sum(0);
                for (int r = 0; r < rows; r++) s.add((double) R[r * OC + o] * inp[r * C + c]);
                s.check(dw[o * C + c], "dw " + o + "," + c);
            }
            for (int r = 0; r < rows; r++) {
                MatmulTest.Sum s = new MatmulTest.Sum(0);
                for (int c = 0; c < C; c++) s.add((double) inp[r * C + c] * w[o * C + c]);
                s.check(out[r * OC + o], "out " + r + "," + o);
            }
        }
    }

    @Test
    void layerNorm() {
        int rows = 5, C = 19;
        float[] inp = random(rows * C, 1), w = random(C, 0.5), b = random(C, 0.5);
        for (int i = 0; i < C; i++) w[i] += 1;
        float[] out = new float[rows * C], mean = new float[rows], rstd = new float[rows], R = random(rows * C, 1);
        Forward f = () -> LayerNorm.forward(out, 0, mean, 0, rstd, 0, inp, 0, w, 0, b, 0, rows, C);
        f.run();
        float[] dinp = new float[inp.length], dw = new float[C], db = new float[C];
        LayerNorm.backward(dinp, 0, dw, 0, db, 0, R, 0, inp, 0, w, 0, mean, 0, rstd, 0, rows, C);
        check("layernorm dinp", inp, dinp, out, R, f);
        check("layernorm dweight", w, dw, out, R, f);
        check("layernorm dbias", b, db, out, R, f);
    }

    @Test
    void gelu() {
        int n = 53;
        float[] inp = random(n, 2), out = new float[n], R = random(n, 1);
        Forward f = () -> Gelu.forward(out, 0, inp, 0, n);
        f.run();
        float[] dinp = new float[n];
        Gelu.backward(dinp, 0, inp, 0, R, 0, n);
        check("gelu", inp, dinp, out, R, f);
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "B={0} T={1} heads={2} head size={3}")
    @org.junit.jupiter.params.provider.CsvSource({
            "2, 11, 3, 6",   // head narrower than a vector
            "1, 20, 2, 40",  // two full vectors and a tail
            "1, 70, 2, 8",   // more queries than one block: the second block sees every earlier key
            "1, 130, 1, 4",  // two full blocks of 64 queries and a partial third
    })
    void attention(int B, int T, int NH, int hs) {
        int C = NH * hs;
        float[] qkv = random(B * T * 3 * C, 0.5), out = new float[B * T * C], lse = new float[B * NH * T];
        float[] R = random(B * T * C, 1);
        Forward f = () -> Attention.forward(out, 0, lse, 0, qkv, 0, B, T, C, NH);
        f.run();
        float[] dqkv = new float[qkv.length];
        Attention.backward(dqkv, 0, R, 0, qkv, 0, out, 0, lse, 0, B, T, C, NH);
        check("attention dqkv", qkv, dqkv, out, R, f);
    }

    @Test
    void crossEntropy() {
        int rows = 6, V = 23, Vp = 32;
        float[] logits = random(rows * Vp, 2);
        int[] targets = {3, -1, 22, 0, 7, 7};
        float[] losses = new float[rows], R = new float[rows], rowMax = new float[rows];
        double[] rowSum = new double[rows];
        java.util.Arrays.fill(R, 1f / 5); // mean over the 5 counted positions
        Forward f = () -> CrossEntropy.forward(losses, rowMax, rowSum, logits, targets, rows, V, Vp);
        f.run();
        float[] dlogits = logits.clone();
        CrossEntropy.backwardInPlace(dlogits, rowMax, rowSum, targets, 1f / 5, rows, V, Vp);
        check("cross-entropy dlogits", logits, dlogits, losses, R, f);
        for (int r = 0; r < rows; r++) {
            for (int v = V; v < Vp; v++) assertTrue(dlogits[r * Vp + v] == 0f, "padded column got gradient");
        }
    }

    @Test
    void encoder() {
        int B = 2, T = 5, C = 21, V = 7;
        int[] tokens = {1, 3, 3, 0, 6, 3, 1, 2, 2, 5}; // repeats: gradients must add up
        float[] wte = random(V * C, 1), wpe = random(T * C, 1), out = new float[B * T * C], R = random(B * T * C, 1);
        Forward f = () -> Encoder.forward(out, 0, tokens, wte, 0, wpe, 0, B, T, C);
        f.run();
        float[] dwte = new float[wte.length], dwpe = new float[wpe.length];
        Encoder.backward(dwte, 0, dwpe, 0, R, 0, tokens, B, T, C);
        check("encoder dwte", wte, dwte, out, R, f);
        check("encoder dwpe", wpe, dwpe, out, R, f);
    }

    @Test
    void residual() {
        int n = 37;
        float[] a = random(n, 1), b = random(n, 1), out = new float[n], R = random(n, 1);
        Forward f = () -> Residual.forward(out, 0, a, 0, b, 0, n);
        f.run();
        float[] da = new float[n];
        Residual.accumulate(da, 0, R, 0, n);
        check("residual da", a, da, out, R, f);
        check("residual db", b, da, out, R, f);
    }
}
