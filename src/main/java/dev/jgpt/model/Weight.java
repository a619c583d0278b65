package dev.jgpt.model;

import dev.jgpt.tensor.Slice;

/**
 * A weight matrix W [rows, C] (nn.Linear's [out, in]) as an engine stores it. The storage decides how
 * a product with it runs: an engine asks for the product, never for the dtype.
 */
public sealed interface Weight permits F32Weight, Bf16Weight {

    /**
     * out[r, o] = bias[o] + Σ_c inp[r, c] · W[o, c] for n rows of C inputs and the first OC rows of W.
     * {@code rowWise}: each row must come out bit for bit as it would alone (the rows are different
     * sequences of one decode step, or a lone row that must match one), which the row kernels
     * guarantee and a tiled product over many rows does not.
     */
    void forward(Slice out, Slice inp, Slice bias, int n, int C, int OC, boolean rowWise);

    /** dst[dstOff + c] = W[o, c] for c < C: row o of an embedding table. */
    void copyRow(int o, int C, float[] dst, int dstOff);

    /** dst[dstOff + c] += W[o, c] for c < C. */
    void addRow(int o, int C, float[] dst, int dstOff);
}
