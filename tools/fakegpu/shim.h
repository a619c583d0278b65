// CPU simulation of the CUDA built-ins jgpt's kernels use (compiled with g++, not part of jgpt).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <algorithm>
struct dim3 { unsigned x = 1, y = 1, z = 1; };
extern dim3 threadIdx, blockIdx, blockDim, gridDim;
struct LaunchDims { unsigned gx, gy, bx; };
void enqueue(std::function<void()> f);
void runGrid(LaunchDims d, std::function<void()> body);
void shflPost(const void* v, int size, int offset, void* result);
void syncThreads();
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
using std::min; using std::max;
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline void __syncthreads() { syncThreads(); }
template <class T> T __shfl_xor_sync(unsigned mask, T v, int offset) {
    static_assert(sizeof(T) <= 8, "shfl of at most 8 bytes");
    if (mask != 0xffffffffu) __builtin_trap();
    T r; shflPost(&v, sizeof(T), offset, &r); return r;
}
struct KernelEntry { const char* name; void (*launch)(void**, LaunchDims); };
extern KernelEntry kernelTable[];
