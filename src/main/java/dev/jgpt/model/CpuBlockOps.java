package dev.jgpt.model;

import dev.jgpt.kernels.Gelu;
import dev.jgpt.kernels.LayerNorm;
import dev.jgpt.kernels.Residual;
import dev.jgpt.tensor.Slice;
import dev.jgpt.tensor.View;

/**
 * A block's operations on the CPU (dev.jgpt.kernels on host slices), the parameters read from a
 * float32 buffer laid out by {@link GptLayout}; the matrix product is the engine's, which decides how
 * its matrices are stored and multiplied.
 */
interface CpuBlockOps extends BlockOps<Slice> {

    /** The float32 parameter buffer. */
    float[] params();

    /** A parameter tensor in the parameter buffer; null for none. */
    default Slice p(View v) {
        return v == null ? null : v.in(params());
    }

    @Override
    default void layernorm(Slice out, Slice mean, Slice rstd, Slice inp, View weight, View bias, int n, int C) {
        LayerNorm.forward(out, mean, rstd, inp, p(weight), p(bias), n, C);
    }

    @Override
    default void gelu(Slice out, Slice inp, long n) {
        Gelu.forward(out, inp, Math.toIntExact(n));
    }

    @Override
    default void residual(Slice out, Slice a, Slice b, long n) {
        Residual.forward(out, a, b, Math.toIntExact(n));
    }
}
