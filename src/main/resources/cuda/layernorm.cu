// LayerNorm over the last dimension (eps 1e-5), mirroring kernels/LayerNorm.java: one warp per row.

extern "C" __global__ void layernorm_forward(floatX* out, float* mean, float* rstd, const floatX* inp,
                                             const floatX* weight, const floatX* bias, int N, int C) {
    int lane = threadIdx.x % 32;
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= N) return;
    const floatX* x = inp + (u64) row * C;
    float sum = 0.0f;
    for (int c = lane; c < C; c += 32) sum += toF(x[c]);
    float m = warpSum(sum) / C;
    float var = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float d = toF(x[c]) - m;
        var += d * d;
    }
    float s = 1.0f / sqrtf(warpSum(var) / C + 1e-5f);
    floatX* o = out + (u64) row * C;
    for (int c = lane; c < C; c += 32) o[c] = fromF((toF(x[c]) - m) * s * toF(weight[c]) + toF(bias[c]));
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = s;
    }
}

// dinp += ∂L/∂inp; one warp per row.
extern "C" __global__ void layernorm_backward_input(floatX* dinp, const floatX* dout, const floatX* inp,
                                                    const floatX* weight, const float* mean, const float* rstd,
                                                    int N, int C) {
    int lane = threadIdx.x % 32;
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= N) return;
    u64 base = (u64) row * C;
    float m = mean[row], s = rstd[row];
    float sumD = 0.0f, sumDN = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float dn = toF(dout[base + c]) * toF(weight[c]);
        sumD += dn;
        sumDN += dn * (toF(inp[base + c]) - m) * s;
    }
    float dnormMean = warpSum(sumD) / C;
    float dnormNormMean = warpSum(sumDN) / C;
    for (int c = lane; c < C; c += 32) {
        float dn = toF(dout[base + c]) * toF(weight[c]);
        float n = (toF(inp[base + c]) - m) * s;
        dinp[base + c] = fromF(toF(dinp[base + c]) + (dn - dnormMean - n * dnormNormMean) * s);
    }
}

// The weight and bias gradients of rows [chunk·rowsPerChunk, +rowsPerChunk), one thread per column:
// partial[chunk, 0, c] = Σ dout·norm, partial[chunk, 1, c] = Σ dout. add_column_partials then adds
// the chunks in order, so the sum never depends on thread timing. Grid (ceil(C / block), chunks).
extern "C" __global__ void layernorm_backward_params_partial(float* partial, const floatX* dout, const floatX* inp,
                                                             const float* mean, const float* rstd, int N, int C,
                                                             int rowsPerChunk) {
    int c = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (c >= C) return;
    int r0 = chunk * rowsPerChunk, r1 = min(N, r0 + rowsPerChunk);
    float dw = 0.0f, db = 0.0f;
    for (int r = r0; r < r1; r++) {
        float dy = toF(dout[(u64) r * C + c]);
        dw += dy * (toF(inp[(u64) r * C + c]) - mean[r]) * rstd[r];
        db += dy;
    }
    partial[((u64) chunk * 2) * C + c] = dw;
    partial[((u64) chunk * 2 + 1) * C + c] = db;
}
