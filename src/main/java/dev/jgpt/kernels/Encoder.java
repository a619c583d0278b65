package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.Slice;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** Token + position embedding: out[b, t] = wte[token] + wpe[t]. */
public final class Encoder {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** A position is one add over C floats: fewer than this are not worth another thread's hand-off. */
    private static final int POSITIONS_PER_CHUNK = 16;

    private Encoder() {
    }

    public static void forward(Slice out, int[] tokens, Slice wte, Slice wpe, int B, int T, int C) {
        forward(out.array(), out.offset(), tokens, wte.array(), wte.offset(), wpe.array(), wpe.offset(), B, T, C);
    }

    static void forward(float[] out, int outOff, int[] tokens, float[] wte, int wteOff, float[] wpe, int wpeOff,
                        int B, int T, int C) {
        Parallel.forRange(B * T, POSITIONS_PER_CHUNK, (start, end) -> {
            for (int bt = start; bt < end; bt++) {
                int tok = wteOff + tokens[bt] * C, pos = wpeOff + (bt % T) * C, o = outOff + bt * C;
                int c = 0;
                for (int full = S.loopBound(C); c < full; c += S.length()) {
                    FloatVector.fromArray(S, wte, tok + c).add(FloatVector.fromArray(S, wpe, pos + c)).intoArray(out, o + c);
                }
                for (; c < C; c++) out[o + c] = wte[tok + c] + wpe[pos + c];
            }
        });
    }

    /**
     * dwte[token] += dout, dwpe[t] += dout. A token can repeat within a batch, so threads split the
     * channels rather than the positions: no two threads touch the same element.
     */
    public static void backward(Slice dwte, Slice dwpe, Slice dout, int[] tokens, int B, int T, int C) {
        backward(dwte.array(), dwte.offset(), dwpe.array(), dwpe.offset(), dout.array(), dout.offset(), tokens, B, T, C);
    }

    static void backward(float[] dwte, int dwteOff, float[] dwpe, int dwpeOff, float[] dout, int doutOff, int[] tokens,
                         int B, int T, int C) {
        int slab = 4 * S.length();
        Parallel.forRange((C + slab - 1) / slab, Parallel.WHOLE_TASKS, (start, end) -> {
            for (int s = start; s < end; s++) {
                int c0 = s * slab, c1 = Math.min(C, c0 + slab);
                for (int bt = 0; bt < B * T; bt++) {
                    int tok = dwteOff + tokens[bt] * C, pos = dwpeOff + (bt % T) * C, d = doutOff + bt * C;
                    for (int c = c0; c < c1; c++) {
                        float g = dout[d + c];
                        dwte[tok + c] += g;
                        dwpe[pos + c] += g;
                    }
                }
            }
        });
    }
}
