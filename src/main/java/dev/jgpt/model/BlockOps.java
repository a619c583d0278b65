package dev.jgpt.model;

import dev.jgpt.tensor.View;

/**
 * The operations a transformer block's forward is made of, as one engine runs them on its own
 * buffers {@code A} (host slices on the CPU, device buffers on the GPU). Parameters are named by
 * their {@link View} in {@link GptLayout}; the engine finds each in its own storage and format.
 * {@link Block#forward} is written once against this; training adds {@link TrainingOps}.
 */
public interface BlockOps<A> {

    /** out = (inp − mean) · rstd · weight + bias, row by row, keeping each row's mean and 1/std. */
    void layernorm(A out, A mean, A rstd, A inp, View weight, View bias, int n, int C);

    /** out[r, o] = bias[o] + Σ_c inp[r, c] · W[o, c] for n rows; bias may be null (none). */
    void matmul(A out, A inp, View weight, View bias, int n, int C, int OC);

    /** out = GELU(inp) (the tanh approximation), elementwise; out may be inp. */
    void gelu(A out, A inp, long n);

    /** out = a + b, elementwise; out may be a or b. */
    void residual(A out, A a, A b, long n);
}
