#!/usr/bin/env bash
# On the GPU machine: same-call A/B of step artifacts (for example the same model
# compiled by two versions of the compiler). Each round runs every artifact once, in
# order, so drift over the call hits all of them alike; compare medians over rounds.
#
#   bench/generate/ab.sh LOOM_BINARY MODEL_DIR ARTIFACT...
#
# Batch-1 decode tokens/s for each artifact and round (ROUNDS, default "1 2 3");
# PROMPT_LEN (128) and NEW_TOKENS (256) set the context; B64=1 adds batch 64 (128 new
# tokens), PREFILL=1 a 2047-token prefill in tokens/s. SAME=1 first checks that every
# artifact generates the same greedy ids for 8 prompts (`--json` output_ids); kernels
# that only reorder sums may legitimately differ there.
set -euo pipefail
loom=$1 model=$2
shift 2
plen=${PROMPT_LEN:-128} new=${NEW_TOKENS:-256}
common=(--weights "$model" --ignore-eos --max-context 2048)
json=$(mktemp)
trap 'rm -f "$json"' EXIT
run() { # loom generate ARTIFACT ARGS...; stops the script with loom's message if it fails
  local art=$1 log
  shift
  if ! log=$("$loom" generate "$art" "${common[@]}" "$@" --json "$json" 2>&1); then
    echo "ab.sh: loom generate $art failed: $(printf '%s' "$log" | tr '\r' '\n' | tail -1)" >&2
    exit 1
  fi
  printf '%s' "$log" | tr '\r' '\n'
}
decode() { # artifact batch new-tokens -> "decode N tokens/s"
  run "$1" --random-prompts "$2:$plen" --max-new-tokens "$3" |
      grep -oE "decode [0-9.]+ tokens/s" | head -1
}
if [ "${SAME:-0}" = 1 ]; then
  for art in "$@"; do
    decode "$art" 8 64 > /dev/null
    ids=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['output_ids'])" "$json" | md5sum | cut -c1-12)
    echo "$art ids: $ids"
  done
fi
for round in ${ROUNDS:-1 2 3}; do
  for art in "$@"; do
    result=$(decode "$art" 1 "$new")
    echo "round $round $art b1: $result"
    if [ "${B64:-0}" = 1 ]; then
      result=$(decode "$art" 64 128)
      echo "round $round $art b64: $result"
    fi
    if [ "${PREFILL:-0}" = 1 ]; then
      run "$art" --random-prompts 1:2047 --max-new-tokens 1 --max-step-tokens 2048 > /dev/null
      result=$(python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print(round(d['prompt_tokens'] / d['prefill_seconds']), 'tokens/s')" "$json")
      echo "round $round $art prefill: $result"
    fi
  done
done
