#!/usr/bin/env bash
# Writes what the GPU suite (tests/gpu) reads into carry/: kernel harnesses (every
# distinct kernel of the shared models with random inputs and the reference executor's
# outputs) in carry/harness, compiled artifacts of the shared models in carry/artifacts
# and their weights and PyTorch references in carry/models. Run from the repository root
# after a build with the compiler; then carry `carry` to the GPU machine and run
# `ctest -L gpu` there (scripts/run-gpu-suite.sh). All of it is about 230 MB, more than
# one device call carries (64 MiB with the tree): LOOM_GPU_SUITE_KEEP=<regex> keeps
# only the harnesses, artifacts and models whose names match (the GPU suite skips the
# tests whose data is missing), e.g. LOOM_GPU_SUITE_KEEP='grad|^tiny-llama$|training'.
set -euo pipefail
cd "$(dirname "$0")/.."
loom=build/bin/loom
models=../shared/models
out=carry/harness
rm -rf "$out" carry/artifacts carry/models carry/training
mkdir -p "$out" carry/artifacts carry/models
for m in tiny-llama tiny-gpt2 tiny-bert; do
  mkdir -p "carry/models/$m"
  cp "$models/$m/model.safetensors" "$models/$m/reference.safetensors" "carry/models/$m/"
  for f in generations.json config.json generation_config.json tokenizer.json; do
    if [ -f "$models/$m/$f" ]; then cp "$models/$m/$f" "carry/models/$m/"; fi
  done
  "$loom" compile "$models/$m" -o "carry/artifacts/$m"
done
"$loom" compile "$models/tiny-llama" -o carry/artifacts/tiny-llama-bf16 --dtype bf16
# Serving steps (paged KV cache) for the generation tests.
"$loom" compile "$models/tiny-llama" -o carry/artifacts/tiny-llama-step --entry step
"$loom" compile "$models/tiny-llama" -o carry/artifacts/tiny-llama-step-bf16 --entry step --dtype bf16
"$loom" compile "$models/tiny-gpt2" -o carry/artifacts/tiny-gpt2-step --entry step
"$loom" compile "$models/tiny-llama" -o carry/artifacts/tiny-llama-kvbf16-step --entry step --kv-dtype bf16
"$loom" compile "$models/tiny-llama" -o carry/artifacts/tiny-llama-kvint8-step --entry step --kv-dtype int8
# The training gradients (grad entry: loss and every weight's gradient) and a few of
# PyTorch's to compare with (the loss, the embedding's (scatter_add), a norm's and
# projections of the first and last layers).
"$loom" compile "$models/tiny-llama" -o carry/artifacts/tiny-llama-grad --entry grad
"$loom" compile "$models/tiny-llama" -o carry/artifacts/tiny-llama-train-step --entry train_step
training=../shared/training/tiny-llama
mkdir -p carry/training
cp "$training/batch.safetensors" carry/training/
cp "$training/adamw/losses.json" carry/training/adamw-losses.json
python3 scripts/safetensors-subset.py "$training/full.safetensors" carry/training/grad-check.safetensors \
    loss grad.model.embed_tokens.weight grad.model.norm.weight \
    grad.model.layers.0.self_attn.q_proj.weight grad.model.layers.0.self_attn.v_proj.weight \
    grad.model.layers.3.mlp.down_proj.weight
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-hf"
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-hf-long" --sizes batch=1,seq=70 --seed 1
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-bf16" --dtype bf16
"$loom" kernel-harness "$models/tiny-llama/model.onnx" -o "$out/llama-onnx"
"$loom" kernel-harness "$models/tiny-gpt2" -o "$out/gpt2-hf"
"$loom" kernel-harness "$models/tiny-gpt2" -o "$out/gpt2-bf16" --dtype bf16
"$loom" kernel-harness "$models/tiny-gpt2/model.onnx" -o "$out/gpt2-onnx" --sizes batch=2,sequence=9
"$loom" kernel-harness "$models/tiny-bert" -o "$out/bert-hf"
"$loom" kernel-harness "$models/tiny-bert/model.onnx" -o "$out/bert-onnx"
# Serving-step kernels (paged KV cache): decode-sized steps of 7 tokens and (bf16) of 1
# (split-KV attention, the GEMV variants of 2 to 8 rows and of one, one-token attention
# over a whole short context) and a prefill-sized one (the tensor-core paged attention
# in bf16).
decode=tokens=7,seqs=3,blocks=12,table=4
prefill=tokens=100,seqs=3,blocks=24,table=8
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-step-decode" --entry step --sizes $decode
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-step-prefill" --entry step --sizes $prefill --seed 1
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-step-bf16-decode" --entry step --dtype bf16 --sizes $decode --seed 2
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-step-bf16-decode1" --entry step --dtype bf16 --sizes tokens=1,seqs=1,blocks=12,table=4 --seed 12
# One token over 1384 keys: more than the one-token attention reads whole, so it splits.
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-step-bf16-decode1-long" --entry step --dtype bf16 --sizes tokens=1,seqs=1,blocks=128,table=128 --seed 13
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-step-bf16-prefill" --entry step --dtype bf16 --sizes $prefill --seed 3
"$loom" kernel-harness "$models/tiny-gpt2" -o "$out/gpt2-step" --entry step --sizes $decode --seed 4
# A KV cache of another type than the model's: bf16 under f32 (split-KV attention at
# every step size), f16 under bf16 (the tensor-core prefill needs the query's type).
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-step-kvbf16" --entry step --kv-dtype bf16 --sizes $prefill --seed 6
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-step-bf16-kvf16" --entry step --dtype bf16 --kv-dtype f16 --sizes $prefill --seed 7
# Caches of 8-bit codes with a scale per (slot, KV head): the quantizing writes and the
# attention dequantizing as it reads, int8 under f32 at a decode step and under bf16 at
# a prefill step, FP8 under bf16 at one token (the whole-context path) and under f32
# at a prefill step.
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-step-kvint8" --entry step --kv-dtype int8 --sizes $decode --seed 14
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-step-bf16-kvint8-prefill" --entry step --dtype bf16 --kv-dtype int8 --sizes $prefill --seed 15
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-step-bf16-kvfp8-decode1" --entry step --dtype bf16 --kv-dtype fp8 --sizes tokens=1,seqs=1,blocks=12,table=4 --seed 16
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-step-kvfp8-prefill" --entry step --kv-dtype fp8 --sizes $prefill --seed 17
# Every kernel of the training gradients: the loss and its gradient, attention_grad,
# scatter_add and the backward's matmuls and pointwise kernels.
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-grad" --entry grad --sizes batch=2,seq=8 --seed 18
# The training step: the same, then AdamW's update (the optimizer kernels).
"$loom" kernel-harness "$models/tiny-llama" -o "$out/llama-train-step" --entry train_step --sizes batch=2,seq=8 --seed 19
# Linear layers at a partial row tile (the warpgroup path on sm_90a, with a partial
# k-slice and a bias; the mma.sync tiles; the GEMV variant has its own rows).
"$loom" kernel-harness tests/lit/codegen/cuda-linear.mlir -o "$out/linear" --sizes tokens=150
# Gated pairs in 128x128 tiles (the warpgroup path pairing the halves itself on sm_90a),
# with a bias and with an RMS norm prologue.
"$loom" kernel-harness tests/lit/codegen/cuda-linear-pair.mlir -o "$out/linear-pair" --sizes tokens=150 --seed 12
# The same at a decode step's rows (the matrix-vector variants, one with split rows).
"$loom" kernel-harness tests/lit/codegen/cuda-linear.mlir -o "$out/linear-rows" --sizes tokens=3 --seed 5
# And at one row (batch-1 decode: the one-row phases).
"$loom" kernel-harness tests/lit/codegen/cuda-linear.mlir -o "$out/linear-row1" --sizes tokens=1 --seed 10
# Linear layers with an RMS norm prologue: the norm phase and the tiled kernel, and the
# decode variant normalizing as it reads.
"$loom" kernel-harness tests/lit/codegen/cuda-norm-linear.mlir -o "$out/norm-linear" --sizes tokens=150 --seed 8
"$loom" kernel-harness tests/lit/codegen/cuda-norm-linear.mlir -o "$out/norm-linear-rows" --sizes tokens=3 --seed 9
"$loom" kernel-harness tests/lit/codegen/cuda-norm-linear.mlir -o "$out/norm-linear-row1" --sizes tokens=1 --seed 11
"$loom" kernel-harness tests/lit/codegen/cuda-reductions.mlir -o "$out/reductions" --sizes rows=5
# Linear layers with quantized weights (docs/codegen.md "Quantized linear layers"): the
# lit test's kernels (int4/int8/FP8, zero points, act-order, a bias, f32 activations)
# tiled, at a decode step and at one row; the serving step of each ../shared/quantized
# folder at a decode step and a prefill step (FP8 weight-only); tiny-llama quantized at
# load by --quantize (f32 forward, and bf16 steps).
"$loom" kernel-harness tests/lit/codegen/cuda-quant-linear.mlir -o "$out/quant-linear" --sizes tokens=150 --seed 21
"$loom" kernel-harness tests/lit/codegen/cuda-quant-linear.mlir -o "$out/quant-linear-rows" --sizes tokens=3 --seed 22
"$loom" kernel-harness tests/lit/codegen/cuda-quant-linear.mlir -o "$out/quant-linear-row1" --sizes tokens=1 --seed 23
for f in gptq-4bit-g32 gptq-4bit-g64-actorder gptq-8bit-perchannel awq-4bit-g32 w4a16-ct fp8-channel; do
  "$loom" kernel-harness "../shared/quantized/tiny-llama-$f" -o "$out/quant-$f-decode" --entry step --dtype bf16 --fp8-activations none --sizes $decode --seed 24
  "$loom" kernel-harness "../shared/quantized/tiny-llama-$f" -o "$out/quant-$f-prefill" --entry step --dtype bf16 --fp8-activations none --sizes $prefill --seed 25
done
# The FP8 folder as its config says (W8A8): loom.quantize_rows before its linear layers.
"$loom" kernel-harness ../shared/quantized/tiny-llama-fp8-channel -o "$out/quant-fp8-w8a8-decode" --entry step --dtype bf16 --sizes $decode --seed 29
"$loom" kernel-harness "$models/tiny-llama" -o "$out/quant-llama-int4" --quantize int4:g32 --seed 26
"$loom" kernel-harness "$models/tiny-llama" -o "$out/quant-llama-int8-decode1" --quantize int8 --entry step --dtype bf16 --sizes tokens=1,seqs=1,blocks=12,table=4 --seed 27
"$loom" kernel-harness "$models/tiny-llama" -o "$out/quant-llama-int4asym-prefill" --quantize int4:g32:asym --entry step --dtype bf16 --sizes $prefill --seed 28
# Greedy generation of quantized checkpoints on the serving engine (f32 steps, so the
# tokens must equal generations.json): GPTQ act-order, GPTQ 8-bit, AWQ, compressed-tensors
# W4A16 and FP8 (weight-only), and tiny-llama quantized at load to int4 g32.
for f in gptq-4bit-g64-actorder gptq-8bit-perchannel awq-4bit-g32 w4a16-ct fp8-channel; do
  q=../shared/quantized/tiny-llama-$f
  mkdir -p "carry/models/q-$f"
  cp "$q/model.safetensors" "$q/config.json" "$q/generations.json" "$q/tokenizer.json" \
     "carry/models/q-$f/"
  "$loom" compile "$q" -o "carry/artifacts/q-$f-step" --entry step --fp8-activations none
done
"$loom" compile "$models/tiny-llama" -o carry/artifacts/q-int4-step --entry step --quantize int4:g32
if [ -n "${LOOM_GPU_SUITE_KEEP-}" ]; then
  for dir in carry/harness/* carry/artifacts/* carry/models/*; do
    basename "$dir" | grep -Eq "$LOOM_GPU_SUITE_KEEP" || rm -rf "$dir"
  done
fi
du -sh carry
