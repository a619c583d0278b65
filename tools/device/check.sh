#!/usr/bin/env bash
# The GPU check, in one run of a few minutes, on a machine with no JDK and no network: unpacks the
# runtime that bundle.sh packed, then runs, each with a time limit and its own log, in this order
# (what the GPU engine must show first, so that a run cut short still tells the most):
#   cpu      the runtime works: debug-step on the CPU
#   gpu      the GPU, the driver, NVRTC and cuBLAS as jgpt finds them   (jgpt cuda info)
#   compile  every kernel compiled for the GPU and loaded               (jgpt cuda compile)
#   parity   every kernel and a small GPT against the CPU, debug-step against PyTorch (jgpt cuda parity)
#   train    jgpt train on the GPU: a small GPT learns jgpt's sources; its validation loss must fall
#   generate greedy decoding of that model on the GPU (KV cache there) gives the CPU's fp32 text
#   resume   that run resumed on the GPU from its step-150 checkpoint: the same losses, bit for bit
#   bench    GPT-2 124M, B=16, T=1024: forward + backward + AdamW       (jgpt bench train --device cuda)
#   pytorch  the same step in PyTorch on the same GPU (torch_bench.py train --device cuda), and the ratio
#   exchange that run's checkpoint resumed on the CPU, and a CPU-written one on the GPU: the same losses to ~1e-5
#   profile  where that step's time goes, operation by operation         (jgpt bench train --profile)
#   bench-gen  GPT-2 124M decoding on the GPU                            (jgpt bench generate --device cuda)
#   parity-lt, bench-lt  parity and bench with JGPT_MATMUL=cublaslt (the bias in cuBLASLt's epilogue)
#   bench-gen8 decoding 8 sequences together on the GPU
# and prints a summary. Logs go to $OUT when it is set, else to logs/ beside this script.
# CHECK_STEPS="bench pytorch" runs only the GPU steps named (cpu and gpu always run; naming train,
# generate, resume or exchange runs the first three together, which exchange needs), e.g. to finish
# a check that an earlier run did not get to.
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

# wanted NAME...: CHECK_STEPS (space-separated step names) is unset or names one of NAME...
wanted() {
  [ -z "${CHECK_STEPS:-}" ] && return 0
  local n
  for n in "$@"; do [[ " $CHECK_STEPS " == *" $n "* ]] && return 0; done
  return 1
}

# step NAME SECONDS ARGS...: runs jgpt with ARGS, logs to NAME.log, records ok/FAIL with the log's last line.
step() {
  local name=$1 limit=$2; shift 2
  echo "== $name: jgpt $*" | tee "$logs/$name.log"
  run_step "$name" "$limit" "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
    -jar "$bundle/jgpt.jar" "$@"
}

# run_step NAME SECONDS COMMAND...: as step, for any command (the caller starts NAME.log)
run_step() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | grep --line-buffered -v "incubator modules" | tee -a "$logs/$name.log"
  local rc=${PIPESTATUS[0]}
  local last
  last=$(grep -v '^==' "$logs/$name.log" | tail -n 1)
  if [ "$rc" -eq 0 ]; then status=ok; elif [ "$rc" -eq 124 ]; then status="FAIL (timed out after ${limit}s)"; else status="FAIL (exit $rc)"; fi
  summary+=("$(printf '%-10s %-28s %4ds  %s' "$name" "$status" $((SECONDS - t0)) "$last")")
  printf '%s\n' "${summary[@]}" > "$logs/summary.txt" # so far: what a killed check still tells
  return "$rc"
}

# losses RUN TYPE: "step loss" lines of the run's metrics.jsonl entries of TYPE (train, val)
losses() {
  grep "\"type\":\"$2\"" "$1/metrics.jsonl" | sed -E 's/.*"step":([0-9]+),.*"loss":([^,}]+).*/\1 \2/'
}

# same_losses NAME RUN_A RUN_B TYPE FROM TO MAXREL: the TYPE losses of both runs at the steps FROM..TO
# that both have differ by at most MAXREL relatively (0: bit for bit); says so in NAME's log.
same_losses() {
  local name=$1 a=$2 b=$3 type=$4 from=$5 to=$6 maxrel=$7 verdict
  verdict=$(awk -v from="$from" -v to="$to" -v maxrel="$maxrel" -v type="$type" '
    NR == FNR { if ($1 >= from && $1 <= to) want[$1] = $2; next }
    ($1 in want) { n++; d = $2 - want[$1]; if (d < 0) d = -d; w = want[$1] < 0 ? -want[$1] : want[$1];
                   r = w > 0 ? d / w : d; if (n == 1 || r > worst) { worst = r; at = $1 } }
    END { if (n == 0) { print "FAIL: no common " type " steps from " from; exit }
          printf "%s: %d %s losses of steps %d..%d, largest relative difference %.3g (step %d), allowed %g\n",
                 (worst <= maxrel ? "same" : "FAIL"), n, type, from, to, worst, at, maxrel }' <(losses "$a" "$type") <(losses "$b" "$type"))
  echo "== $name: $verdict" | tee -a "$logs/$name.log"
  [[ $verdict == same* ]]
}

# jgpt_quietly LOG ARGS...: runs jgpt with ARGS, its output appended to LOG
jgpt_quietly() {
  local log=$1; shift
  "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
    -jar "$bundle/jgpt.jar" "$@" >> "$log" 2>&1
}

# fail NAME: the summary's last line (NAME's) says it failed, with the last line of its log
fail() {
  summary[${#summary[@]}-1]="$(printf '%-10s %-28s' "$1" "FAIL") $(tail -n 1 "$logs/$1.log")"
}

# passed NAME: the summary's last line (NAME's) ends with the last comparison in its log
passed() {
  summary[${#summary[@]}-1]="$(printf '%-10s %-28s' "$1" ok) $(tail -n 1 "$logs/$1.log" | sed 's/^== [a-z]*: //')"
}

# generate_check RUN: greedy decoding of RUN's model on the GPU (the key/value cache there) gives the
# CPU's fp32 text
generate_check() {
  local t0=$SECONDS
  echo "== generate: jgpt generate --device cuda|cpu --model $1 --temperature 0 ..." | tee "$logs/generate.log"
  local args=(generate --model "$1" --prompt "public static" --max-tokens 48 --temperature 0 --ignore-eot)
  local java_args=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar "$bundle/jgpt.jar")
  if timeout 90 "$java" "${java_args[@]}" "${args[@]}" --device cuda > "$work/generated-gpu.txt" 2>> "$logs/generate.log" \
     && timeout 90 "$java" "${java_args[@]}" "${args[@]}" --device cpu --dtype fp32 > "$work/generated-cpu.txt" 2>> "$logs/generate.log"; then
    cat "$work/generated-gpu.txt" >> "$logs/generate.log"
    if cmp -s "$work/generated-gpu.txt" "$work/generated-cpu.txt"; then
      summary+=("$(printf '%-10s %-28s %4ds  %s' generate ok $((SECONDS - t0)) "48 greedy tokens on the GPU are the CPU's fp32 ones")")
    else
      summary+=("$(printf '%-10s %-28s %4ds  %s' generate FAIL $((SECONDS - t0)) "the GPU's greedy text differs from the CPU's (both in generate.log)")")
      { echo "-- cpu:"; cat "$work/generated-cpu.txt"; } >> "$logs/generate.log"
    fi
  else
    summary+=("$(printf '%-10s %-28s %4ds  %s' generate FAIL $((SECONDS - t0)) "$(tail -n 1 "$logs/generate.log")")")
  fi
}

# train_checks: jgpt train on the GPU, greedy text from its model, and that run resumed on the GPU
train_checks() {
  local runs="$work/runs"
  cat > "$work/train.yaml" <<YAML
model: {preset: custom, n_layer: 4, n_head: 2, n_embd: 128, block_size: 128}
data: {dir: $work/data, source: $bundle/corpus.txt, order: shuffled, seed: 1337}
train: {total_batch_size: 8192, micro_batch_size: 32, seq_len: 128, max_lr: 2.0e-3, warmup_steps: 20, max_steps: 200, seed: 1337, device: cuda}
eval: {val_every: 50, val_steps: 10, hellaswag_every: 0, sample_every: 100, num_samples: 2, sample_max_tokens: 64, sample_prompt: "public static", checkpoint_every: 50, keep_last: 0}
log: {runs_dir: $runs, log_every: 25}
YAML
  step train 150 train -c "$work/train.yaml" --name gpu || return
  local first last
  first=$(losses "$runs/gpu" val | head -n 1 | cut -d' ' -f2)
  last=$(losses "$runs/gpu" val | tail -n 1 | cut -d' ' -f2)
  if awk -v f="$first" -v l="$last" 'BEGIN { exit !(l < f - 1.0) }'; then
    summary[${#summary[@]}-1]+="; validation loss $first -> $last"
  else
    summary[${#summary[@]}-1]="$(printf '%-10s %-28s' train "FAIL (loss did not fall)") validation loss $first -> $last"
  fi

  generate_check "$runs/gpu"

  # the run "interrupted" after its step-150 checkpoint, resumed on the GPU: the same losses, bit for bit
  cp -r "$runs/gpu" "$runs/gpu-resumed"
  rm -rf "$runs/gpu-resumed/checkpoints/step_000200"
  if step resume 150 train --resume "$runs/gpu-resumed"; then
    if same_losses resume "$runs/gpu" "$runs/gpu-resumed" train 150 199 0; then passed resume; else fail resume; fi
  fi
}

# exchange_check: the run of train_checks, its checkpoints crossing between GPU and CPU
exchange_check() {
  local runs="$work/runs"
  [ -f "$runs/gpu/metrics.jsonl" ] || return
  # the GPU's step-150 checkpoint resumed on the CPU: its validation loss and first step's loss are the
  # GPU's to float32 rounding (later steps drift apart as rounding compounds: logged, loosely bounded);
  # then the CPU's step-200 checkpoint, resumed on each engine, gives both the same validation loss
  cp -r "$runs/gpu" "$runs/on-cpu"
  rm -rf "$runs/on-cpu/checkpoints/step_000200"
  if step exchange 300 train --resume "$runs/on-cpu" --set train.device=cpu; then
    { same_losses exchange "$runs/gpu" "$runs/on-cpu" val 150 150 1e-5 \
      && same_losses exchange "$runs/gpu" "$runs/on-cpu" train 150 150 1e-5 \
      && same_losses exchange "$runs/gpu" "$runs/on-cpu" train 150 199 0.05 \
      && cp -r "$runs/on-cpu" "$runs/back-on-gpu" && cp -r "$runs/on-cpu" "$runs/on-cpu-again" \
      && jgpt_quietly "$logs/exchange.log" train --resume "$runs/back-on-gpu" --set train.device=cuda --set train.max_steps=210 \
      && jgpt_quietly "$logs/exchange.log" train --resume "$runs/on-cpu-again" --set train.device=cpu --set train.max_steps=210 \
      && same_losses exchange "$runs/on-cpu-again" "$runs/back-on-gpu" val 200 200 1e-5 && passed exchange; } || fail exchange
  fi
}

command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi > "$logs/nvidia-smi.txt" 2>&1
echo "JGPT_CUDA_LIBS=${JGPT_CUDA_LIBS:-}" > "$logs/environment.txt"

step cpu 120 debug-step --model "$bundle/fixtures/tiny/hf" --batch "$bundle/fixtures/tiny/batch.json" --steps 3
gpu=yes
if ! step gpu 120 cuda info; then
  if grep -q "no CUDA driver found\|sees no GPU" "$logs/gpu.log"; then
    gpu=no
    unset 'summary[${#summary[@]}-1]'
    summary+=("$(printf '%-10s %-28s' gpu "skipped (no GPU)")")
  fi
fi
if [ "$gpu" = yes ]; then
  # most important first (a command killed at its time limit still leaves every finished step's
  # log): the kernels, parity, training, the benchmark; then the CPU exchange, the rest of the speed
  wanted compile && step compile 180 cuda compile
  wanted parity && step parity 240 cuda parity --fixtures "$bundle/fixtures"
  wanted train generate resume exchange && train_checks
  wanted bench && step bench 150 bench train --device cuda --model gpt2 --batch 16 --seq 1024 --steps 5 --warmup 2 --json
  # the peer on the same GPU, the same step: PyTorch in float32, TF32 off
  if wanted pytorch; then
    torch_python=""
    for py in python3 /usr/bin/python3 /usr/local/bin/python3 /opt/conda/bin/python3 "${VIRTUAL_ENV:-/nonexistent}/bin/python3"; do
      if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then torch_python=$py; break; fi
    done
    if [ -n "$torch_python" ]; then
      echo "== pytorch: $torch_python torch_bench.py train --device cuda ..." | tee "$logs/pytorch.log"
      run_step pytorch 150 "$torch_python" "$bundle/torch_bench.py" train --device cuda --model gpt2 --batch 16 --seq 1024 --steps 5 --warmup 2 --json
      jgpt_tps=$(grep -o '"tokens_per_s":[0-9.]*' "$logs/bench.log" 2>/dev/null | tail -n 1 | cut -d: -f2)
      torch_tps=$(grep -o '"tokens_per_s": [0-9.]*' "$logs/pytorch.log" | tail -n 1 | cut -d' ' -f2)
      if [ -n "$jgpt_tps" ] && [ -n "$torch_tps" ]; then
        summary+=("$(printf '%-10s %-28s' ratio "jgpt / pytorch") $(awk -v j="$jgpt_tps" -v t="$torch_tps" 'BEGIN { printf "%.2f (%s / %s tokens/s)", j / t, j, t }')")
      fi
    else
      summary+=("$(printf '%-10s %-28s' pytorch "skipped (no python3 with torch and a GPU)")")
    fi
  fi
  wanted exchange && exchange_check
  # where the GPU's step goes: every operation of the network timed by events on the stream
  if wanted profile && step profile 150 bench train --device cuda --model gpt2 --batch 16 --seq 1024 --steps 3 --warmup 1 --profile; then
    top=$(grep -A3 "operation .*calls/step" "$logs/profile.log" | tail -n 3 \
      | awk '{ n = ""; for (i = 1; i <= NF - 3; i++) n = n (i > 1 ? " " : "") $i; printf "%s%s %s", (NR > 1 ? ", " : ""), n, $NF }')
    summary[${#summary[@]}-1]="$(printf '%-10s %-28s' profile ok) largest: $top"
    printf '%s\n' "${summary[@]}" > "$logs/summary.txt"
  fi
  wanted bench-gen && step bench-gen 120 bench generate --device cuda --model gpt2 --json
  export JGPT_MATMUL=cublaslt # the other matmul path: the bias fused into cuBLASLt's epilogue
  wanted parity-lt && step parity-lt 240 cuda parity --fixtures "$bundle/fixtures"
  wanted bench-lt && step bench-lt 150 bench train --device cuda --model gpt2 --batch 16 --seq 1024 --steps 5 --warmup 2 --json
  unset JGPT_MATMUL
  wanted bench-gen8 && step bench-gen8 120 bench generate --device cuda --model gpt2 --batch 8 --json
else
  # without a GPU the kernels can still be compiled, for sm_90, where NVRTC is found
  if ! step compile 300 cuda compile --arch sm_90 && grep -q "no NVRTC found" "$logs/compile.log"; then
    unset 'summary[${#summary[@]}-1]'
    summary+=("$(printf '%-10s %-28s' compile "skipped (no NVRTC)")")
  fi
  for s in parity train generate resume bench pytorch exchange profile bench-gen parity-lt bench-lt bench-gen8; do summary+=("$(printf '%-10s %-28s' "$s" "skipped (no GPU)")"); done
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
