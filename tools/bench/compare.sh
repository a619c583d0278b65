#!/usr/bin/env bash
# Run jgpt's benchmark and the PyTorch peer (torch_bench.py) with the same arguments, one after the
# other on the same CPU, and print both JSON lines, a small table and the ratio jgpt / pytorch.
#
#   tools/bench/compare.sh train    [--model gpt2] [--batch 4] [--seq 64] [--steps 5] [--warmup 2] [--threads K]
#   tools/bench/compare.sh generate [--model gpt2] [--prompt-tokens 16] [--new-tokens 64] [--threads K] [--no-cache]
#                                   [--dtype bf16|fp32]
#
# generate runs jgpt twice, with bf16 and with fp32 weight matrices (--dtype picks one); PyTorch is fp32.
# --threads defaults to every core this process may use, given to both sides explicitly.
# JGPT=path/to/jgpt picks another launcher (default: the repository's ./jgpt);
# PYTHON=... another interpreter with torch (default /usr/bin/python3, Debian's python3-torch).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
jgpt="${JGPT:-$root/jgpt}"
python="${PYTHON:-/usr/bin/python3}"
peer="$here/torch_bench.py"

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

mode="${1:-}"; [ $# -gt 0 ] && shift
case "$mode" in
  train|generate) ;;
  -h|--help) usage ;;
  *) echo "compare.sh: first argument must be 'train' or 'generate'" >&2; usage ;;
esac

model=gpt2 batch=4 seq=64 steps=5 warmup=2 prompt=16 new=64 cache=1 dtypes="bf16 fp32"
threads="$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)"
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --seq) seq="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --prompt-tokens) prompt="$2"; shift 2 ;;
    --new-tokens) new="$2"; shift 2 ;;
    --no-cache) cache=0; shift ;;
    --dtype) dtypes="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "compare.sh: unknown option '$1'" >&2; usage ;;
  esac
done

# The peer needs torch, and torch needs a real BLAS to be worth comparing with.
if ! "$python" -c 'import torch' >/dev/null 2>&1; then
  echo "compare.sh: $python cannot import torch. On Debian: apt-get install python3-torch libopenblas0-openmp" >&2
  exit 1
fi
blas="$("$python" "$peer" check --json 2>/dev/null \
  | "$python" -c 'import json,sys; print(json.load(sys.stdin)["blas"])' 2>/dev/null || echo unknown)"
case "$blas" in
  openblas*|mkl|blis) ;;
  *) echo "compare.sh: WARNING: torch is not using OpenBLAS (BLAS: $blas); Debian's torch with the reference" \
          "BLAS is ~23x slower. Install libopenblas0-openmp." >&2 ;;
esac

if [ "$mode" = train ]; then
  args=(--model "$model" --batch "$batch" --seq "$seq" --steps "$steps" --warmup "$warmup" --threads "$threads" --json)
else
  args=(--model "$model" --prompt-tokens "$prompt" --new-tokens "$new" --threads "$threads" --json)
  [ "$cache" = 0 ] && args+=(--no-cache)
fi

# Last line of a command's output that looks like a JSON object.
json_line() { grep -E '^\{.*\}$' | tail -n 1; }

# jgpt's runs: one for train, one per weight dtype for generate.
runs=("")
if [ "$mode" = generate ]; then
  runs=()
  for d in $dtypes; do runs+=("$d"); done
fi

jgpt_jsons=()
errlog="$(mktemp)"; trap 'rm -f "$errlog"' EXIT
# picocli answers --help for an unknown subcommand with the top-level usage (and exit 0), so look
# for the subcommand's own usage line.
if ! "$jgpt" bench "$mode" --help 2>"$errlog" | grep -q "Usage: jgpt bench $mode"; then
  if grep -q "build failed" "$errlog"; then
    # a comparison without jgpt's side is no comparison: stop rather than print PyTorch alone
    echo "compare.sh: jgpt did not build:" >&2
    tail -n 20 "$errlog" >&2
    exit 1
  fi
  echo "compare.sh: NOTE: this jgpt has no 'bench $mode' yet; only the PyTorch side runs." >&2
else
  for d in "${runs[@]}"; do
    extra=(); [ -n "$d" ] && extra=(--dtype "$d")
    echo "== jgpt: bench $mode ${args[*]} ${extra[*]}" >&2
    out="$("$jgpt" bench "$mode" "${args[@]}" "${extra[@]}" 2>"$errlog")"; rc=$?
    j="$(printf '%s\n' "$out" | json_line)"
    if [ $rc -ne 0 ] || [ -z "$j" ]; then
      # jgpt's own error, then stop: a table with its side empty (loss nan, 0 tokens/s) and exit 0
      # would read as a measurement
      echo "compare.sh: jgpt bench $mode ${extra[*]} failed (exit $rc):" >&2
      tail -n 20 "$errlog" >&2
      exit $(( rc == 0 ? 1 : rc ))
    fi
    echo "jgpt:    $j"
    jgpt_jsons+=("$j")
  done
fi

echo "== pytorch: torch_bench.py $mode ${args[*]}" >&2
out="$("$python" "$peer" "$mode" "${args[@]}")"; rc=$?
torch_json="$(printf '%s\n' "$out" | json_line)"
if [ $rc -ne 0 ] || [ -z "$torch_json" ]; then
  echo "compare.sh: torch_bench.py $mode failed (exit $rc)" >&2
  exit 1
fi
echo "pytorch: $torch_json"

JGPT_JSON="$(printf '%s\n' "${jgpt_jsons[@]}")" TORCH_JSON="$torch_json" MODE="$mode" "$python" - <<'EOF'
import json, os
js = [json.loads(line) for line in os.environ["JGPT_JSON"].splitlines() if line.strip()]
t = json.loads(os.environ["TORCH_JSON"])
if os.environ["MODE"] == "train":
    rows = [("ms/step", "ms_per_step"), ("tokens/s", "tokens_per_s"),
            ("GFLOP/s", "gflops_per_s"), ("peak RSS MB", "peak_rss_mb"),
            ("initial loss", "initial_loss")]
else:
    rows = [("tokens/s", "tokens_per_s"), ("prefill ms", "prefill_ms"),
            ("peak RSS MB", "peak_rss_mb")]

def name(j):
    return "jgpt " + j["dtype"] if "dtype" in j else "jgpt"

def fmt(v, key):
    if not isinstance(v, (int, float)):
        return "-"
    if key == "initial_loss":
        return f"{v:.4f}"
    return f"{v:,.1f}" if isinstance(v, float) else f"{v:,}"

def ratio(a, b, key):
    ok = key != "initial_loss" and isinstance(a, (int, float)) and isinstance(b, (int, float)) and b
    return f"{a / b:.2f}x" if ok else "-"

print()
header = f"{'':14}" + "".join(f"{name(j):>12}" for j in js) + f"{'pytorch':>12}"
header += "".join(f"{name(j) + '/pytorch':>20}" for j in js)
print(header)
for label, key in rows:
    line = f"{label:14}" + "".join(f"{fmt(j.get(key), key):>12}" for j in js) + f"{fmt(t.get(key), key):>12}"
    line += "".join(f"{ratio(j.get(key), t.get(key), key):>20}" for j in js)
    print(line)
print()
if not js:
    print("tokens/s jgpt / pytorch: n/a (jgpt's side did not run)")
for j in js:
    if j.get("tokens_per_s") and t.get("tokens_per_s"):
        r = j["tokens_per_s"] / t["tokens_per_s"]
        print(f"tokens/s {name(j)} / pytorch = {r:.2f} ({'jgpt faster' if r > 1 else 'pytorch faster' if r < 1 else 'even'})")
print(f"pytorch: {t.get('peer')}, BLAS {t.get('blas')}, fp32; threads {t.get('threads')}"
      + (f", jgpt threads {js[0].get('threads')}" if js and js[0].get("threads") is not None else ""))
EOF
