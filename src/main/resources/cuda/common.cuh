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
