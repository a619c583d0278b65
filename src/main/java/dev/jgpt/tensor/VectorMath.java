package dev.jgpt.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Lane sums, exp and tanh on float vectors from additions, multiplications, FMAs and lane moves only. The Vector API's own
 * {@code lanewise(EXP)} gives different last bits compiled (a vector math library) than interpreted
 * (Math.exp per lane), so a run's numbers would depend on when the JIT got to a kernel — and a resumed
 * run, starting in a cold JVM, would drift from the uninterrupted one. Basic arithmetic rounds the same
 * in every tier. Accuracy: within 2 ulp of Math.exp over the float range; tanh within 1e-7 absolute.
 */
public final class VectorMath {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693145751953125f;   // ln 2 split so n·LN2_HI is exact
    private static final float LN2_LO = 1.428606765330187045e-6f;
    private static final float MAX_ARG = 88.72283f;           // exp overflows float above this
    private static final float MIN_ARG = -87.3365447505531f;  // below this the result is flushed to 0
    private static final float ROUND = 12582912f;             // 1.5·2^23: adding and subtracting it rounds to an integer

    private VectorMath() {
    }

    // lane i takes lane i + shift: halving sums in a fixed tree, the same in every tier
    private static final VectorShuffle<Float>[] HALVES = halves();

    @SuppressWarnings("unchecked")
    private static VectorShuffle<Float>[] halves() {
        int n = Integer.numberOfTrailingZeros(S.length());
        VectorShuffle<Float>[] h = new VectorShuffle[n];
        for (int k = 0, shift = S.length() / 2; shift >= 1; k++, shift /= 2) {
            int sh = shift;
            h[k] = VectorShuffle.fromOp(S, i -> (i + sh) % S.length());
        }
        return h;
    }

    /**
     * The sum of the lanes in a fixed order. {@code reduceLanes(ADD)} may add in any order — compiled
     * code uses a tree, the interpreter a loop — which changes the last bits between JIT tiers.
     */
    public static float sum(FloatVector v) {
        for (VectorShuffle<Float> h : HALVES) v = v.add(v.rearrange(h));
        return v.lane(0);
    }

    /** e^x per lane (x = −∞ gives 0, large x gives +∞). */
    public static FloatVector exp(FloatVector x) {
        VectorMask<Float> under = x.lt(MIN_ARG), over = x.compare(VectorOperators.GT, MAX_ARG);
        FloatVector xc = x.max(MIN_ARG).min(MAX_ARG);
        // x = n·ln2 + r, |r| <= ln2/2; e^x = 2^n · e^r
        FloatVector n = xc.mul(LOG2E).add(ROUND).sub(ROUND); // round to the nearest integer
        FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
        // e^r by its Taylor series to r^7 (error < 1 ulp on |r| <= 0.347)
        FloatVector p = FloatVector.broadcast(S, 1f / 5040f);
        p = p.fma(r, FloatVector.broadcast(S, 1f / 720f));
        p = p.fma(r, FloatVector.broadcast(S, 1f / 120f));
        p = p.fma(r, FloatVector.broadcast(S, 1f / 24f));
        p = p.fma(r, FloatVector.broadcast(S, 1f / 6f));
        p = p.fma(r, FloatVector.broadcast(S, 0.5f));
        p = p.fma(r, FloatVector.broadcast(S, 1f));
        p = p.fma(r, FloatVector.broadcast(S, 1f));
        // 2^n built from its exponent bits; n in [-126, 127] after the clamp, split in two halves so
        // neither leaves the normal range
        IntVector ni = (IntVector) n.convert(VectorOperators.F2I, 0);
        IntVector half = ni.lanewise(VectorOperators.ASHR, 1);
        FloatVector scale1 = half.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector scale2 = ni.sub(half).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector result = p.mul(scale1).mul(scale2);
        result = result.blend(0f, under);
        return result.blend(Float.POSITIVE_INFINITY, over);
    }

    /** The same e^x for one float (the scalar tails of vector loops), bit for bit. */
    public static float exp(float x) {
        if (x < MIN_ARG) return 0f;
        if (x > MAX_ARG) return Float.POSITIVE_INFINITY;
        float n = x * LOG2E + ROUND - ROUND;
        float r = Math.fma(n, -LN2_HI, x);
        r = Math.fma(n, -LN2_LO, r);
        float p = 1f / 5040f;
        p = Math.fma(p, r, 1f / 720f);
        p = Math.fma(p, r, 1f / 120f);
        p = Math.fma(p, r, 1f / 24f);
        p = Math.fma(p, r, 1f / 6f);
        p = Math.fma(p, r, 0.5f);
        p = Math.fma(p, r, 1f);
        p = Math.fma(p, r, 1f);
        int ni = (int) n, half = ni >> 1;
        return p * Float.intBitsToFloat((half + 127) << 23) * Float.intBitsToFloat((ni - half + 127) << 23);
    }

    /** The same tanh for one float, bit for bit. */
    public static float tanh(float x) {
        float e = exp(Math.min(Math.abs(x), 9f) * 2f);
        float t = 1f - 2f / (e + 1f);
        return x < 0 ? -t : t;
    }

    /** tanh per lane, as 1 − 2/(e^{2x} + 1) with the sign restored (exact ±1 for |x| > 9). */
    public static FloatVector tanh(FloatVector x) {
        FloatVector ax = x.abs().min(9f);
        FloatVector e = exp(ax.mul(2f));
        FloatVector t = FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(e.add(1f)));
        return t.blend(t.neg(), x.lt(0f));
    }
}
