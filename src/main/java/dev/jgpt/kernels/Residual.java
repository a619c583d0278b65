package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.Slice;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** The residual connection: out = a + b; its backward adds dout to both inputs' gradients. */
public final class Residual {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** An element is one add, cheaper than GELU's: twice its elements make a chunk worth a hand-off. */
    private static final int ELEMENTS_PER_CHUNK = 8192;

    private Residual() {
    }

    /** out = a + b, elementwise (out may be a or b). */
    public static void forward(Slice out, Slice a, Slice b, int n) {
        forward(out.array(), out.offset(), a.array(), a.offset(), b.array(), b.offset(), n);
    }

    static void forward(float[] out, int outOff, float[] a, int aOff, float[] b, int bOff, int n) {
        Parallel.forRange(n, ELEMENTS_PER_CHUNK, (start, end) -> {
            int i = start;
            for (int bound = start + S.loopBound(end - start); i < bound; i += S.length()) {
                FloatVector.fromArray(S, a, aOff + i).add(FloatVector.fromArray(S, b, bOff + i)).intoArray(out, outOff + i);
            }
            for (; i < end; i++) out[outOff + i] = a[aOff + i] + b[bOff + i];
        });
    }

    /** dst += src, elementwise. */
    public static void accumulate(Slice dst, Slice src, int n) {
        accumulate(dst.array(), dst.offset(), src.array(), src.offset(), n);
    }

    static void accumulate(float[] dst, int dstOff, float[] src, int srcOff, int n) {
        Parallel.forRange(n, ELEMENTS_PER_CHUNK, (start, end) -> {
            int i = start;
            for (int bound = start + S.loopBound(end - start); i < bound; i += S.length()) {
                FloatVector.fromArray(S, dst, dstOff + i).add(FloatVector.fromArray(S, src, srcOff + i)).intoArray(dst, dstOff + i);
            }
            for (; i < end; i++) dst[dstOff + i] += src[srcOff + i];
        });
    }
}
