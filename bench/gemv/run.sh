#!/usr/bin/env bash
# On the GPU machine: builds and runs the matrix-vector microbenchmark (gemv_bench.cu).
set -euo pipefail
here=$(dirname "$0")
nvcc -O3 -arch=sm_90a -std=c++17 -o /tmp/loom_gemv_bench "$here/gemv_bench.cu"
/tmp/loom_gemv_bench
