// Put in front of every kernel file. jgpt's kernels include no CUDA header: NVRTC supplies the
// built-ins (threadIdx, __shfl_xor_sync, expf, tanhf, ...) itself, and a storage type needs no header.
//
// floatX is the storage type of activations, weights and their gradients; every kernel reads it
// through toF and writes it through fromF and computes in float. Statistics (LayerNorm's mean and
// 1/std, attention's log-sum-exp, losses) and AdamW's moments are always float. bf16 storage is
// then a 16-bit struct with its two conversions here, and no kernel changes.
typedef float floatX;
__device__ __forceinline__ float toF(floatX x) { return x; }
__device__ __forceinline__ floatX fromF(float x) { return x; }

typedef unsigned long long u64;

#define NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ float warpSum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__device__ __forceinline__ double warpSumDouble(double v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__device__ __forceinline__ float warpMax(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

/** Global index of this thread in a 1-D launch. */
__device__ __forceinline__ u64 globalIndex() {
    return (u64) blockIdx.x * blockDim.x + threadIdx.x;
}

// Attention's lanes split the head dimension: lane l holds dimensions l, l+32, ... (up to
// HS_PER_LANE of them, so head sizes up to 32·HS_PER_LANE, CudaKernels.MAX_HEAD_SIZE).
#define HS_PER_LANE 8

// One query attending over keys[j·stride] and values[j·stride] for j = 0 .. last, in one warp: an
// online softmax (running max m and sum l, the output rescaled as the max grows), so no score is
// ever stored. q holds the lane's query dimensions; o receives the lane's unnormalized output
// (o / l is the attention's), *mOut and *lOut the final max and sum. Training's forward and
// decoding both attend through this.
__device__ __forceinline__ void attendOnline(const float* q, const floatX* keys, const floatX* values, u64 stride,
                                             int last, int hs, int lane, float scale, float* o, float* mOut, float* lOut) {
#pragma unroll
    for (int i = 0; i < HS_PER_LANE; i++) o[i] = 0.0f;
    float m = NEG_INF, l = 0.0f;
    for (int j = 0; j <= last; j++) {
        const floatX* k = keys + (u64) j * stride;
        const floatX* v = values + (u64) j * stride;
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < HS_PER_LANE; i++) {
            int d = lane + 32 * i;
            if (d < hs) s += q[i] * toF(k[d]);
        }
        s = warpSum(s) * scale;
        float mNew = fmaxf(m, s);
        float correction = expf(m - mNew); // 0 for the first key (m = -inf)
        float p = expf(s - mNew);
        l = l * correction + p;
#pragma unroll
        for (int i = 0; i < HS_PER_LANE; i++) {
            int d = lane + 32 * i;
            if (d < hs) o[i] = o[i] * correction + p * toF(v[d]);
        }
        m = mNew;
    }
    *mOut = m;
    *lOut = l;
}
