package dev.jgpt.model;

import dev.jgpt.kernels.Gelu;
import dev.jgpt.kernels.LayerNorm;
import dev.jgpt.kernels.Residual;
import dev.jgpt.tensor.Slice;
import dev.jgpt.tensor.View;

import java.util.function.Function;

/**
 * One transformer block, written once: training's forward, a prompt's prefill and a decode step all
 * run their layers through {@link #forward}. What differs between them is passed in: where the
 * activations go ({@link Buffers}: training keeps every layer's for the backward, a decoder reuses one
 * chunk's), how attention finds its keys ({@link SelfAttention}: the batch's own rows, or a key/value
 * cache) and how the weights are stored ({@link Weight}).
 */
final class Block {
    private Block() {
    }

    /** A block's parameters: LayerNorm's and the biases as float32 slices, the four matrices as the engine stores them. */
    record Weights(Slice ln1w, Slice ln1b, Weight qkvw, Slice qkvb, Weight attprojw, Slice attprojb,
                   Slice ln2w, Slice ln2b, Weight fcw, Slice fcb, Weight fcprojw, Slice fcprojb) {

        /** Layer l's parameters in {@code params}, its matrices stored by {@code matrix}. */
        static Weights of(GptLayout w, int l, float[] params, Function<View, Weight> matrix) {
            return new Weights(w.ln1Weight[l].in(params), w.ln1Bias[l].in(params),
                    matrix.apply(w.qkvWeight[l]), w.qkvBias[l].in(params),
                    matrix.apply(w.attnProjWeight[l]), w.attnProjBias[l].in(params),
                    w.ln2Weight[l].in(params), w.ln2Bias[l].in(params),
                    matrix.apply(w.fcWeight[l]), w.fcBias[l].in(params),
                    matrix.apply(w.fcProjWeight[l]), w.fcProjBias[l].in(params));
        }
    }

    /**
     * Where a block reads its input and writes each activation, for n rows. Buffers may be shared
     * where nothing later needs the earlier value: a decoder's block adds into its input
     * (input = residual2 = output) and runs GELU in place (fch = fchGelu); training's adds each
     * residual into the projection's output (attproj = residual2, fcproj = output).
     */
    record Buffers(Slice input, Slice ln1, Slice ln1Mean, Slice ln1Rstd, Slice qkv, Slice atty, Slice attproj,
                   Slice residual2, Slice ln2, Slice ln2Mean, Slice ln2Rstd, Slice fch, Slice fchGelu, Slice fcproj,
                   Slice output) {
    }

    /** Causal self-attention of the block's rows: out (n, C) from qkv (n, 3C). */
    @FunctionalInterface
    interface SelfAttention {
        void forward(Slice out, Slice qkv);
    }

    /**
     * The block on n rows of C channels: x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x)).
     * {@code rowWise}: each row must round as it would alone (see {@link Weight#forward}).
     */
    static void forward(Weights w, Buffers a, SelfAttention attention, int n, int C, boolean rowWise) {
        // x = x + attn(ln_1(x))
        LayerNorm.forward(a.ln1(), a.ln1Mean(), a.ln1Rstd(), a.input(), w.ln1w(), w.ln1b(), n, C);
        w.qkvw().forward(a.qkv(), a.ln1(), w.qkvb(), n, C, 3 * C, rowWise);
        attention.forward(a.atty(), a.qkv());
        w.attprojw().forward(a.attproj(), a.atty(), w.attprojb(), n, C, C, rowWise);
        Residual.forward(a.residual2(), a.input(), a.attproj(), n * C);
        // x = x + mlp(ln_2(x))
        LayerNorm.forward(a.ln2(), a.ln2Mean(), a.ln2Rstd(), a.residual2(), w.ln2w(), w.ln2b(), n, C);
        w.fcw().forward(a.fch(), a.ln2(), w.fcb(), n, C, 4 * C, rowWise);
        Gelu.forward(a.fchGelu(), a.fch(), n * 4 * C);
        w.fcprojw().forward(a.fcproj(), a.fchGelu(), w.fcprojb(), n, 4 * C, C, rowWise);
        Residual.forward(a.output(), a.residual2(), a.fcproj(), n * C);
    }
}
