// The residual connection, mirroring kernels/Residual.java.

extern "C" __global__ void residual_forward(floatX* out, const floatX* a, const floatX* b, int n) {
    u64 i = globalIndex();
    if (i >= (u64) n) return;
    out[i] = fromF(toF(a[i]) + toF(b[i]));
}

// dst += src.
extern "C" __global__ void accumulate(floatX* dst, const floatX* src, int n) {
    u64 i = globalIndex();
    if (i >= (u64) n) return;
    dst[i] = fromF(toF(dst[i]) + toF(src[i]));
}
