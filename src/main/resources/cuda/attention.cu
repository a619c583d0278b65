// Causal multi-head self-attention over the fused qkv activation (B, T, 3C), scale 1/sqrt(hs),
// mirroring kernels/Attention.java, flash-style: one warp per query row walks the keys it may see
// with an online softmax (running max and sum), so no (T x T) matrix is ever stored; the forward keeps
// each row's log-sum-exp (B, NH, T) and the backward recomputes the probabilities from it.
//
// A warp's 32 lanes split the head dimension (HS_PER_LANE in common.cuh). Grid (ceil(T / warps per
// block), B·NH).

// out (B, T, C), lse (B, NH, T) from qkv (B, T, 3C).
extern "C" __global__ void attention_forward(floatX* out, float* lse, const floatX* qkv, int B, int T, int C, int NH) {
    int lane = threadIdx.x % 32;
    int t = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (t >= T) return;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, hs = C / NH;
    float scale = 1.0f / sqrtf((float) hs);
    const floatX* base = qkv + (u64) b * T * 3 * C + h * hs; // q of position 0; k at +C, v at +2C
    float q[HS_PER_LANE], o[HS_PER_LANE], m, l;
#pragma unroll
    for (int i = 0; i < HS_PER_LANE; i++) {
        int d = lane + 32 * i;
        q[i] = d < hs ? toF(base[(u64) t * 3 * C + d]) : 0.0f;
    }
    attendOnline(q, base + C, base + 2 * C, 3 * (u64) C, t, hs, lane, scale, o, &m, &l);
    floatX* y = out + ((u64) b * T + t) * C + h * hs;
#pragma unroll
    for (int i = 0; i < HS_PER_LANE; i++) {
        int d = lane + 32 * i;
        if (d < hs) y[d] = fromF(o[i] / l);
    }
    if (lane == 0) lse[(u64) bh * T + t] = m + logf(l);
}

// D[b, h, t] = dout[b, t, h] · out[b, t, h]: softmax's backward needs it once per query row.
extern "C" __global__ void attention_backward_rowdot(float* D, const floatX* dout, const floatX* out,
                                                     int B, int T, int C, int NH) {
    int lane = threadIdx.x % 32;
    int t = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (t >= T) return;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, hs = C / NH;
    u64 row = ((u64) b * T + t) * C + h * hs;
    float s = 0.0f;
    for (int d = lane; d < hs; d += 32) s += toF(dout[row + d]) * toF(out[row + d]);
    s = warpSum(s);
    if (lane == 0) D[(u64) bh * T + t] = s;
}

// dq += Σ_j dS[t, j] · k_j over the keys j <= t, with P recomputed from lse and
// dS = P · (dout·v_j − D) · scale; one warp per query row t.
extern "C" __global__ void attention_backward_query(floatX* dqkv, const floatX* dout, const floatX* qkv,
                                                    const float* lse, const float* D, int B, int T, int C, int NH) {
    int lane = threadIdx.x % 32;
    int t = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (t >= T) return;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, hs = C / NH;
    float scale = 1.0f / sqrtf((float) hs);
    const floatX* base = qkv + (u64) b * T * 3 * C + h * hs;
    const floatX* dO = dout + ((u64) b * T + t) * C + h * hs;
    float q[HS_PER_LANE], g[HS_PER_LANE], dq[HS_PER_LANE];
#pragma unroll
    for (int i = 0; i < HS_PER_LANE; i++) {
        int d = lane + 32 * i;
        q[i] = d < hs ? toF(base[(u64) t * 3 * C + d]) : 0.0f;
        g[i] = d < hs ? toF(dO[d]) : 0.0f;
        dq[i] = 0.0f;
    }
    float rowLse = lse[(u64) bh * T + t], rowD = D[(u64) bh * T + t];
    for (int j = 0; j <= t; j++) {
        const floatX* k = base + (u64) j * 3 * C + C;
        const floatX* v = k + C;
        float s = 0.0f, dp = 0.0f;
#pragma unroll
        for (int i = 0; i < HS_PER_LANE; i++) {
            int d = lane + 32 * i;
            if (d < hs) {
                s += q[i] * toF(k[d]);
                dp += g[i] * toF(v[d]);
            }
        }
        float p = expf(warpSum(s) * scale - rowLse);
        float ds = p * (warpSum(dp) - rowD) * scale;
#pragma unroll
        for (int i = 0; i < HS_PER_LANE; i++) {
            int d = lane + 32 * i;
            if (d < hs) dq[i] += ds * toF(k[d]);
        }
    }
    floatX* dqRow = dqkv + (u64) b * T * 3 * C + (u64) t * 3 * C + h * hs;
#pragma unroll
    for (int i = 0; i < HS_PER_LANE; i++) {
        int d = lane + 32 * i;
        if (d < hs) dqRow[d] = fromF(toF(dqRow[d]) + dq[i]);
    }
}

// dk += Σ_t dS[t, j] · q_t and dv += Σ_t P[t, j] · dout_t over the queries t >= j that see key j;
// one warp per key row j.
extern "C" __global__ void attention_backward_key(floatX* dqkv, const floatX* dout, const floatX* qkv,
                                                  const float* lse, const float* D, int B, int T, int C, int NH) {
    int lane = threadIdx.x % 32;
    int j = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (j >= T) return;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, hs = C / NH;
    float scale = 1.0f / sqrtf((float) hs);
    const floatX* base = qkv + (u64) b * T * 3 * C + h * hs;
    float k[HS_PER_LANE], v[HS_PER_LANE], dk[HS_PER_LANE], dv[HS_PER_LANE];
#pragma unroll
    for (int i = 0; i < HS_PER_LANE; i++) {
        int d = lane + 32 * i;
        k[i] = d < hs ? toF(base[(u64) j * 3 * C + C + d]) : 0.0f;
        v[i] = d < hs ? toF(base[(u64) j * 3 * C + 2 * C + d]) : 0.0f;
        dk[i] = 0.0f;
        dv[i] = 0.0f;
    }
    for (int t = j; t < T; t++) {
        const floatX* q = base + (u64) t * 3 * C;
        const floatX* dO = dout + ((u64) b * T + t) * C + h * hs;
        float s = 0.0f, dp = 0.0f;
#pragma unroll
        for (int i = 0; i < HS_PER_LANE; i++) {
            int d = lane + 32 * i;
            if (d < hs) {
                s += toF(q[d]) * k[i];
                dp += toF(dO[d]) * v[i];
            }
        }
        float p = expf(warpSum(s) * scale - lse[(u64) bh * T + t]);
        float ds = p * (warpSum(dp) - D[(u64) bh * T + t]) * scale;
#pragma unroll
        for (int i = 0; i < HS_PER_LANE; i++) {
            int d = lane + 32 * i;
            if (d < hs) {
                dk[i] += ds * toF(q[d]);
                dv[i] += p * toF(dO[d]);
            }
        }
    }
    floatX* row = dqkv + (u64) b * T * 3 * C + (u64) j * 3 * C + h * hs;
#pragma unroll
    for (int i = 0; i < HS_PER_LANE; i++) {
        int d = lane + 32 * i;
        if (d < hs) {
            row[C + d] = fromF(toF(row[C + d]) + dk[i]);
            row[2 * C + d] = fromF(toF(row[2 * C + d]) + dv[i]);
        }
    }
}

// ---- Head size 64 (every GPT-2 size): tiled through shared memory ----
//
// The same three passes as above, each block taking rows of one (batch, head): TILE queries in the
// forward and in dq, KEY_ROWS keys in dk/dv. The other side's rows come through shared memory TILE at
// a time, so each one loaded from global memory serves every row of the block, not one. LANES lanes
// share a row (4, or 8 in dk/dv, which keeps four vectors per row): lane `part` holds the row's
// float4s part, part + LANES, ..., so a row's lanes read adjacent bytes of a shared row (no bank
// conflict) and the warp's rows read the same ones (a broadcast); their partial dot products meet in
// a butterfly of shuffles, which gives every lane the same sum. The forward takes its keys CHUNK at a
// time (one max and rescale per chunk); the backward takes the other side's rows one at a time, to
// stay within its registers. Rows wholly above the causal diagonal for all of a warp's rows are
// skipped. Every sum runs in a fixed order, so results repeat bit for bit. Grid (ceil(T / rows per
// block), B·NH), TILED_THREADS threads (CudaKernels.TILED_HEAD_SIZE picks these kernels); the launch
// bounds hold each to 128 registers, so two blocks fit an SM (without them ptxas takes up to 255).
#define TILED_HS 64
#define TILE 64
#define CHUNK 16
#define TILED_THREADS 256
#define KEY_LANES 8
#define KEY_ROWS (TILED_THREADS / KEY_LANES)
#define F4_PER_ROW (TILED_HS / 4)

struct alignas(16) F4 { float x, y, z, w; };

__device__ __forceinline__ float dot4(F4 a, F4 b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }
__device__ __forceinline__ void addScaled(F4& acc, float p, F4 v) {
    acc.x += p * v.x; acc.y += p * v.y; acc.z += p * v.z; acc.w += p * v.w;
}
__device__ __forceinline__ void scale4(F4& a, float c) { a.x *= c; a.y *= c; a.z *= c; a.w *= c; }

// A row of TILED_HS floats split over LANES lanes, PER_LANE float4s each.
template <int LANES> struct RowSplit {
    static constexpr int PER_LANE = F4_PER_ROW / LANES;

    // this lane's part of a dot product: a tree, so its float4s are independent
    __device__ static __forceinline__ float dot(const F4* a, const F4* b) {
        if constexpr (PER_LANE == 4) return (dot4(a[0], b[0]) + dot4(a[1], b[1])) + (dot4(a[2], b[2]) + dot4(a[3], b[3]));
        else return dot4(a[0], b[0]) + dot4(a[1], b[1]);
    }

    // the sum of a row's partial values, the same on all its lanes
    __device__ static __forceinline__ float sum(float v) {
#pragma unroll
        for (int offset = 1; offset < LANES; offset <<= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
        return v;
    }

    // this lane's part of row `row` (zeros past the end) of rows[row·stride]
    __device__ static __forceinline__ void load(F4* r, const floatX* rows, u64 stride, int row, int T, int part) {
#pragma unroll
        for (int i = 0; i < PER_LANE; i++) {
            const floatX* p = rows + (u64) row * stride + 4 * (part + LANES * i);
            r[i] = row < T ? F4{toF(p[0]), toF(p[1]), toF(p[2]), toF(p[3])} : F4{0.0f, 0.0f, 0.0f, 0.0f};
        }
    }

    // this lane's part of a shared row
    __device__ static __forceinline__ void read(F4* r, const F4* shared, int part) {
#pragma unroll
        for (int i = 0; i < PER_LANE; i++) r[i] = shared[part + LANES * i];
    }

    // dst[...] += this lane's part of r
    __device__ static __forceinline__ void addTo(floatX* dst, const F4* r, int part) {
#pragma unroll
        for (int i = 0; i < PER_LANE; i++) {
            floatX* p = dst + 4 * (part + LANES * i);
            p[0] = fromF(toF(p[0]) + r[i].x); p[1] = fromF(toF(p[1]) + r[i].y);
            p[2] = fromF(toF(p[2]) + r[i].z); p[3] = fromF(toF(p[3]) + r[i].w);
        }
    }
};
typedef RowSplit<TILED_THREADS / TILE> QueryRow; // 4 lanes
typedef RowSplit<KEY_LANES> KeyRow;

// rows first .. first+TILE-1 of rows[row·stride] (zeros past T) into a shared tile, by the whole block
__device__ __forceinline__ void loadTile(F4 (*tile)[F4_PER_ROW], const floatX* rows, u64 stride, int first, int T) {
    float* flat = (float*) tile;
#pragma unroll 4 // not all 16: the caller's own rows are live in registers meanwhile
    for (int i = threadIdx.x; i < TILE * TILED_HS; i += TILED_THREADS) {
        int r = i / TILED_HS, d = i % TILED_HS;
        flat[i] = first + r < T ? toF(rows[(u64) (first + r) * stride + d]) : 0.0f;
    }
}

// out (B, T, C), lse (B, NH, T) from qkv (B, T, 3C): as attention_forward, keys CHUNK at a time.
extern "C" __global__ void __launch_bounds__(TILED_THREADS, 2) attention_forward_tiled(floatX* out, float* lse, const floatX* qkv, int B, int T, int C, int NH) {
    __shared__ F4 keys[TILE][F4_PER_ROW], values[TILE][F4_PER_ROW];
    constexpr int lanes = TILED_THREADS / TILE, per = QueryRow::PER_LANE;
    int first = (gridDim.x - 1 - blockIdx.x) * TILE; // the longest rows start first
    int part = threadIdx.x % lanes, t = first + threadIdx.x / lanes;
    int warpLast = first + (threadIdx.x / 32 + 1) * (32 / lanes) - 1;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    float scale = 1.0f / sqrtf((float) TILED_HS);
    const floatX* base = qkv + (u64) b * T * 3 * C + h * TILED_HS;
    u64 stride = 3 * (u64) C;
    F4 q[per], o[per];
    QueryRow::load(q, base, stride, t, T, part);
#pragma unroll
    for (int i = 0; i < per; i++) o[i] = F4{0.0f, 0.0f, 0.0f, 0.0f};
    float m = NEG_INF, l = 0.0f;
    int lastKey = min(T - 1, first + TILE - 1);
    for (int k0 = 0; k0 <= lastKey; k0 += TILE) {
        __syncthreads(); // everyone is done with the last tile
        loadTile(keys, base + C, stride, k0, T);
        loadTile(values, base + 2 * C, stride, k0, T);
        __syncthreads();
        for (int c0 = 0; c0 < TILE && k0 + c0 <= warpLast; c0 += CHUNK) {
            float s[CHUNK];
            float mNew = m;
#pragma unroll
            for (int jj = 0; jj < CHUNK; jj++) {
                F4 k[per];
                QueryRow::read(k, keys[c0 + jj], part);
                float a = QueryRow::sum(QueryRow::dot(q, k)) * scale;
                s[jj] = k0 + c0 + jj <= t ? a : NEG_INF;
                mNew = fmaxf(mNew, s[jj]);
            }
            float correction = expf(m - mNew); // 0 for the first chunk (m = -inf; key 0 is always seen)
            l *= correction;
#pragma unroll
            for (int i = 0; i < per; i++) scale4(o[i], correction);
#pragma unroll
            for (int jj = 0; jj < CHUNK; jj++) {
                float p = expf(s[jj] - mNew);
                l += p;
#pragma unroll
                for (int i = 0; i < per; i++) addScaled(o[i], p, values[c0 + jj][part + lanes * i]);
            }
            m = mNew;
        }
    }
    if (t >= T) return;
    floatX* y = out + ((u64) b * T + t) * C + h * TILED_HS;
#pragma unroll
    for (int i = 0; i < per; i++) {
        floatX* p = y + 4 * (part + lanes * i);
        p[0] = fromF(o[i].x / l); p[1] = fromF(o[i].y / l); p[2] = fromF(o[i].z / l); p[3] = fromF(o[i].w / l);
    }
    if (part == 0) lse[(u64) bh * T + t] = m + logf(l);
}

// dq += Σ_j dS[t, j] · k_j: as attention_backward_query, a tile of keys at a time.
extern "C" __global__ void __launch_bounds__(TILED_THREADS, 2) attention_backward_query_tiled(floatX* dqkv, const floatX* dout, const floatX* qkv,
                                                          const float* lse, const float* D, int B, int T, int C, int NH) {
    __shared__ F4 keys[TILE][F4_PER_ROW], values[TILE][F4_PER_ROW];
    constexpr int lanes = TILED_THREADS / TILE, per = QueryRow::PER_LANE;
    int first = (gridDim.x - 1 - blockIdx.x) * TILE;
    int part = threadIdx.x % lanes, t = first + threadIdx.x / lanes;
    int warpLast = first + (threadIdx.x / 32 + 1) * (32 / lanes) - 1;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    float scale = 1.0f / sqrtf((float) TILED_HS);
    const floatX* base = qkv + (u64) b * T * 3 * C + h * TILED_HS;
    u64 stride = 3 * (u64) C;
    F4 q[per], g[per], dq[per];
    QueryRow::load(q, base, stride, t, T, part);
    QueryRow::load(g, dout + (u64) b * T * C + h * TILED_HS, C, t, T, part);
#pragma unroll
    for (int i = 0; i < per; i++) dq[i] = F4{0.0f, 0.0f, 0.0f, 0.0f};
    float rowLse = t < T ? lse[(u64) bh * T + t] : 0.0f, rowD = t < T ? D[(u64) bh * T + t] : 0.0f;
    int lastKey = min(T - 1, first + TILE - 1);
    for (int k0 = 0; k0 <= lastKey; k0 += TILE) {
        __syncthreads();
        loadTile(keys, base + C, stride, k0, T);
        loadTile(values, base + 2 * C, stride, k0, T);
        __syncthreads();
        int end = min(TILE, warpLast - k0 + 1); // the warp's rows see no key past its last row
#pragma unroll 2
        for (int jj = 0; jj < end; jj++) {
            F4 k[per], v[per];
            QueryRow::read(k, keys[jj], part);
            QueryRow::read(v, values[jj], part);
            float score = QueryRow::sum(QueryRow::dot(q, k)) * scale, dP = QueryRow::sum(QueryRow::dot(g, v)); // every lane: shuffles
            float p = k0 + jj <= t ? expf(score - rowLse) : 0.0f;
            float ds = p * (dP - rowD) * scale;
#pragma unroll
            for (int i = 0; i < per; i++) addScaled(dq[i], ds, k[i]);
        }
    }
    if (t < T) QueryRow::addTo(dqkv + ((u64) b * T + t) * 3 * C + h * TILED_HS, dq, part);
}

// dk += Σ_t dS[t, j] · q_t and dv += Σ_t P[t, j] · dout_t: as attention_backward_key, KEY_ROWS keys
// per block, a tile of queries at a time.
extern "C" __global__ void __launch_bounds__(TILED_THREADS, 2) attention_backward_key_tiled(floatX* dqkv, const floatX* dout, const floatX* qkv,
                                                        const float* lse, const float* D, int B, int T, int C, int NH) {
    __shared__ F4 queries[TILE][F4_PER_ROW], grads[TILE][F4_PER_ROW];
    __shared__ float tileLse[TILE], tileD[TILE];
    constexpr int per = KeyRow::PER_LANE;
    int first = blockIdx.x * KEY_ROWS; // the longest rows (the first keys) start first
    int part = threadIdx.x % KEY_LANES, j = first + threadIdx.x / KEY_LANES;
    int warpFirst = first + threadIdx.x / 32 * (32 / KEY_LANES);
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    float scale = 1.0f / sqrtf((float) TILED_HS);
    const floatX* base = qkv + (u64) b * T * 3 * C + h * TILED_HS;
    const floatX* dO = dout + (u64) b * T * C + h * TILED_HS;
    u64 stride = 3 * (u64) C;
    F4 k[per], v[per], dk[per], dv[per];
    KeyRow::load(k, base + C, stride, j, T, part);
    KeyRow::load(v, base + 2 * C, stride, j, T, part);
#pragma unroll
    for (int i = 0; i < per; i++) {
        dk[i] = F4{0.0f, 0.0f, 0.0f, 0.0f};
        dv[i] = F4{0.0f, 0.0f, 0.0f, 0.0f};
    }
    for (int q0 = first; q0 < T; q0 += TILE) {
        __syncthreads();
        loadTile(queries, base, stride, q0, T);
        loadTile(grads, dO, C, q0, T);
        if (threadIdx.x < TILE) {
            int t = q0 + threadIdx.x;
            tileLse[threadIdx.x] = t < T ? lse[(u64) bh * T + t] : 0.0f;
            tileD[threadIdx.x] = t < T ? D[(u64) bh * T + t] : 0.0f;
        }
        __syncthreads();
        int end = min(TILE, T - q0);
#pragma unroll 2
        for (int tt = max(0, warpFirst - q0); tt < end; tt++) { // no query before the warp's first key sees it
            F4 qt[per], gt[per];
            KeyRow::read(qt, queries[tt], part);
            KeyRow::read(gt, grads[tt], part);
            float score = KeyRow::sum(KeyRow::dot(qt, k)) * scale, dP = KeyRow::sum(KeyRow::dot(gt, v)); // every lane: shuffles
            float p = q0 + tt >= j ? expf(score - tileLse[tt]) : 0.0f;
            float ds = p * (dP - tileD[tt]) * scale;
#pragma unroll
            for (int i = 0; i < per; i++) {
                addScaled(dv[i], p, gt[i]);
                addScaled(dk[i], ds, qt[i]);
            }
        }
    }
    if (j >= T) return;
    floatX* row = dqkv + ((u64) b * T + j) * 3 * C + h * TILED_HS;
    KeyRow::addTo(row + C, dk, part);
    KeyRow::addTo(row + 2 * C, dv, part);
}
