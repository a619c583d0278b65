// Part of tools/fakegpu (see build.sh): a CPU stand-in for the GPU, not part of jgpt.
// Fake libcublas.so.13 and libcublasLt.so.13: column-major GEMMs by plain loops, queued on the stream.
#include "shim.h"
#include <cstdio>
#include <cstdlib>
extern "C" bool fakeInAlloc(uintptr_t p, size_t bytes);
extern "C" int fakeHasContext();
static float at(const float* x, int op, long ld, long r, long c) { return op == 0 ? x[r + c * ld] : x[c + r * ld]; }
static void gemm(int opA, int opB, long m, long n, long k, float alpha, const float* A, long lda, const float* B, long ldb,
                 float beta, const float* C, float* D, long ldd, int epilogue, float* bias) {
    for (long j = 0; j < n; j++) for (long i = 0; i < m; i++) {
        double s = 0;
        for (long p = 0; p < k; p++) s += (double) at(A, opA, lda, i, p) * at(B, opB, ldb, p, j);
        float r = alpha * (float) s + (beta != 0 ? beta * C[i + j * ldd] : 0.0f);
        if (epilogue == 4) r += bias[i];
        D[i + j * ldd] = r;
    }
    if (epilogue == 512) for (long j = 0; j < n; j++) { double s = 0; for (long p = 0; p < k; p++) s += at(B, opB, ldb, p, j); bias[j] = (float) s; }
}
static bool covers(const void* p, int op, long m_or_k_rows, long cols, long ld) {
    // stored matrix: rows x cols, column-major, ld >= rows
    return ld >= m_or_k_rows && fakeInAlloc((uintptr_t) p, 4 * (size_t) (ld * (cols - 1) + m_or_k_rows));
}
extern "C" {
int cublasCreate_v2(void** h) { if (!fakeHasContext()) { fprintf(stderr, "FAKEGPU: cublasCreate without a context\n"); return 1; } *h = calloc(1, 16); return 0; }
int cublasSetStream_v2(void* h, void* s) { return 0; }
int cublasSetMathMode(void* h, int mode) { if (mode != 0) fprintf(stderr, "FAKEGPU: math mode %d\n", mode); ((int*) h)[0] = mode; return 0; }
int cublasDestroy_v2(void* h) { free(h); return 0; }
int cublasSgemm_v2(void* h, int ta, int tb, int m, int n, int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                   const float* beta, float* C, int ldc) {
    if (!fakeHasContext()) { fprintf(stderr, "FAKEGPU: cublasSgemm without a context\n"); return 1; }
    long ra = ta == 0 ? m : k, ca = ta == 0 ? k : m, rb = tb == 0 ? k : n, cb = tb == 0 ? n : k;
    if (!covers(A, ta, ra, ca, lda) || !covers(B, tb, rb, cb, ldb) || !covers(C, 0, m, n, ldc)) {
        fprintf(stderr, "FAKEGPU: cublasSgemm operand outside its allocation or ld too small (m=%d n=%d k=%d lda=%d ldb=%d ldc=%d)\n", m, n, k, lda, ldb, ldc);
        return 7;
    }
    float al = *alpha, be = *beta;
    enqueue([=] { gemm(ta, tb, m, n, k, al, A, lda, B, ldb, be, C, C, ldc, 1, nullptr); });
    return 0;
}
// ---- cuBLASLt ----
struct Desc { int compute, scale, ta = 0, tb = 0, epilogue = 1; float* bias = nullptr; };
struct Layout { int type; uint64_t rows, cols; int64_t ld; };
struct Pref { uint64_t workspace = 0; uint32_t align[4] = {256, 256, 256, 256}; };
static const uint64_t ALGO_MARK = 0xA160A160A160ull;
int cublasLtCreate(void** h) { if (!fakeHasContext()) return 1; *h = calloc(1, 16); return 0; }
int cublasLtDestroy(void* h) { free(h); return 0; }
int cublasLtMatmulDescCreate(Desc** d, int compute, int scale) {
    if (compute != 68 || scale != 0) { fprintf(stderr, "FAKEGPU: compute %d scale %d\n", compute, scale); return 15; }
    *d = new Desc(); (*d)->compute = compute; (*d)->scale = scale; return 0;
}
int cublasLtMatmulDescDestroy(Desc* d) { delete d; return 0; }
int cublasLtMatmulDescSetAttribute(Desc* d, int attr, const void* buf, size_t size) {
    switch (attr) {
        case 3: if (size != 4) return 7; d->ta = *(const int*) buf; return 0;
        case 4: if (size != 4) return 7; d->tb = *(const int*) buf; return 0;
        case 7: if (size != 4) return 7; d->epilogue = *(const int*) buf; return 0;
        case 8: if (size != 8) return 7; d->bias = *(float* const*) buf; return 0;
    }
    fprintf(stderr, "FAKEGPU: desc attribute %d\n", attr); return 7;
}
int cublasLtMatrixLayoutCreate(Layout** l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    if (type != 0 || ld < (int64_t) rows) return 7;
    *l = new Layout{type, rows, cols, ld}; return 0;
}
int cublasLtMatrixLayoutDestroy(Layout* l) { delete l; return 0; }
int cublasLtMatmulPreferenceCreate(Pref** p) { *p = new Pref(); return 0; }
int cublasLtMatmulPreferenceDestroy(Pref* p) { delete p; return 0; }
int cublasLtMatmulPreferenceSetAttribute(Pref* p, int attr, const void* buf, size_t size) {
    if (attr == 1) { if (size != 8) return 7; p->workspace = *(const uint64_t*) buf; return 0; }
    if (attr >= 5 && attr <= 8) { if (size != 4) return 7; p->align[attr - 5] = *(const uint32_t*) buf; return 0; }
    fprintf(stderr, "FAKEGPU: preference attribute %d\n", attr); return 7;
}
static int check(Desc* d, Layout* a, Layout* b, Layout* c, Layout* D, long* m, long* n, long* k) {
    if (c->rows != D->rows || c->cols != D->cols || c->ld != D->ld) return 7;
    *m = D->rows; *n = D->cols;
    long am = d->ta == 0 ? a->rows : a->cols, ak = d->ta == 0 ? a->cols : a->rows;
    long bk = d->tb == 0 ? b->rows : b->cols, bn = d->tb == 0 ? b->cols : b->rows;
    if (am != *m || bn != *n || ak != bk) { fprintf(stderr, "FAKEGPU: lt shapes disagree: op(A) %ldx%ld op(B) %ldx%ld D %ldx%ld\n", am, ak, bk, bn, *m, *n); return 7; }
    *k = ak;
    if (d->epilogue != 1 && d->epilogue != 4 && d->epilogue != 512) return 15;
    if (d->epilogue != 1 && getenv("FAKE_LT_NO_EPILOGUE")) return 15;
    return 0;
}
int cublasLtMatmulAlgoGetHeuristic(void* h, Desc* d, Layout* a, Layout* b, Layout* c, Layout* D, Pref* p, int requested,
                                   unsigned char* results, int* count) {
    long m, n, k;
    int s = check(d, a, b, c, D, &m, &n, &k);
    if (s) return s;
    if (requested < 1) return 7;
    for (int i = 0; i < 4; i++) if (p->align[i] < 4 || (p->align[i] & (p->align[i] - 1))) return 7;
    if (d->epilogue != 1 && (!d->bias || ((uintptr_t) d->bias) % 16)) return 15;
    memset(results, 0, 96);
    ((uint64_t*) results)[0] = ALGO_MARK;
    ((uint64_t*) results)[1] = (uint64_t) p->align[0] << 32 | p->align[1];
    ((uint64_t*) results)[2] = (uint64_t) p->align[3];
    *(size_t*) (results + 64) = 1 << 20; // workspace it wants
    *(int*) (results + 72) = 0;
    *(float*) (results + 76) = 1.0f;
    *count = 1;
    return 0;
}
int cublasLtMatmul(void* h, Desc* d, const float* alpha, const float* A, Layout* a, const float* B, Layout* b, const float* beta,
                   const float* C, Layout* c, float* Dp, Layout* D, const uint64_t* algo, void* workspace, size_t wsBytes, void* stream) {
    if (!fakeHasContext()) { fprintf(stderr, "FAKEGPU: cublasLtMatmul without a context\n"); return 1; }
    long m, n, k;
    int s = check(d, a, b, c, D, &m, &n, &k);
    if (s) return s;
    if (!algo || algo[0] != ALGO_MARK) { fprintf(stderr, "FAKEGPU: algo not from the heuristic\n"); return 7; }
    uint32_t alA = algo[1] >> 32, alB = (uint32_t) algo[1], alD = (uint32_t) algo[2];
    if ((uintptr_t) A % alA || (uintptr_t) B % alB || (uintptr_t) Dp % alD) { fprintf(stderr, "FAKEGPU: pointer less aligned than the plan promised\n"); return 7; }
    if (wsBytes < (1 << 20) || !fakeInAlloc((uintptr_t) workspace, wsBytes)) { fprintf(stderr, "FAKEGPU: workspace\n"); return 7; }
    if (!covers(A, 0, a->rows, a->cols, a->ld) || !covers(B, 0, b->rows, b->cols, b->ld) || !covers(Dp, 0, D->rows, D->cols, D->ld)) {
        fprintf(stderr, "FAKEGPU: lt operand outside its allocation\n"); return 7;
    }
    int ep = d->epilogue, ta = d->ta, tb = d->tb;
    float* bias = d->bias;
    if (ep != 1 && !fakeInAlloc((uintptr_t) bias, 4 * (ep == 4 ? m : n))) { fprintf(stderr, "FAKEGPU: bias outside its allocation\n"); return 7; }
    float al = *alpha, be = *beta;
    long lda = a->ld, ldb = b->ld, ldd = D->ld;
    if (C != Dp) return 15;
    enqueue([=] { gemm(ta, tb, m, n, k, al, A, lda, B, ldb, be, C, Dp, ldd, ep, bias); });
    return 0;
}
}
