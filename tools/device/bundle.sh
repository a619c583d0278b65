#!/usr/bin/env bash
# Packs what a GPU check needs on a machine with no JDK, no Maven and no network into one folder,
# build/device/ (ignored by git): the jar and its libraries, a jlink'd JDK 25 runtime (only the
# modules the jar needs, as a .tar.gz), the PyTorch fixtures, a small text corpus to train on, and
# check.sh. Copy that folder (or the whole repository with it) to the GPU machine and run
# build/device/check.sh there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/tools/find-jdk.sh"
find_jdk || exit 1
export PATH="$JAVA_HOME/bin:$PATH"
out="$root/build/device"

echo "bundle: building the jar..." >&2
(cd "$root" && mvn -q -B -DskipTests package)

rm -rf "$out"
mkdir -p "$out/lib" "$out/fixtures"
cp "$root/target/jgpt.jar" "$out/"
cp "$root/target/lib/"*.jar "$out/lib/"
# the libraries' native code for other platforms than x86-64 Linux is 8 MB of the 17: drop it
if command -v zip >/dev/null && command -v unzip >/dev/null; then
  for j in "$out/lib/"*.jar; do
    drop=$(unzip -Z1 "$j" | grep -E '\.(so|dll|dylib|jnilib|a)$' | grep -vE '[Ll]inux/(amd64|x86_64)/' || true)
    if [ -n "$drop" ]; then printf '%s\n' "$drop" | zip -q -d "$j" -@; fi
  done
fi

# The modules the jar and its libraries use (jdeps), plus the Vector API, which is loaded by flag.
modules=$(jdeps --multi-release 25 --ignore-missing-deps --print-module-deps \
  --class-path "$root/target/lib/*" "$root/target/jgpt.jar" "$root/target/lib/"*.jar 2>/dev/null | tail -n 1)
modules="$modules,jdk.incubator.vector"
echo "bundle: jlink $modules" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jlink --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --output "$tmp/runtime"
tar -C "$tmp" -czf "$out/runtime.tar.gz" runtime

# debug-step's PyTorch references: the HuggingFace weights, the batch and the expected numbers
for f in "$root"/src/test/resources/fixtures/*/; do
  name=$(basename "$f")
  mkdir -p "$out/fixtures/$name"
  cp -r "$f/hf" "$f/batch.json" "$f/expected.json" "$out/fixtures/$name/"
done

# a corpus for the short training run: jgpt's own Java sources (a small GPT learns Java)
find "$root/src/main/java" -name '*.java' | sort | xargs cat > "$out/corpus.txt"

cp "$root/tools/device/check.sh" "$root/tools/bench/torch_bench.py" "$out/"
du -sh "$out" >&2
echo "bundle: $out ($(du -sb "$out" | cut -f1) bytes); on the GPU machine run $out/check.sh" >&2
