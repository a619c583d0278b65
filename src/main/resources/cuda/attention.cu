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
