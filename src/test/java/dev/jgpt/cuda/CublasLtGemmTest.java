package dev.jgpt.cuda;

import dev.jgpt.kernels.Matmul;
import dev.jgpt.tensor.Slice;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemoryLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What can be checked of the cuBLASLt binding without a GPU: that the column-major GEMMs it asks for
 * (operations, m/n/k, leading dimensions, and which side the bias-gradient epilogue sums) compute
 * jgpt's row-major matmul and its backward, here run by a plain loop with cuBLASLt's documented
 * meaning of each parameter against the CPU kernels; the C structs' sizes; pointer alignments.
 */
class CublasLtGemmTest {
    private static final double TOL = 1e-5;
    private final SplittableRandom rng = new SplittableRandom(7);

    /**
     * cublasLtMatmul on column-major arrays: D[i + j·ldd] = (D if accumulate) + Σ_p op(A)[i, p]·op(B)[p, j],
     * where op(X)[r, c] is X[r + c·ld] untransposed and X[c + r·ld] transposed; the BIAS epilogue adds
     * bias[i] (one per row of D), BGRADB writes bias[j] = Σ_p op(B)[p, j] (one per column of D).
     */
    private static void gemm(CublasLt.Gemm g, float[] A, float[] B, float[] D, boolean accumulate, int epilogue, float[] bias) {
        assertTrue(g.lda() >= g.rowsA() && g.ldb() >= g.rowsB() && g.ldd() >= g.m(), "each leading dimension covers its column: " + g);
        assertEquals((long) g.lda() * g.colsA(), A.length, "A as stored: " + g);
        assertEquals((long) g.ldb() * g.colsB(), B.length, "B as stored: " + g);
        assertEquals((long) g.ldd() * g.n(), D.length, "D: " + g);
        for (int j = 0; j < g.n(); j++) {
            for (int i = 0; i < g.m(); i++) {
                double sum = accumulate ? D[i + j * g.ldd()] : 0;
                for (int p = 0; p < g.k(); p++) sum += (double) op(A, g.opA(), g.lda(), i, p) * op(B, g.opB(), g.ldb(), p, j);
                if (epilogue == CublasLt.EPILOGUE_BIAS) sum += bias[i];
                D[i + j * g.ldd()] = (float) sum;
            }
        }
        if (epilogue == CublasLt.EPILOGUE_BGRADB) {
            assertEquals(g.n(), bias.length);
            for (int j = 0; j < g.n(); j++) {
                double sum = 0;
                for (int p = 0; p < g.k(); p++) sum += op(B, g.opB(), g.ldb(), p, j);
                bias[j] = (float) sum;
            }
        }
    }

    private static float op(float[] x, int op, int ld, int r, int c) {
        return op == CublasLt.OP_N ? x[r + c * ld] : x[c + r * ld];
    }

    private float[] random(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rng.nextGaussian();
        return a;
    }

    private static void assertClose(float[] expected, float[] actual, String what) {
        double scale = 0, err = 0;
        for (int i = 0; i < expected.length; i++) {
            scale = Math.max(scale, Math.abs(expected[i]));
            err = Math.max(err, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(err <= TOL * scale, what + ": max error " + err + " of max " + scale);
    }

    @Test
    void forwardWithTheBiasEpilogueIsInpTimesWTransposedPlusBias() {
        int rows = 7, C = 5, OC = 3;
        float[] inp = random(rows * C), w = random(OC * C), bias = random(OC);
        float[] cpu = new float[rows * OC], gpu = random(rows * OC); // beta 0: what D held does not matter
        Matmul.forward(Slice.of(cpu), Slice.of(inp), Slice.of(w), Slice.of(bias), rows, C, OC);
        gemm(CublasLt.Gemm.forward(rows, C, OC), w, inp, gpu, false, CublasLt.EPILOGUE_BIAS, bias);
        assertClose(cpu, gpu, "forward + bias");
    }

    @Test
    void backwardGemmsAndTheBiasGradientEpilogueAddTheCpusGradients() {
        int rows = 9, C = 4, OC = 6;
        float[] inp = random(rows * C), w = random(OC * C), dout = random(rows * OC);
        float[] dinp = random(rows * C), dw = random(OC * C), dbias = random(OC);
        float[] gDinp = dinp.clone(), gDw = dw.clone(), gDbias = dbias.clone();
        Matmul.backward(Slice.of(dinp), Slice.of(dw), Slice.of(dbias), Slice.of(dout), Slice.of(inp), Slice.of(w), rows, C, OC);

        gemm(CublasLt.Gemm.backwardInput(rows, C, OC), w, dout, gDinp, true, CublasLt.EPILOGUE_DEFAULT, null);
        float[] written = new float[OC];
        gemm(CublasLt.Gemm.backwardWeight(rows, C, OC), inp, dout, gDw, true, CublasLt.EPILOGUE_BGRADB, written);
        for (int o = 0; o < OC; o++) gDbias[o] += written[o]; // the epilogue writes; CudaKernels adds it to the gradient
        assertClose(dinp, gDinp, "dinp");
        assertClose(dw, gDw, "dweight");
        assertClose(dbias, gDbias, "dbias");
    }

    @Test
    void heuristicResultHasTheCLayout() {
        assertEquals(64, CublasLt.ALGO.byteSize()); // uint64_t data[8]
        assertEquals(96, CublasLt.HEURISTIC_RESULT.byteSize()); // algo, size_t, int, float, int[4]
        assertEquals(72, CublasLt.HEURISTIC_RESULT.byteOffset(MemoryLayout.PathElement.groupElement("state")));
    }

    @Test
    void alignmentIsTheLargestPowerOfTwoUpTo256() {
        assertEquals(256, CublasLt.alignment(0x7f0000000000L));
        assertEquals(256, CublasLt.alignment(0x7f0000000100L));
        assertEquals(128, CublasLt.alignment(0x7f0000000080L));
        assertEquals(16, CublasLt.alignment(0x7f0000000010L));
        assertEquals(4, CublasLt.alignment(0x7f0000000104L));
    }
}
