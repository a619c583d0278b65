// What the linear layer needs besides cuBLAS's sgemm: the bias, and the bias gradient as column sums
// of dout in a fixed order (per-chunk partial sums, then the chunks added in order).

// out[r, o] = bias[o]; the sgemm then adds inp · Wᵀ. One thread per element.
extern "C" __global__ void bias_broadcast(floatX* out, const floatX* bias, int rows, int OC) {
    u64 i = globalIndex();
    if (i >= (u64) rows * OC) return;
    out[i] = bias[i % OC];
}

// partial[chunk, c] = Σ x[r, c] over rows [chunk·rowsPerChunk, +rowsPerChunk). Grid (ceil(C / block), chunks).
extern "C" __global__ void column_sums_partial(float* partial, const floatX* x, int N, int C, int rowsPerChunk) {
    int c = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (c >= C) return;
    int r0 = chunk * rowsPerChunk, r1 = min(N, r0 + rowsPerChunk);
    float acc = 0.0f;
    for (int r = r0; r < r1; r++) acc += toF(x[(u64) r * C + c]);
    partial[(u64) chunk * C + c] = acc;
}

// dst[c] += Σ_k partial[k·stride + c] for k = 0 .. chunks-1, in that order.
extern "C" __global__ void add_column_partials(floatX* dst, const float* partial, int chunks, int stride, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float acc = 0.0f;
    for (int k = 0; k < chunks; k++) acc += partial[(u64) k * stride + c];
    dst[c] = fromF(toF(dst[c]) + acc);
}
