// The fiber scheduler: every block's threads are fibers on one OS thread; warps meet at shuffles,
// blocks at __syncthreads. A shuffle where some lane of the warp has exited or waits elsewhere aborts.
#include "shim.h"
#include <ucontext.h>
#include <vector>
#include <mutex>
#include <cstdio>
#include <cstdlib>
dim3 threadIdx, blockIdx, blockDim, gridDim;
enum State { RUNNABLE, AT_SHFL, AT_SYNC, DONE };
struct Fiber { ucontext_t ctx; State state; unsigned char val[8]; int size, offset; void* result; char* stack; };
static std::vector<Fiber> fibers;
static ucontext_t sched;
static int current;
static std::function<void()>* body;
static const size_t STACK = 64 << 10;
static void entry() { (*body)(); fibers[current].state = DONE; }
void shflPost(const void* v, int size, int offset, void* result) {
    Fiber& f = fibers[current];
    memcpy(f.val, v, size); f.size = size; f.offset = offset; f.result = result; f.state = AT_SHFL;
    swapcontext(&f.ctx, &sched);
}
void syncThreads() { Fiber& f = fibers[current]; f.state = AT_SYNC; swapcontext(&f.ctx, &sched); }
static void fail(const char* what, LaunchDims d) {
    fprintf(stderr, "FAKEGPU: %s (block %u,%u of grid %ux%u, %u threads)\n", what, blockIdx.x, blockIdx.y, d.gx, d.gy, d.bx);
    for (size_t t = 0; t < fibers.size(); t++) fprintf(stderr, "%d", fibers[t].state);
    fprintf(stderr, "\n");
    abort();
}
void runGrid(LaunchDims d, std::function<void()> kernel) {
    int n = d.bx;
    if (fibers.size() < (size_t) n) {
        size_t old = fibers.size();
        fibers.resize(n);
        for (size_t t = old; t < (size_t) n; t++) fibers[t].stack = (char*) malloc(STACK);
    }
    body = &kernel;
    gridDim.x = d.gx; gridDim.y = d.gy; blockDim.x = d.bx;
    for (unsigned by0 = 0; by0 < d.gy; by0++) for (unsigned bx0 = 0; bx0 < d.gx; bx0++) {
        bool rev = getenv("FAKE_REVERSE") != nullptr;
        unsigned bx = rev ? d.gx - 1 - bx0 : bx0, by = rev ? d.gy - 1 - by0 : by0;
        blockIdx.x = bx; blockIdx.y = by;
        for (int t = 0; t < n; t++) {
            Fiber& f = fibers[t];
            getcontext(&f.ctx);
            f.ctx.uc_stack.ss_sp = f.stack; f.ctx.uc_stack.ss_size = STACK; f.ctx.uc_link = &sched;
            makecontext(&f.ctx, entry, 0);
            f.state = RUNNABLE;
        }
        for (;;) {
            static bool reverse = getenv("FAKE_REVERSE") != nullptr;
            for (int i = 0; i < n; i++) {
                int t = reverse ? n - 1 - i : i;
                if (fibers[t].state != RUNNABLE) continue;
                current = t; threadIdx.x = t;
                swapcontext(&sched, &fibers[t].ctx);
            }
            bool progressed = false, anyLive = false, allSync = true;
            for (int w = 0; w * 32 < n; w++) {
                int lo = w * 32, hi = std::min(n, lo + 32), live = 0, shfl = 0;
                for (int t = lo; t < hi; t++) {
                    if (fibers[t].state != DONE) live++;
                    if (fibers[t].state == AT_SHFL) shfl++;
                }
                if (live == 0 || shfl == 0) continue;
                if (shfl != live) continue; // some lanes elsewhere: maybe resolved later, else deadlock below
                if (live != hi - lo || hi - lo != 32) fail("shuffle in a warp with exited lanes", d);
                for (int t = lo; t < hi; t++) {
                    Fiber& f = fibers[t];
                    Fiber& src = fibers[lo + ((t - lo) ^ f.offset)];
                    if (src.offset != f.offset || src.size != f.size) fail("lanes shuffle differently", d);
                }
                for (int t = lo; t < hi; t++) {
                    Fiber& f = fibers[t];
                    memcpy(f.result, fibers[lo + ((t - lo) ^ f.offset)].val, f.size);
                }
                for (int t = lo; t < hi; t++) fibers[t].state = RUNNABLE;
                progressed = true;
            }
            if (progressed) continue;
            for (int t = 0; t < n; t++) {
                if (fibers[t].state != DONE) anyLive = true;
                if (fibers[t].state != DONE && fibers[t].state != AT_SYNC) allSync = false;
            }
            if (!anyLive) break;
            if (allSync) { for (int t = 0; t < n; t++) if (fibers[t].state == AT_SYNC) fibers[t].state = RUNNABLE; continue; }
            fail("deadlock: threads wait at different barriers", d);
        }
    }
}
static std::vector<std::function<void()>> queue;
static std::recursive_mutex lock;
void enqueue(std::function<void()> f) { std::lock_guard<std::recursive_mutex> g(lock); queue.push_back(std::move(f)); }
extern "C" void fakeDrain() {
    std::lock_guard<std::recursive_mutex> g(lock);
    std::vector<std::function<void()>> q; q.swap(queue);
    for (auto& f : q) f();
}
extern "C" size_t fakeQueued() { std::lock_guard<std::recursive_mutex> g(lock); return queue.size(); }
