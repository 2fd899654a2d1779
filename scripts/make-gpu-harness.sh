#!/usr/bin/env bash
# Writes the kernel harnesses of the GPU suite (tests/gpu) into carry/harness/: every
# distinct kernel of the shared models with random inputs and the reference executor's
# outputs. Run from the repository root after a build with the compiler; then carry
# `carry` to the GPU machine and run `ctest -L gpu` there.
set -euo pipefail
cd "$(dirname "$0")/.."
loom=build/bin/loom
models=../shared/models
out=carry/harness
rm -rf "$out"
mkdir -p "$out"
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-hf"
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-hf-long" --sizes batch=1,seq=70 --seed 1
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-bf16" --dtype bf16
"$loom" kernel-harness "$models/tiny-llama/model.onnx" -o "$out/llama-onnx"
"$loom" kernel-harness "$models/tiny-gpt2" -o "$out/gpt2-hf"
"$loom" kernel-harness "$models/tiny-gpt2/model.onnx" -o "$out/gpt2-onnx" --sizes batch=2,sequence=9
"$loom" kernel-harness "$models/tiny-bert" -o "$out/bert-hf"
"$loom" kernel-harness "$models/tiny-bert/model.onnx" -o "$out/bert-onnx"
