#!/usr/bin/env bash
# On the GPU machine: the 1.1B Llama forward (1x2048, bf16) in transformers and in
# Loom, in one call. Arguments: the runtime's loom binary, the artifact, a folder for
# the model (made from seed 0 when absent), a folder for results.
set -euo pipefail
loom=$1 art=$2 model=$3 out=$4
here=$(dirname "$0")
mkdir -p "$out"
python3 "$here/transformers_baseline.py" "$model" | tee "$out/transformers.json"
export LOOM_CACHE_DIR=$out/cache
rm -rf "$LOOM_CACHE_DIR"
# Cold (NVRTC), then warm (kernel cache) with a per-kernel profile.
"$loom" run "$art" --weights "$model" --inputs "$model/inputs.safetensors" \
    --outputs "$out/loom_logits.safetensors" --repeat 3 2>&1 | tee "$out/cold.txt"
"$loom" run "$art" --weights "$model" --inputs "$model/inputs.safetensors" \
    --repeat 6 --profile 2>&1 | tee "$out/warm.txt"
python3 "$here/compare_logits.py" "$out/loom_logits.safetensors" "$model/torch_logits.safetensors" \
    | tee "$out/compare.txt"
