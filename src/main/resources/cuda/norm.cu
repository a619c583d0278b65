// Σ x² of a buffer, for the global gradient norm (clipping) and per-tensor norms. Each block writes
// one partial sum (in double, as kernels/AdamW.sumOfSquares accumulates); the host adds the partials
// in order, so the norm is the same on every run. Grid-stride over n elements; blockDim.x <= 1024.
extern "C" __global__ void sum_squares_partial(double* partial, const floatX* x, long long n) {
    __shared__ double warpSums[32];
    double acc = 0.0;
    for (u64 i = globalIndex(); i < (u64) n; i += (u64) gridDim.x * blockDim.x) {
        float v = toF(x[i]);
        acc += (double) (v * v);
    }
    acc = warpSumDouble(acc);
    if (threadIdx.x % 32 == 0) warpSums[threadIdx.x / 32] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
        double total = 0.0;
        for (int w = 0; w < blockDim.x / 32; w++) total += warpSums[w];
        partial[blockIdx.x] = total;
    }
}
