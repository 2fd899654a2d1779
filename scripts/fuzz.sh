#!/usr/bin/env bash
# Runs one of Loom's libFuzzer targets (tests/fuzz) for a while, from the seed corpus
# kept in the repository plus what earlier runs found.
#
# usage: scripts/fuzz.sh TARGET [SECONDS] [libFuzzer options...]
#   TARGET   Json, Safetensors, Tokenizer, HfConfig or Onnx
#   SECONDS  how long to fuzz (default 60); ctest runs each for a few seconds
# Builds the targets with clang++ in $LOOM_FUZZ_BUILD (default build/fuzz) unless
# $LOOM_FUZZ_BIN_DIR names where they are. New inputs go to <build>/corpus/TARGET; a
# crash is saved under <build>/crashes/ and the script fails. Keep a crash as a
# regression input by copying it into tests/fuzz/corpus/TARGET after the fix.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${1:?usage: scripts/fuzz.sh TARGET [SECONDS] [libFuzzer options...]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
seeds=$root/tests/fuzz/corpus/$target
[ -d "$seeds" ] || { echo "fuzz.sh: no target '$target' (no $seeds)" >&2; exit 2; }

build=${LOOM_FUZZ_BUILD:-$root/build/fuzz}
bin=${LOOM_FUZZ_BIN_DIR:-}
if [ -z "$bin" ]; then
  cmake -G Ninja -S "$root/tests/fuzz" -B "$build" -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  cmake --build "$build" --target "fuzz-$target" >/dev/null
  bin=$build
fi
work=$build/corpus/$target
crashes=$build/crashes/$target
mkdir -p "$work" "$crashes"
# libFuzzer adds new inputs to the first folder; the seeds stay as committed.
"$bin/fuzz-$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$crashes/" "$@" "$work" "$seeds"
