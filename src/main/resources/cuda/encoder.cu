// Token + position embedding, mirroring kernels/Encoder.java. The backward sums every position's
// gradient in position order, as the CPU does, so the result does not depend on thread timing.

// out[bt, c] = wte[tokens[bt], c] + wpe[bt % T, c]; one thread per element.
extern "C" __global__ void encoder_forward(floatX* out, const int* tokens, const floatX* wte, const floatX* wpe,
                                           int BT, int T, int C) {
    u64 i = globalIndex();
    if (i >= (u64) BT * C) return;
    int bt = (int) (i / C), c = (int) (i % C);
    out[i] = fromF(toF(wte[(u64) tokens[bt] * C + c]) + toF(wpe[(u64) (bt % T) * C + c]));
}

// dwte[token, c] += dout[bt, c] over the positions bt holding that token. The host groups the
// positions by token (bucket k: token bucketTokens[k], positions[bucketStarts[k] .. bucketStarts[k+1]),
// ascending); grid (buckets, ceil(C / block)).
extern "C" __global__ void encoder_backward_wte(floatX* dwte, const floatX* dout, const int* bucketTokens,
                                                const int* bucketStarts, const int* positions, int C) {
    int k = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    u64 at = (u64) bucketTokens[k] * C + c;
    float acc = toF(dwte[at]);
    for (int i = bucketStarts[k]; i < bucketStarts[k + 1]; i++) acc += toF(dout[(u64) positions[i] * C + c]);
    dwte[at] = fromF(acc);
}

// dwpe[t, c] += dout[b, t, c] for b = 0 .. B-1; one thread per (t, c).
extern "C" __global__ void encoder_backward_wpe(floatX* dwpe, const floatX* dout, int B, int T, int C) {
    u64 i = globalIndex();
    if (i >= (u64) T * C) return;
    float acc = toF(dwpe[i]);
    for (int b = 0; b < B; b++) acc += toF(dout[(u64) b * T * C + i]);
    dwpe[i] = fromF(acc);
}
