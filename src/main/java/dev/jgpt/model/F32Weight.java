package dev.jgpt.model;

import dev.jgpt.kernels.Matmul;
import dev.jgpt.kernels.Matvec;
import dev.jgpt.tensor.Slice;

/** The model's own float32 matrix, row-major in the parameter buffer: the weights training updates. */
public record F32Weight(Slice values) implements Weight {

    /** Row by row ({@link Matvec}, which reads W once for all rows) or tiled over many rows ({@link Matmul}). */
    @Override
    public void forward(Slice out, Slice inp, Slice bias, int n, int C, int OC, boolean rowWise) {
        if (rowWise) Matvec.forward(out, inp, values, bias, n, C, OC);
        else Matmul.forward(out, inp, values, bias, n, C, OC);
    }

    @Override
    public void copyRow(int o, int C, float[] dst, int dstOff) {
        System.arraycopy(values.array(), values.offset() + o * C, dst, dstOff, C);
    }

    @Override
    public void addRow(int o, int C, float[] dst, int dstOff) {
        float[] w = values.array();
        int at = values.offset() + o * C;
        for (int c = 0; c < C; c++) dst[dstOff + c] += w[at + c];
    }
}
