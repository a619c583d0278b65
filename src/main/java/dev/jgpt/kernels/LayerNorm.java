package dev.jgpt.kernels;

import dev.jgpt.tensor.Parallel;
import dev.jgpt.tensor.Slice;
import dev.jgpt.tensor.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** LayerNorm over the last dimension (eps 1e-5, as GPT-2), saving mean and 1/std for the backward. */
public final class LayerNorm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    public static final float EPS = 1e-5f;
    /** A row is a few passes over C floats: fewer rows than this are not worth another thread's hand-off. */
    private static final int ROWS_PER_CHUNK = 16;

    private LayerNorm() {
    }

    /** out = (inp − mean) · rstd · weight + bias for each of {@code rows} rows of C; keeps each row's mean and rstd. */
    public static void forward(Slice out, Slice mean, Slice rstd, Slice inp, Slice weight, Slice bias, int rows, int C) {
        forward(out.array(), out.offset(), mean.array(), mean.offset(), rstd.array(), rstd.offset(), inp.array(), inp.offset(),
                weight.array(), weight.offset(), bias.array(), bias.offset(), rows, C);
    }

    static void forward(float[] out, int outOff, float[] mean, int meanOff, float[] rstd, int rstdOff,
                        float[] inp, int inpOff, float[] weight, int wOff, float[] bias, int bOff,
                        int rows, int C) {
        Parallel.forRange(rows, ROWS_PER_CHUNK, (start, end) -> {
            int full = S.loopBound(C);
            for (int r = start; r < end; r++) {
                int x = inpOff + r * C;
                FloatVector acc = FloatVector.zero(S);
                int c = 0;
                for (; c < full; c += S.length()) acc = acc.add(FloatVector.fromArray(S, inp, x + c));
                float sum = VectorMath.sum(acc);
                for (; c < C; c++) sum += inp[x + c];
                float m = sum / C;
                FloatVector mv = FloatVector.broadcast(S, m);
                acc = FloatVector.zero(S);
                for (c = 0; c < full; c += S.length()) {
                    FloatVector d = FloatVector.fromArray(S, inp, x + c).sub(mv);
                    acc = d.fma(d, acc);
                }
                float var = VectorMath.sum(acc);
                for (; c < C; c++) {
                    float d = inp[x + c] - m;
                    var += d * d;
                }
                float s = (float) (1.0 / Math.sqrt(var / C + EPS));
                FloatVector sv = FloatVector.broadcast(S, s);
                int o = outOff + r * C;
                for (c = 0; c < full; c += S.length()) {
                    FloatVector n = FloatVector.fromArray(S, inp, x + c).sub(mv).mul(sv);
                    n.fma(FloatVector.fromArray(S, weight, wOff + c), FloatVector.fromArray(S, bias, bOff + c))
                            .intoArray(out, o + c);
                }
                for (; c < C; c++) out[o + c] = (inp[x + c] - m) * s * weight[wOff + c] + bias[bOff + c];
                mean[meanOff + r] = m;
                rstd[rstdOff + r] = s;
            }
        });
    }

    /** dinp += ∂L/∂inp; dweight, dbias += their gradients. */
    public static void backward(Slice dinp, Slice dweight, Slice dbias, Slice dout, Slice inp, Slice weight,
                                Slice mean, Slice rstd, int rows, int C) {
        backward(dinp.array(), dinp.offset(), dweight.array(), dweight.offset(), dbias.array(), dbias.offset(),
                dout.array(), dout.offset(), inp.array(), inp.offset(), weight.array(), weight.offset(),
                mean.array(), mean.offset(), rstd.array(), rstd.offset(), rows, C);
    }

    static void backward(float[] dinp, int dinpOff, float[] dweight, int dwOff, float[] dbias, int dbOff,
                         float[] dout, int doutOff, float[] inp, int inpOff, float[] weight, int wOff,
                         float[] mean, int meanOff, float[] rstd, int rstdOff, int rows, int C) {
        // dinp: rows are independent.
        Parallel.forRange(rows, ROWS_PER_CHUNK, (start, end) -> {
            int full = S.loopBound(C);
            for (int r = start; r < end; r++) {
                int x = inpOff + r * C, d = doutOff + r * C, g = dinpOff + r * C;
                float m = mean[meanOff + r], s = rstd[rstdOff + r];
                FloatVector mv = FloatVector.broadcast(S, m), sv = FloatVector.broadcast(S, s);
                FloatVector sumD = FloatVector.zero(S), sumDN = sumD;
                int c = 0;
                for (; c < full; c += S.length()) {
                    FloatVector dn = FloatVector.fromArray(S, dout, d + c).mul(FloatVector.fromArray(S, weight, wOff + c));
                    FloatVector n = FloatVector.fromArray(S, inp, x + c).sub(mv).mul(sv);
                    sumD = sumD.add(dn);
                    sumDN = dn.fma(n, sumDN);
                }
                float dnormMean = VectorMath.sum(sumD);
                float dnormNormMean = VectorMath.sum(sumDN);
                for (; c < C; c++) {
                    float dn = dout[d + c] * weight[wOff + c];
                    dnormMean += dn;
                    dnormNormMean += dn * (inp[x + c] - m) * s;
                }
                dnormMean /= C;
                dnormNormMean /= C;
                FloatVector dmv = FloatVector.broadcast(S, dnormMean), dnmv = FloatVector.broadcast(S, dnormNormMean);
                for (c = 0; c < full; c += S.length()) {
                    FloatVector dn = FloatVector.fromArray(S, dout, d + c).mul(FloatVector.fromArray(S, weight, wOff + c));
                    FloatVector n = FloatVector.fromArray(S, inp, x + c).sub(mv).mul(sv);
                    FloatVector v = dn.sub(dmv).sub(n.mul(dnmv)).mul(sv);
                    FloatVector.fromArray(S, dinp, g + c).add(v).intoArray(dinp, g + c);
                }
                for (; c < C; c++) {
                    float dn = dout[d + c] * weight[wOff + c];
                    float n = (inp[x + c] - m) * s;
                    dinp[g + c] += (dn - dnormMean - n * dnormNormMean) * s;
                }
            }
        });
        // dweight, dbias: a column slab per task, so no two threads add into the same element.
        int slab = S.length();
        Parallel.forRange((C + slab - 1) / slab, Parallel.WHOLE_TASKS, (start, end) -> {
            for (int t = start; t < end; t++) {
                int c0 = t * slab, c1 = Math.min(C, c0 + slab);
                var mask = S.indexInRange(c0, c1);
                FloatVector dw = FloatVector.zero(S), db = dw;
                for (int r = 0; r < rows; r++) {
                    FloatVector dy = FloatVector.fromArray(S, dout, doutOff + r * C + c0, mask);
                    FloatVector n = FloatVector.fromArray(S, inp, inpOff + r * C + c0, mask)
                            .sub(mean[meanOff + r]).mul(rstd[rstdOff + r]);
                    dw = dy.fma(n, dw);
                    db = db.add(dy);
                }
                FloatVector.fromArray(S, dweight, dwOff + c0, mask).add(dw).intoArray(dweight, dwOff + c0, mask);
                FloatVector.fromArray(S, dbias, dbOff + c0, mask).add(db).intoArray(dbias, dbOff + c0, mask);
            }
        });
    }
}
