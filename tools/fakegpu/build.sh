#!/usr/bin/env bash
# A GPU simulated on the CPU, for running jgpt's CUDA engine where there is no GPU: fake libcuda.so.1,
# libcublas.so.13 and libcublasLt.so.13 (device memory is host memory; kernels are jgpt's own .cu files
# compiled by g++, each GPU thread a fiber, warps meeting at shuffles, blocks at __syncthreads; the
# stream is a queue run at every synchronizing call; every call checks that the context is current on
# the calling thread; cuBLAS and cuBLASLt are plain loops with their documented meaning), beside the
# real NVRTC (the kernels still compile to cubins, which the fake only checks are ELF files).
#
#   tools/fakegpu/build.sh
#   JGPT_CUDA_LIBS=target/fakegpu/lib JGPT_CUDA_CACHE=target/fakegpu/cache ./jgpt cuda parity
#
# FAKE_REVERSE=1 runs blocks and threads in reverse order; FAKE_FREE_NO_SYNC=1 makes cuMemFree not wait
# for queued work (the driver only says it may) and reports each free that queued work could still
# touch; FAKE_LT_NO_EPILOGUE=1 makes cuBLASLt refuse its epilogues (the unfused route); FAKE_SM=70
# makes it an sm_70 GPU rather than sm_90; FAKE_DRIVER_VERSION=12040 a CUDA 12.4 driver rather than
# 13.0. What it cannot show: races between threads of different blocks or warps (blocks run one
# after another), real cuBLAS/cuBLASLt restrictions, speed.
#
# ASAN=1 tools/fakegpu/build.sh compiles the kernels with AddressSanitizer, so a kernel that reads or
# writes outside its device buffer stops with the line; run jgpt with
#   LD_PRELOAD=$(gcc -print-file-name=libasan.so) \
#   ASAN_OPTIONS=handle_segv=0:detect_leaks=0:allow_user_segv_handler=1:detect_stack_use_after_return=0
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/target/fakegpu"
mkdir -p "$out/lib" "$out/obj"
python3 "$here/gen.py" "$root/src/main/resources/cuda" > "$out/obj/kernels.cpp"
for f in sim driver blas; do g++ -O2 -fPIC -std=c++17 -w -I "$here" -c "$here/$f.cpp" -o "$out/obj/$f.o"; done
asan=()
if [ "${ASAN:-}" = 1 ]; then asan=(-fsanitize=address -fno-omit-frame-pointer -g); fi
g++ -O2 -fPIC -std=c++17 -w "${asan[@]}" -I "$here" -I "$root/src/main/resources/cuda" -c "$out/obj/kernels.cpp" -o "$out/obj/kernels.o"
g++ -shared "${asan[@]}" -o "$out/lib/libfakegpu.so" "$out"/obj/{sim,driver,blas,kernels}.o
for lib in libcuda.so.1 libcublas.so.13 libcublasLt.so.13; do
  g++ -shared -o "$out/lib/$lib" -Wl,-rpath,'$ORIGIN' -L "$out/lib" -Wl,--no-as-needed -lfakegpu
done
# NVRTC itself is real: org.bytedeco:cuda-redist's, as the kernel compile test extracts it
jar="$(find "$HOME/.m2/repository/org/bytedeco/cuda-redist" -name 'cuda-redist-*-linux-x86_64.jar' 2>/dev/null | sort | tail -n 1)"
[ -n "$jar" ] || { echo "fakegpu: no org.bytedeco cuda-redist jar in the Maven repository (run the suite with -Pcuda-kernels once)" >&2; exit 1; }
unzip -o -j -q "$jar" 'org/bytedeco/cuda/linux-x86_64/libnvrtc.so.*' 'org/bytedeco/cuda/linux-x86_64/libnvrtc-builtins.so.*' -d "$out/lib"
echo "fakegpu: JGPT_CUDA_LIBS=$out/lib"
