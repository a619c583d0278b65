// GELU, tanh approximation (GPT-2's gelu_new), mirroring kernels/Gelu.java.

#define GELU_K 0.7978845608028654f  // sqrt(2 / pi)
#define GELU_A 0.044715f

extern "C" __global__ void gelu_forward(floatX* out, const floatX* inp, int n) {
    u64 i = globalIndex();
    if (i >= (u64) n) return;
    float x = toF(inp[i]);
    out[i] = fromF(0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_A * x * x * x))));
}

// dinp += dout · gelu'(inp).
extern "C" __global__ void gelu_backward(floatX* dinp, const floatX* inp, const floatX* dout, int n) {
    u64 i = globalIndex();
    if (i >= (u64) n) return;
    float x = toF(inp[i]);
    float t = tanhf(GELU_K * (x + GELU_A * x * x * x));
    float grad = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_A * x * x);
    dinp[i] = fromF(toF(dinp[i]) + grad * toF(dout[i]));
}
