package dev.jgpt.model;

/**
 * One transformer block, written once for every engine and every pass: training's forward and
 * backward, a prompt's prefill and a decode step, on the CPU and on the GPU. What differs is passed
 * in: the engine's operations on its own buffers ({@link BlockOps}, {@link TrainingOps}), where the
 * activations go ({@link Buffers}: training keeps every layer's for the backward, a decoder reuses one
 * chunk's) and how attention finds its keys ({@link SelfAttention}: the batch's own rows, or a
 * key/value cache).
 */
public final class Block {
    private Block() {
    }

    /**
     * Where a block reads its input and writes each activation, for n rows. Buffers may be shared
     * where nothing later needs the earlier value: a decoder's block adds into its input
     * (input = residual2 = output) and runs GELU in place (fch = fchGelu); training's adds each
     * residual into the projection's output (attproj = residual2, fcproj = output) and keeps one
     * layer's fchGelu, recomputed by the backward. {@code lse} (attention's log-sum-exp of each score
     * row) is training's only.
     */
    public record Buffers<A>(A input, A ln1, A ln1Mean, A ln1Rstd, A qkv, A atty, A lse, A attproj,
                             A residual2, A ln2, A ln2Mean, A ln2Rstd, A fch, A fchGelu, A fcproj, A output) {
    }

    /** One layer's activation gradients; the backward walks the layers one at a time and reuses them. */
    public record Gradients<A>(A dResidual, A dLn, A dAtty, A dQkv, A dFch, A dFchGelu) {
    }

    /** Causal self-attention of the block's rows: out (n, C) from qkv (n, 3C). */
    @FunctionalInterface
    public interface SelfAttention<A> {
        void forward(A out, A qkv);
    }

    /** Layer l on n rows of C channels: x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x)). */
    public static <A> void forward(BlockOps<A> ops, GptLayout w, int l, Buffers<A> a, SelfAttention<A> attention, int n, int C) {
        long nC = (long) n * C;
        // x = x + attn(ln_1(x))
        ops.layernorm(a.ln1(), a.ln1Mean(), a.ln1Rstd(), a.input(), w.ln1Weight[l], w.ln1Bias[l], n, C);
        ops.matmul(a.qkv(), a.ln1(), w.qkvWeight[l], w.qkvBias[l], n, C, 3 * C);
        attention.forward(a.atty(), a.qkv());
        ops.matmul(a.attproj(), a.atty(), w.attnProjWeight[l], w.attnProjBias[l], n, C, C);
        ops.residual(a.residual2(), a.input(), a.attproj(), nC);
        // x = x + mlp(ln_2(x))
        ops.layernorm(a.ln2(), a.ln2Mean(), a.ln2Rstd(), a.residual2(), w.ln2Weight[l], w.ln2Bias[l], n, C);
        ops.matmul(a.fch(), a.ln2(), w.fcWeight[l], w.fcBias[l], n, C, 4 * C);
        ops.gelu(a.fchGelu(), a.fch(), 4 * nC);
        ops.matmul(a.fcproj(), a.fchGelu(), w.fcProjWeight[l], w.fcProjBias[l], n, 4 * C, C);
        ops.residual(a.output(), a.residual2(), a.fcproj(), nC);
    }

    /**
     * Layer l's backward over B×T rows, given d.dResidual = ∂L/∂(its output); leaves ∂L/∂(its input)
     * there, and adds its parameters' gradients. Each activation gradient is zeroed before its
     * backward adds into it.
     */
    public static <A> void backward(TrainingOps<A> ops, GptLayout w, int l, Buffers<A> a, Gradients<A> d,
                                    int B, int T, int C, int NH) {
        int n = B * T;
        long nC = (long) n * C;
        // MLP: dResidual is d(output) here; it becomes d(residual2) after ln_2's backward.
        // GELU's output is recomputed rather than kept for every layer: 4C floats a token a layer saved.
        ops.gelu(a.fchGelu(), a.fch(), 4 * nC);
        ops.zero(d.dFchGelu(), 4 * nC);
        ops.matmulBackward(d.dFchGelu(), w.fcProjWeight[l], w.fcProjBias[l], d.dResidual(), a.fchGelu(), n, 4 * C, C);
        ops.zero(d.dFch(), 4 * nC);
        ops.geluBackward(d.dFch(), a.fch(), d.dFchGelu(), 4 * nC);
        ops.zero(d.dLn(), nC);
        ops.matmulBackward(d.dLn(), w.fcWeight[l], w.fcBias[l], d.dFch(), a.ln2(), n, C, 4 * C);
        ops.layernormBackward(d.dResidual(), w.ln2Weight[l], w.ln2Bias[l], d.dLn(), a.residual2(), a.ln2Mean(), a.ln2Rstd(), n, C);
        // attention: dResidual becomes d(input) after ln_1's backward.
        ops.zero(d.dAtty(), nC);
        ops.matmulBackward(d.dAtty(), w.attnProjWeight[l], w.attnProjBias[l], d.dResidual(), a.atty(), n, C, C);
        ops.zero(d.dQkv(), 3 * nC);
        ops.attentionBackward(d.dQkv(), d.dAtty(), a.qkv(), a.atty(), a.lse(), B, T, C, NH);
        ops.zero(d.dLn(), nC);
        ops.matmulBackward(d.dLn(), w.qkvWeight[l], w.qkvBias[l], d.dQkv(), a.ln1(), n, C, 3 * C);
        ops.layernormBackward(d.dResidual(), w.ln1Weight[l], w.ln1Bias[l], d.dLn(), a.input(), a.ln1Mean(), a.ln1Rstd(), n, C);
    }
}
