// Softmax cross-entropy over logits (BT, Vp) of which only the first V columns are real, mirroring
// kernels/CrossEntropy.java: padded columns never take probability nor receive gradient, and a
// target of -1 means no loss at that position. One block per row; each thread keeps a running
// (max, Σ exp(x − max)) over its columns, and the block combines them in a fixed tree.

// Combines two running softmax sums; a pair with sum 0 (no columns seen) contributes nothing.
__device__ __forceinline__ void combine(float& m, float& s, float m2, float s2) {
    float M = fmaxf(m, m2);
    s = (s > 0.0f ? s * expf(m - M) : 0.0f) + (s2 > 0.0f ? s2 * expf(m2 - M) : 0.0f);
    m = M;
}

// The row's max and Σ exp(x − max) over its V real columns, in every thread of the block
// (blockDim.x a multiple of 32, at most 1024).
__device__ void rowSoftmaxStats(const floatX* x, int V, float* maxOut, float* sumOut) {
    __shared__ float sm[32], ss[32];
    float m = NEG_INF, s = 0.0f;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float xv = toF(x[v]);
        if (xv > m) {
            s = s * expf(m - xv) + 1.0f;
            m = xv;
        } else {
            s += expf(xv - m);
        }
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, offset), s2 = __shfl_xor_sync(0xffffffffu, s, offset);
        combine(m, s, m2, s2);
    }
    int warp = threadIdx.x / 32, warps = blockDim.x / 32;
    if (threadIdx.x % 32 == 0) {
        sm[warp] = m;
        ss[warp] = s;
    }
    __syncthreads();
    m = sm[0];
    s = ss[0];
    for (int w = 1; w < warps; w++) combine(m, s, sm[w], ss[w]);
    *maxOut = m;
    *sumOut = s;
}

// losses[r] = −log softmax(logits[r])[targets[r]], or 0 where the target is -1. Logits unchanged.
extern "C" __global__ void crossentropy_forward(float* losses, const floatX* logits, const int* targets, int V, int Vp) {
    int r = blockIdx.x, target = targets[r];
    if (target < 0) {
        if (threadIdx.x == 0) losses[r] = 0.0f;
        return;
    }
    const floatX* x = logits + (u64) r * Vp;
    float m, s;
    rowSoftmaxStats(x, V, &m, &s);
    if (threadIdx.x == 0) losses[r] = logf(s) + m - toF(x[target]);
}

// The loss as crossentropy_forward, and in the same launch the logits overwritten with
// dlogits = dloss · (softmax − onehot(target)); rows with target -1 and the padded columns become 0.
// dloss is the gradient of the total loss with respect to each position's loss (1/count for a mean).
extern "C" __global__ void classifier_fused(floatX* logits, float* losses, const int* targets, float dloss, int V, int Vp) {
    int r = blockIdx.x, target = targets[r];
    floatX* x = logits + (u64) r * Vp;
    if (target < 0) {
        for (int v = threadIdx.x; v < Vp; v += blockDim.x) x[v] = fromF(0.0f);
        if (threadIdx.x == 0) losses[r] = 0.0f;
        return;
    }
    float m, s;
    rowSoftmaxStats(x, V, &m, &s);
    float targetLogit = toF(x[target]);
    __syncthreads(); // every thread has read x[target] before any overwrites it
    if (threadIdx.x == 0) losses[r] = logf(s) + m - targetLogit;
    float scale = dloss / s;
    for (int v = threadIdx.x; v < Vp; v += blockDim.x) {
        float g = v < V ? expf(toF(x[v]) - m) * scale : 0.0f;
        if (v == target) g -= dloss;
        x[v] = fromF(g);
    }
}
