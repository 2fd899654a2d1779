#!/usr/bin/env bash
# On the GPU machine: batch-1 and batch-64 decode of the 1.1B Llama of GPU.md through
# Loom's serving engine with bf16 weights and with quantized ones, in one call on the
# same checkpoint. Arguments: the runtime's loom binary, a folder for the model (made
# from seed 0 when absent), a folder for results, then step artifacts as NAME=DIR (each
# `loom compile <config folder> --entry step --dtype bf16 [--quantize ...]`).
set -euo pipefail
loom=$1 model=$2 out=$3
shift 3
here=$(dirname "$0")
new=${NEW_TOKENS:-128} plen=${PROMPT_LEN:-128}
mkdir -p "$out"
python3 "$here/make_model.py" "$model" > "$out/device.json"
export LOOM_CACHE_DIR=$out/cache
common=(--weights "$model" --ignore-eos --max-context 2048)
for round in $(seq 1 "${ROUNDS:-2}"); do
  for pair in "$@"; do
    name=${pair%%=*} art=${pair#*=}
    "$loom" generate "$art" "${common[@]}" --random-prompts "1:$plen" --max-new-tokens "$new" \
        --json "$out/${name}_b1_r$round.json" 2> "$out/${name}_b1_r$round.txt"
    "$loom" generate "$art" "${common[@]}" --random-prompts "64:$plen" --max-new-tokens "$new" \
        --json "$out/${name}_b64_r$round.json" 2> "$out/${name}_b64_r$round.txt"
  done
done
python3 "$here/report.py" "$out" "$@" | tee "$out/report.txt"
