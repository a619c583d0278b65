// One AdamW step over a span of the parameter buffer, mirroring kernels/AdamW.java (torch.optim.AdamW):
// decoupled decay, the moments, the bias-corrected step; the gradient is scaled by the clipping
// coefficient on the way in and zeroed for the next step. decay = 1 − lr·wd, stepSize =
// lr / (1 − β1ᵗ) and invSqrtBc2 = 1 / √(1 − β2ᵗ) come from the host, computed as the CPU computes them.
extern "C" __global__ void adamw_update(float* params, floatX* grads, float* m, float* v, int n, float gradScale,
                                        float beta1, float beta2, float eps, float decay, float stepSize,
                                        float invSqrtBc2) {
    u64 i = globalIndex();
    if (i >= (u64) n) return;
    float g = toF(grads[i]) * gradScale;
    grads[i] = fromF(0.0f);
    float mi = m[i] * beta1 + g * (1.0f - beta1);
    float vi = v[i] * beta2 + g * g * (1.0f - beta2);
    m[i] = mi;
    v[i] = vi;
    float denom = sqrtf(vi) * invSqrtBc2 + eps;
    params[i] = params[i] * decay - stepSize * (mi / denom);
}
