package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.Slice;
import dev.jgpt.tensor.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** GELU, tanh approximation (GPT-2's "gelu_new"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
public final class Gelu {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final float K = (float) Math.sqrt(2.0 / Math.PI);
    private static final float A = 0.044715f;
    /** An element is a tanh and a few multiplies: fewer than this are not worth another thread's hand-off. */
    private static final int ELEMENTS_PER_CHUNK = 4096;

    private Gelu() {
    }

    /** out = gelu(inp) for n elements (out may be inp). */
    public static void forward(Slice out, Slice inp, int n) {
        forward(out.array(), out.offset(), inp.array(), inp.offset(), n);
    }

    static void forward(float[] out, int outOff, float[] inp, int inpOff, int n) {
        Parallel.forRange(n, ELEMENTS_PER_CHUNK, (start, end) -> {
            int i = start;
            for (int bound = start + S.loopBound(end - start); i < bound; i += S.length()) {
                FloatVector x = FloatVector.fromArray(S, inp, inpOff + i);
                FloatVector t = VectorMath.tanh(x.mul(x).mul(x).mul(A).add(x).mul(K));
                x.mul(0.5f).mul(t.add(1f)).intoArray(out, outOff + i);
            }
            // the lanes' operations in the lanes' order: an element's bits do not depend on whether a
            // chunk boundary left it to the tail (so a row is the same alone or batched with others)
            for (; i < end; i++) {
                float x = inp[inpOff + i];
                float t = VectorMath.tanh((x * x * x * A + x) * K);
                out[outOff + i] = x * 0.5f * (t + 1f);
            }
        });
    }

    /** dinp += dout · gelu'(inp). */
    public static void backward(Slice dinp, Slice inp, Slice dout, int n) {
        backward(dinp.array(), dinp.offset(), inp.array(), inp.offset(), dout.array(), dout.offset(), n);
    }

    static void backward(float[] dinp, int dinpOff, float[] inp, int inpOff, float[] dout, int doutOff, int n) {
        Parallel.forRange(n, ELEMENTS_PER_CHUNK, (start, end) -> {
            int i = start;
            for (int bound = start + S.loopBound(end - start); i < bound; i += S.length()) {
                FloatVector x = FloatVector.fromArray(S, inp, inpOff + i);
                FloatVector x2 = x.mul(x);
                FloatVector t = VectorMath.tanh(x2.mul(x).mul(A).add(x).mul(K));
                FloatVector sech2 = t.mul(t).neg().add(1f);
                FloatVector inner = x2.mul(3f * A).add(1f).mul(K);
                FloatVector grad = t.add(1f).mul(0.5f).add(x.mul(0.5f).mul(sech2).mul(inner));
                FloatVector g = FloatVector.fromArray(S, dinp, dinpOff + i);
                grad.fma(FloatVector.fromArray(S, dout, doutOff + i), g).intoArray(dinp, dinpOff + i);
            }
            for (; i < end; i++) {
                float x = inp[inpOff + i];
                float t = VectorMath.tanh(K * (x + A * x * x * x));
                float grad = 0.5f * (1f + t) + 0.5f * x * (1f - t * t) * K * (1f + 3f * A * x * x);
                dinp[dinpOff + i] += grad * dout[doutOff + i];
            }
        });
    }
}
