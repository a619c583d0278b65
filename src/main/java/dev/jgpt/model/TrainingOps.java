package dev.jgpt.model;

import dev.jgpt.tensor.View;

/**
 * Everything else a training step is made of: the embedding, attention over the batch's own rows,
 * the loss, and the backward of each operation. Each backward adds its gradient into its input's
 * gradient buffer and into the parameters' gradients (the engine's gradient storage, named by the
 * same views as the parameters). {@link Network} is written once against this.
 */
public interface TrainingOps<A> extends BlockOps<A> {

    /** out[b, t] = wte[tokens[b, t]] + wpe[t]. */
    void encoder(A out, int[] tokens, View wte, View wpe, int B, int T, int C);

    /** Causal self-attention: out (B, T, C) and each score row's log-sum-exp lse (B, NH, T) from qkv (B, T, 3C). */
    void attention(A out, A lse, A qkv, int B, int T, int C, int NH);

    /** Each row's −log softmax(logits)[target] over the first V of Vp columns (0 where the target is -1), on the host. */
    float[] crossEntropy(A logits, int[] targets, int n, int V, int Vp);

    /** x[0, n) = 0. */
    void zero(A x, long n);

    /** The logits, after {@link #crossEntropy} on them, overwritten with dloss · (softmax − onehot(target)). */
    void crossEntropyBackward(A logits, int[] targets, float dloss, int n, int V, int Vp);

    /** dinp += dout · W (skipped when dinp is null), dW += doutᵀ · inp, dbias += Σ_r dout (when bias is not null). */
    void matmulBackward(A dinp, View weight, View bias, A dout, A inp, int n, int C, int OC);

    /** dinp, dweight, dbias += LayerNorm's gradients, from the forward's input, mean and rstd. */
    void layernormBackward(A dinp, View weight, View bias, A dout, A inp, A mean, A rstd, int n, int C);

    /** dqkv += attention's gradient, from the forward's qkv, out and lse. */
    void attentionBackward(A dqkv, A dout, A qkv, A out, A lse, int B, int T, int C, int NH);

    /** dinp += dout · GELU'(inp). */
    void geluBackward(A dinp, A inp, A dout, long n);

    /** dwte[tokens[b, t]] += dout[b, t], dwpe[t] += dout[b, t]. */
    void encoderBackward(View wte, View wpe, A dout, int[] tokens, int B, int T, int C);
}
