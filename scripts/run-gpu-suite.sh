#!/usr/bin/env bash
# On the GPU machine (the device tool's run, from the repository root, with `carry`
# made by scripts/make-gpu-suite.sh): builds the runtime alone into /tmp/rt, runs the
# GPU suite (ctest -L gpu, the tests matching $SUITE_FILTER), then, when $ARTS names
# step artifacts (`name=dir ...`), bench/quantized/run.sh on the 1.1B Llama of GPU.md.
# Logs go to $OUT (the device tool's output folder; /tmp/gpu-out elsewhere).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1
start=$(date +%s)
if ! { cmake -S . -B /tmp/rt -G Ninja -DLOOM_BUILD_COMPILER=OFF -DCMAKE_BUILD_TYPE=Release \
         && ninja -C /tmp/rt; } > "$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"
  exit 1
fi
echo "build: $(( $(date +%s) - start )) s"
status=0
if [ -n "${SUITE_FILTER-}" ]; then
  LOOM_GPU_SUITE=${LOOM_GPU_SUITE-} ctest --test-dir /tmp/rt -L gpu -R "$SUITE_FILTER" \
      -j"${JOBS:-4}" --output-on-failure --timeout "${TEST_TIMEOUT:-240}" > "$OUT/suite.log" 2>&1 \
    || status=1
  grep -E "tests passed|Failed|\*\*\*|Not Run|Timeout" "$OUT/suite.log" | head -60
  echo "suite: $(( $(date +%s) - start )) s"
fi
if [ -n "${ARTS-}" ]; then
  # shellcheck disable=SC2086
  ROUNDS=${ROUNDS:-2} NEW_TOKENS=${NEW_TOKENS:-128} \
    bench/quantized/run.sh /tmp/rt/bin/loom /tmp/llama-1b "$OUT/bench" $ARTS \
    > "$OUT/bench.log" 2>&1 || status=1
  tail -30 "$OUT/bench.log"
  echo "bench: $(( $(date +%s) - start )) s"
fi
exit $status
