package dev.jgpt.model;

import dev.jgpt.kernels.Bf16;
import dev.jgpt.tensor.Slice;

/**
 * A matrix rounded to bf16 for decoding, half the bytes to read, in {@link Bf16#pack}'s column panels.
 * The arithmetic stays float32: products are float32 math on the rounded weights.
 */
public record Bf16Weight(short[] panels) implements Weight {

    /** W [rows, C], float32 at {@code w}, rounded and packed. */
    public static Bf16Weight of(Slice w, int rows, int C) {
        short[] panels = new short[Bf16.packedSize(rows, C)];
        Bf16.pack(w.array(), w.offset(), rows, C, panels, 0);
        return new Bf16Weight(panels);
    }

    /** One kernel for any number of rows: it rounds a row the same whatever the others, so {@code rowWise} holds always. */
    @Override
    public void forward(Slice out, Slice inp, Slice bias, int n, int C, int OC, boolean rowWise) {
        Bf16.matmul(out, inp, panels, 0, bias, n, C, OC);
    }

    @Override
    public void copyRow(int o, int C, float[] dst, int dstOff) {
        for (int c = 0; c < C; c++) dst[dstOff + c] = Bf16.at(panels, 0, C, o, c);
    }

    @Override
    public void addRow(int o, int C, float[] dst, int dstOff) {
        for (int c = 0; c < C; c++) dst[dstOff + c] += Bf16.at(panels, 0, C, o, c);
    }
}
