// Part of tools/fakegpu (see build.sh): a CPU stand-in for the GPU, not part of jgpt.
// A fake libcuda.so.1: device memory is host memory, the stream a queue run at every synchronizing call.
#include "shim.h"
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
extern "C" void fakeDrain();
extern "C" size_t fakeQueued();
static void* const PRIMARY = (void*) 0xC0C0;
static thread_local void* currentCtx = nullptr;
static int retained = 0;
static std::map<uintptr_t, size_t> allocs;
static std::mutex mu;
static int calls = 0;
#define NEED_CTX(name) do { if (currentCtx != PRIMARY || retained <= 0) { fprintf(stderr, "FAKEGPU: %s without the context current on this thread\n", name); return 201; } } while (0)
static bool inAlloc(uintptr_t p, size_t bytes) {
    std::lock_guard<std::mutex> g(mu);
    auto it = allocs.upper_bound(p);
    if (it == allocs.begin()) return false;
    --it;
    return p >= it->first && p + bytes <= it->first + it->second;
}
extern "C" {
bool fakeInAlloc(uintptr_t p, size_t bytes) { return inAlloc(p, bytes); }
int fakeHasContext() { return currentCtx == PRIMARY && retained > 0; }
int cuInit(int) { return 0; }
int cuDriverGetVersion(int* v) { const char* d = getenv("FAKE_DRIVER_VERSION"); *v = d ? atoi(d) : 13000; return 0; }
int cuGetErrorName(int e, const char** s) { static char buf[64]; snprintf(buf, 64, "CUDA_ERROR_FAKE_%d", e); *s = buf; return 0; }
int cuDeviceGetCount(int* n) { *n = 1; return 0; }
int cuDeviceGet(int* d, int ordinal) { if (ordinal != 0) return 101; *d = 0; return 0; }
int cuDeviceGetName(char* s, int len, int dev) { snprintf(s, len, "Fake GPU (simulated on the CPU)"); return 0; }
int cuDeviceGetAttribute(int* v, int attr, int dev) {
    // FAKE_SM=75 makes it an sm_75 GPU (default sm_90), for the GPUs an NVRTC cannot compile for
    const char* sm = getenv("FAKE_SM"); int cc = sm ? atoi(sm) : 90;
    switch (attr) { case 13: *v = 1980000; return 0; case 16: *v = 132; return 0; case 75: *v = cc / 10; return 0; case 76: *v = cc % 10; return 0; case 97: *v = 232448; return 0; }
    return 1;
}
int cuDeviceTotalMem_v2(size_t* b, int dev) { *b = 80ull << 30; return 0; }
int cuDevicePrimaryCtxRetain(void** c, int dev) { retained++; *c = PRIMARY; return 0; }
int cuDevicePrimaryCtxRelease_v2(int dev) { if (retained <= 0) return 201; retained--; return 0; }
int cuCtxSetCurrent(void* c) { if (c != PRIMARY && c != nullptr) return 201; currentCtx = c; return 0; }
int cuCtxSynchronize() { NEED_CTX("cuCtxSynchronize"); fakeDrain(); return 0; }
int cuMemAlloc_v2(uintptr_t* p, size_t bytes) {
    NEED_CTX("cuMemAlloc");
    void* m = aligned_alloc(256, (bytes + 255) / 256 * 256);
    memset(m, 0xff, bytes); // garbage: NaNs where nothing was written
    std::lock_guard<std::mutex> g(mu);
    allocs[(uintptr_t) m] = bytes; *p = (uintptr_t) m; return 0;
}
int cuMemFree_v2(uintptr_t p) {
    NEED_CTX("cuMemFree");
    // The driver documents only that cuMemFree "may" synchronize. FAKE_FREE_NO_SYNC=1 frees without
    // waiting for the queued work: the block becomes NaNs at once (and is kept, so nothing crashes),
    // so work still queued that reads it computes NaNs.
    bool noSync = getenv("FAKE_FREE_NO_SYNC") != nullptr;
    if (!noSync) fakeDrain();
    std::lock_guard<std::mutex> g(mu);
    auto it = allocs.find(p); if (it == allocs.end()) { fprintf(stderr, "FAKEGPU: cuMemFree of %lx, not allocated\n", p); return 1; }
    if (noSync && fakeQueued() > 0) fprintf(stderr, "FAKEGPU: cuMemFree of %zu bytes while %zu operations are queued\n", it->second, fakeQueued());
    if (noSync) memset((void*) p, 0xff, it->second); else free((void*) p);
    allocs.erase(it); return 0;
}
int cuMemGetInfo_v2(size_t* f, size_t* t) { NEED_CTX("cuMemGetInfo"); *f = 79ull << 30; *t = 80ull << 30; return 0; }
int cuMemcpyHtoD_v2(uintptr_t dst, const void* src, size_t bytes) {
    NEED_CTX("cuMemcpyHtoD"); fakeDrain();
    if (!inAlloc(dst, bytes)) { fprintf(stderr, "FAKEGPU: cuMemcpyHtoD outside an allocation\n"); return 1; }
    memcpy((void*) dst, src, bytes); return 0;
}
int cuMemcpyDtoH_v2(void* dst, uintptr_t src, size_t bytes) {
    NEED_CTX("cuMemcpyDtoH"); fakeDrain();
    if (!inAlloc(src, bytes)) { fprintf(stderr, "FAKEGPU: cuMemcpyDtoH outside an allocation\n"); return 1; }
    memcpy(dst, (void*) src, bytes); return 0;
}
int cuMemcpyDtoD_v2(uintptr_t dst, uintptr_t src, size_t bytes) {
    NEED_CTX("cuMemcpyDtoD"); fakeDrain();
    if (!inAlloc(src, bytes) || !inAlloc(dst, bytes)) { fprintf(stderr, "FAKEGPU: cuMemcpyDtoD outside an allocation\n"); return 1; }
    memmove((void*) dst, (void*) src, bytes); return 0;
}
int cuMemsetD32Async(uintptr_t dst, unsigned v, size_t n, void* stream) {
    NEED_CTX("cuMemsetD32Async");
    if (!inAlloc(dst, 4 * n)) { fprintf(stderr, "FAKEGPU: cuMemsetD32Async outside an allocation\n"); return 1; }
    enqueue([=] { unsigned* p = (unsigned*) dst; for (size_t i = 0; i < n; i++) p[i] = v; });
    return 0;
}
int cuStreamCreate(void** s, unsigned flags) { NEED_CTX("cuStreamCreate"); if (flags != 0) return 1; *s = (void*) 0x5157; return 0; }
int cuStreamDestroy_v2(void* s) { NEED_CTX("cuStreamDestroy"); fakeDrain(); return 0; }
int cuStreamSynchronize(void* s) { NEED_CTX("cuStreamSynchronize"); fakeDrain(); return 0; }
int cuEventCreate(void** e, unsigned flags) { NEED_CTX("cuEventCreate"); *e = malloc(8); return 0; }
int cuEventRecord(void* e, void* s) { NEED_CTX("cuEventRecord"); return 0; }
int cuEventSynchronize(void* e) { NEED_CTX("cuEventSynchronize"); fakeDrain(); return 0; }
int cuEventElapsedTime_v2(float* ms, void* a, void* b) { NEED_CTX("cuEventElapsedTime"); *ms = 1.0f; return 0; }
int cuEventDestroy_v2(void* e) { NEED_CTX("cuEventDestroy"); free(e); return 0; }
int cuModuleLoadData(void** m, const void* image) {
    NEED_CTX("cuModuleLoadData");
    if (memcmp(image, "\x7f" "ELF", 4) != 0) { fprintf(stderr, "FAKEGPU: module image is not an ELF cubin\n"); return 200; }
    *m = malloc(8); return 0;
}
int cuModuleGetFunction(void** f, void* m, const char* name) {
    NEED_CTX("cuModuleGetFunction");
    for (KernelEntry* k = kernelTable; k->name; k++) if (!strcmp(k->name, name)) { *f = k; return 0; }
    return 500;
}
int cuModuleUnload(void* m) { NEED_CTX("cuModuleUnload"); free(m); return 0; }
int cuFuncSetAttribute(void* f, int attr, int v) { return 0; }
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared,
                   void* stream, void** params, void** extra) {
    NEED_CTX("cuLaunchKernel");
    if (gx == 0 || gy == 0 || gz != 1 || by != 1 || bz != 1 || bx == 0 || bx > 1024 || gy > 65535 || shared != 0 || extra) {
        fprintf(stderr, "FAKEGPU: bad launch %ux%ux%u %ux%ux%u\n", gx, gy, gz, bx, by, bz); return 1;
    }
    KernelEntry* k = (KernelEntry*) f;
    k->launch(params, LaunchDims{gx, gy, bx});
    return 0;
}
}
