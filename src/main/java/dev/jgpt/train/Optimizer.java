package dev.jgpt.train;

import dev.jgpt.kernels.AdamW;
import dev.jgpt.model.Gpt;
import dev.jgpt.tensor.View;

/**
 * AdamW over the model's parameter buffer with nanoGPT's two groups: weight decay on every tensor of
 * rank ≥ 2 (matmul weights and embeddings), none on biases and LayerNorm parameters. The moments m
 * and v are one buffer each, in the parameters' layout.
 */
public final class Optimizer {
    private final Gpt model;
    private final float[] m, v;
    private long step;
    public final float beta1, beta2, eps, weightDecay;

    public Optimizer(Gpt model, float weightDecay, float beta1, float beta2, float eps) {
        this.model = model;
        this.m = new float[model.params().length];
        this.v = new float[model.params().length];
        this.weightDecay = weightDecay;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
    }

    /**
     * One update at learning rate {@code lr}: clips the gradient's global norm to {@code maxNorm} as
     * torch's clip_grad_norm_ does (coefficient maxNorm / (norm + 1e-6) when below 1; 0 = no clipping),
     * steps, and leaves the gradient zeroed for the next accumulation. Returns the norm before clipping.
     */
    public double step(float lr, double maxNorm) {
        double norm = model.gradNorm();
        step(lr, maxNorm, norm);
        return norm;
    }

    /** The same update with the gradient norm already measured ({@code model.gradNorm()}), so it can be checked first. */
    public void step(float lr, double maxNorm, double norm) {
        step++;
        double coef = maxNorm > 0 ? Math.min(1.0, maxNorm / (norm + 1e-6)) : 1.0;
        float[] p = model.params(), g = model.grads();
        long t = step;
        model.pool().run(() -> {
            for (View view : model.layout.layout.views()) {
                float wd = view.rank() >= 2 ? weightDecay : 0f;
                AdamW.update(p, g, m, v, view.start(), view.end(), (float) coef, lr, beta1, beta2, eps, wd, t);
            }
        });
    }

    public long steps() {
        return step;
    }

    /** The first moment buffer (for checkpoints). */
    public float[] m() {
        return m;
    }

    /** The second moment buffer (for checkpoints). */
    public float[] v() {
        return v;
    }

    /** Restores the step count after loading m and v from a checkpoint. */
    public void setSteps(long steps) {
        this.step = steps;
    }
}
