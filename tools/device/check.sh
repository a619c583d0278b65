#!/usr/bin/env bash
# The GPU check, in one run of a few minutes, on a machine with no JDK and no network: unpacks the
# runtime that bundle.sh packed, then runs, each with a time limit and its own log:
#   cpu      the runtime works: debug-step on the CPU
#   gpu      the GPU, the driver, NVRTC and cuBLAS as jgpt finds them   (jgpt cuda info)
#   compile  every kernel compiled for the GPU and loaded               (jgpt cuda compile)
#   parity   every kernel and a small GPT against the CPU, debug-step against PyTorch (jgpt cuda parity)
#   train    a short training run on the GPU whose loss must fall       (jgpt cuda train)
#   bench    GPT-2 124M, B=16, T=1024: forward + backward + AdamW       (jgpt bench train --device cuda)
# and prints a summary. Logs go to $OUT when it is set, else to logs/ beside this script.
# Without a GPU the GPU steps are skipped and the summary ends with the reason (compile then targets
# sm_90 if NVRTC is found). Exit status: 0 all passed, 1 a check failed, 3 no GPU (nothing failed).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -f "$here/jgpt.jar" ]; then bundle="$here"; else bundle="$(cd "$here/../.." && pwd)/build/device"; fi
[ -f "$bundle/jgpt.jar" ] || { echo "check: no bundle at $bundle; run tools/device/bundle.sh first" >&2; exit 2; }
logs="${OUT:-$bundle/logs}"
mkdir -p "$logs"
work="$(mktemp -d "${TMPDIR:-/tmp}/jgpt-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xzf "$bundle/runtime.tar.gz"
java="$work/runtime/bin/java"
export JGPT_CUDA_CACHE="$work/kernel-cache"

# The CUDA libraries may sit in a Python environment's nvidia packages that jgpt does not see from
# PATH: ask every python3 in sight where its nvidia packages are.
if [ -z "${JGPT_CUDA_LIBS:-}" ]; then
  dirs=""
  for py in python3 /usr/bin/python3 /usr/local/bin/python3 /opt/conda/bin/python3 "${VIRTUAL_ENV:-/nonexistent}/bin/python3"; do
    command -v "$py" >/dev/null 2>&1 || continue
    found=$("$py" -c 'import glob, os, nvidia; print(":".join(d for p in nvidia.__path__ for d in sorted(glob.glob(os.path.join(p, "*", "lib")))))' 2>/dev/null) || continue
    [ -n "$found" ] && dirs="${dirs:+$dirs:}$found"
  done
  [ -n "$dirs" ] && export JGPT_CUDA_LIBS="$dirs"
fi

summary=()

# step NAME SECONDS ARGS...: runs jgpt with ARGS, logs to NAME.log, records ok/FAIL with the log's last line.
step() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  echo "== $name: jgpt $*" | tee "$logs/$name.log"
  timeout "$limit" "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
    -jar "$bundle/jgpt.jar" "$@" 2>&1 | grep -v "incubator modules" | tee -a "$logs/$name.log"
  local rc=${PIPESTATUS[0]}
  local last
  last=$(grep -v '^==' "$logs/$name.log" | tail -n 1)
  if [ "$rc" -eq 0 ]; then status=ok; elif [ "$rc" -eq 124 ]; then status="FAIL (timed out after ${limit}s)"; else status="FAIL (exit $rc)"; fi
  summary+=("$(printf '%-8s %-28s %4ds  %s' "$name" "$status" $((SECONDS - t0)) "$last")")
  return "$rc"
}

command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi > "$logs/nvidia-smi.txt" 2>&1
echo "JGPT_CUDA_LIBS=${JGPT_CUDA_LIBS:-}" > "$logs/environment.txt"

step cpu 120 debug-step --model "$bundle/fixtures/tiny/hf" --batch "$bundle/fixtures/tiny/batch.json" --steps 3
gpu=yes
if ! step gpu 120 cuda info; then
  if grep -q "no CUDA driver found\|sees no GPU" "$logs/gpu.log"; then
    gpu=no
    unset 'summary[${#summary[@]}-1]'
    summary+=("$(printf '%-8s %-28s' gpu "skipped (no GPU)")")
  fi
fi
if [ "$gpu" = yes ]; then
  step compile 300 cuda compile
  step parity 300 cuda parity --fixtures "$bundle/fixtures"
  step train 300 cuda train --steps 300 "$bundle/corpus.txt"
  step bench 300 bench train --device cuda --model gpt2 --batch 16 --seq 1024 --steps 5 --warmup 2 --json
else
  # without a GPU the kernels can still be compiled, for sm_90, where NVRTC is found
  if ! step compile 300 cuda compile --arch sm_90 && grep -q "no NVRTC found" "$logs/compile.log"; then
    unset 'summary[${#summary[@]}-1]'
    summary+=("$(printf '%-8s %-28s' compile "skipped (no NVRTC)")")
  fi
  for s in parity train bench; do summary+=("$(printf '%-8s %-28s' "$s" "skipped (no GPU)")"); done
fi

echo
echo "== summary (logs in $logs)"
{
  printf '%s\n' "${summary[@]}"
  [ "$gpu" = no ] && grep -v '^==' "$logs/gpu.log" | tail -n 1
} | tee "$logs/summary.txt"
grep -q "FAIL" "$logs/summary.txt" && exit 1
[ "$gpu" = no ] && exit 3
exit 0
