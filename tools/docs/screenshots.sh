#!/usr/bin/env bash
# Makes the README's pictures from real runs: two short quick-start runs that differ in max_lr,
# drawn by `jgpt plot` (docs/plot.png) and shown by the dashboard in headless Chromium
# (docs/dashboard.png). Needs chromium and chromium-driver. Takes about 15 minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
. tools/find-jdk.sh
find_jdk
export PATH="$JAVA_HOME/bin:$PATH"

short=(--set train.max_steps=150 --set train.warmup_steps=15 --set eval.val_every=25 --set eval.sample_every=50
       --set eval.checkpoint_every=50)
[ -d runs/lr-2e-3 ] || ./jgpt train --name lr-2e-3 "${short[@]}" --set train.max_lr=2e-3
[ -d runs/lr-6e-4 ] || ./jgpt train --name lr-6e-4 "${short[@]}" --set train.max_lr=6e-4

mkdir -p docs
./jgpt plot lr-2e-3 lr-6e-4 --out docs/plot.png

mvn -q -o test-compile 2>/dev/null || mvn -q test-compile
mvn -q -o dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/test-classpath.txt >/dev/null
java -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" dev.jgpt.track.DashboardScreenshot \
  runs docs/dashboard.png "runs=lr-2e-3,lr-6e-4&focus=lr-2e-3&x=steps&tab=overview" 1280 1500
# palette PNGs are a fraction of the size and look the same
if command -v pngquant >/dev/null; then
  for f in docs/plot.png docs/dashboard.png; do pngquant --force --quality 70-95 --output "$f" "$f"; done
fi
