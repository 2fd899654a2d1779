#!/usr/bin/env bash
# On the GPU machine: text generation with the 1.1B Llama of GPU.md, transformers
# `generate` and Loom's serving engine in one call on the same weights. Arguments: the
# runtime's loom binary, the step artifact (loom compile --entry step --dtype bf16),
# a folder for the model (made from seed 0 when absent), a folder for results.
set -euo pipefail
loom=$1 art=$2 model=$3 out=$4
here=$(dirname "$0")
plen=${PROMPT_LEN:-128} new=${NEW_TOKENS:-128}
mkdir -p "$out"
python3 "$here/hf_generate.py" "$model" "$plen" "$new" | tee "$out/transformers.json"
export LOOM_CACHE_DIR=$out/cache
common=(--weights "$model" --ignore-eos --max-context 2048)
# Batch 1: time to first token (1 new token), then decode.
"$loom" generate "$art" "${common[@]}" --random-prompts "1:$plen" --max-new-tokens 1 \
    --json "$out/loom_ttft.json" 2> "$out/loom_ttft.txt"
"$loom" generate "$art" "${common[@]}" --random-prompts "1:$plen" --max-new-tokens "$new" \
    --json "$out/loom_b1.json" 2> "$out/loom_b1.txt"
# Batch 64 in one continuous batch.
"$loom" generate "$art" "${common[@]}" --random-prompts "64:$plen" --max-new-tokens "$new" \
    --json "$out/loom_b64.json" 2> "$out/loom_b64.txt"
# Prefill of 1 x 2048 (one step of 2048 prompt tokens).
"$loom" generate "$art" "${common[@]}" --random-prompts 1:2047 --max-new-tokens 1 \
    --max-step-tokens 2048 --max-context 2048 --json "$out/loom_prefill.json" 2> "$out/loom_prefill.txt"
# Where decode time goes: a per-kernel profile of batch-1 decode (no graphs).
"$loom" generate "$art" "${common[@]}" --random-prompts "1:$plen" --max-new-tokens 32 \
    --profile 2> "$out/loom_profile_b1.txt"
"$loom" generate "$art" "${common[@]}" --random-prompts "64:$plen" --max-new-tokens 16 \
    --profile 2> "$out/loom_profile_b64.txt"
"$loom" generate "$art" "${common[@]}" --random-prompts 1:2047 --max-new-tokens 1 \
    --max-step-tokens 2048 --profile 2> "$out/loom_profile_prefill.txt"
python3 "$here/report.py" "$out" | tee "$out/report.txt"
