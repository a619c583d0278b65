// Decoding with a key/value cache, mirroring model/Inference.java. A pass runs n rows, each one token
// of its own sequence at its own position: a prompt chunk is n consecutive positions of one sequence,
// a step is n sequences at a position each; one set of kernels serves both.
//
// Row r's sequence keeps its cache in one block of device memory at address caches[r]: the keys
// [L][NH][maxT][hs], then the values in the same layout (the CPU sequence's two arrays, end to end),
// so a head's positions are consecutive rows of hs, as attention reads them.

// Offset of (layer, head h, position t) in the keys' half of a cache; the value is L·maxT·C further.
__device__ __forceinline__ u64 cacheOffset(int layer, int h, int t, int NH, int maxT, int hs) {
    return (((u64) layer * NH + h) * maxT + t) * hs;
}

// out[r, c] = wte[tokens[r], c] + wpe[positions[r], c]; one thread per element.
extern "C" __global__ void decode_embed(floatX* out, const int* tokens, const int* positions, const floatX* wte,
                                        const floatX* wpe, int n, int C) {
    u64 i = globalIndex();
    if (i >= (u64) n * C) return;
    int r = (int) (i / C), c = (int) (i % C);
    out[i] = fromF(toF(wte[(u64) tokens[r] * C + c]) + toF(wpe[(u64) positions[r] * C + c]));
}

// Stores each row's key and value of layer `layer` (from qkv (n, 3C): q, k, v of a row in turn) at
// the row's position in its cache. One thread per (row, channel).
extern "C" __global__ void kv_store(const u64* caches, const int* positions, const floatX* qkv, int n, int L,
                                    int layer, int C, int NH, int maxT) {
    u64 i = globalIndex();
    if (i >= (u64) n * C) return;
    int r = (int) (i / C), c = (int) (i % C), hs = C / NH;
    floatX* keys = (floatX*) caches[r];
    floatX* values = keys + (u64) L * maxT * C;
    u64 at = cacheOffset(layer, c / hs, positions[r], NH, maxT, hs) + c % hs;
    keys[at] = qkv[(u64) r * 3 * C + C + c];
    values[at] = qkv[(u64) r * 3 * C + 2 * C + c];
}

// out (n, C): row r's query (in qkv (n, 3C)) attends over positions 0 .. positions[r] of its cache at
// layer `layer` (kv_store has put the row's own key and value there), scale 1/sqrt(hs), with the
// online softmax of attention_forward (attendOnline): no score is stored. One warp per (row, head),
// its lanes splitting the head dimension as attention.cu's do; grid (ceil(n / warps per block), NH).

extern "C" __global__ void decode_attention(floatX* out, const floatX* qkv, const u64* caches, const int* positions,
                                            int n, int L, int layer, int C, int NH, int maxT) {
    int lane = threadIdx.x % 32;
    int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (r >= n) return;
    int h = blockIdx.y, hs = C / NH;
    float scale = 1.0f / sqrtf((float) hs);
    const floatX* keys = (const floatX*) caches[r] + cacheOffset(layer, h, 0, NH, maxT, hs);
    const floatX* values = keys + (u64) L * maxT * C;
    const floatX* query = qkv + (u64) r * 3 * C + h * hs;
    float q[HS_PER_LANE], o[HS_PER_LANE];
#pragma unroll
    for (int i = 0; i < HS_PER_LANE; i++) {
        int d = lane + 32 * i;
        q[i] = d < hs ? toF(query[d]) : 0.0f;
    }
    float m, l;
    attendOnline(q, keys, values, hs, positions[r], hs, lane, scale, o, &m, &l);
    floatX* y = out + (u64) r * C + h * hs;
#pragma unroll
    for (int i = 0; i < HS_PER_LANE; i++) {
        int d = lane + 32 * i;
        if (d < hs) y[d] = fromF(o[i] / l);
    }
}
