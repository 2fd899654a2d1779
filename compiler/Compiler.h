//===- Compiler.h - The compiler's entry points, without MLIR types -*- C++ -*-===//
//
// What tools and embedding programs call. The header needs no MLIR: the compiler's
// internals stay behind it.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_COMPILER_H
#define LOOM_COMPILER_COMPILER_H

#include "loom/support/Lora.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace loom {

struct ImportOptions {
  /// Element type the graph computes in: "f32", "bf16" or "f16".
  std::string dtype = "f32";
  /// RoPE inverse frequencies of a Hugging Face model: "stored" rounds them to the
  /// config's dtype (as a model whose buffers were cast with `.to(dtype)` has them);
  /// "f32" keeps them float32 (as `from_pretrained(torch_dtype=...)` computes them).
  std::string ropeFrequencies = "stored";
  /// The function to build from a Hugging Face decoder: "forward" (token ids to
  /// logits) or "step" (one serving step over a paged KV cache; Llama-like models):
  /// `step(tokens, positions, slots, block_tables, context_lens, query_starts,
  /// last_tokens, k_cache_0, v_cache_0, ...)` -> (logits [seqs, vocab], the updated
  /// caches), caches `[blocks, kvBlockSize, kv_heads, head_dim]`; or "grad" (the
  /// training gradients of a Llama-like model): `grad(input_ids, attention_mask,
  /// labels)` -> (`loss`, then `grad.<name>` for every weight, in checkpoint order of
  /// first use), the causal-LM cross-entropy as transformers computes it (labels
  /// shifted by one, -100 ignored, the mean over the counted positions of the batch;
  /// query i attends key j iff j <= i and attention_mask[b, j] == 1), differentiated by
  /// loom-autodiff (docs/training.md).
  std::string entry = "forward";
  int64_t kvBlockSize = 16;
  /// Element type of a step's KV cache ("f32", "bf16", "f16"); empty: `dtype`'s.
  std::string kvDtype;
  /// A checkpoint whose quantized layers declare dynamic FP8 input activations runs
  /// them so ("auto", W8A8) or with unquantized activations ("none", weight-only).
  std::string fp8Activations = "auto";
  /// Quantizes the float weights of linear layers at load (`loom-quantize-weights`):
  /// "" (off), "int8", "int4" (groups of 128, symmetric), "int4:g<size>",
  /// "int4:g<size>:asym", "fp8"; with ":lm_head" the LM head too.
  std::string quantize;
  /// A LoRA adapter on the linear layers it targets (PEFT's LoraConfig; `r` 0: none):
  /// y = linear(x, W) + scaling * linear(linear(x, A), B), A and B weights under PEFT's
  /// names (loraTensorName). In a "grad" entry only the adapter is differentiated.
  LoraConfig lora;
  /// The loss of a "grad" entry: "cross-entropy" (the causal-LM loss against `labels`),
  /// "distill" (knowledge distillation: the KL divergence from given teacher logits at
  /// temperature `temperature`, over the positions of `position_mask`) or "dpo" (DPO's
  /// sigmoid loss with `beta`, against given reference log-probabilities).
  std::string loss = "cross-entropy";
  /// Activation checkpointing of a "grad" entry (loom-checkpoint-activations): "none",
  /// or "layers" (the backward recomputes each layer from its input).
  std::string checkpoint = "none";
  /// Pipeline stages to split the entry into (loom-partition-pipeline; 1: none). It
  /// runs on the imported module, where the layers' locations are still known.
  int64_t pipelineStages = 1;
  /// The optimizer of a "train_step" entry (loom-append-adamw): torch.optim.AdamW's
  /// defaults.
  struct AdamW {
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01;
  } adamw;
  double temperature = 2.0;
  double beta = 0.1;
};

struct ImportResult {
  /// The module as loom IR text.
  std::string ir;
  /// One line: ops by type, weights and their size, dynamic dimensions.
  std::string summary;
  /// Things worth knowing that did not stop the import (ignored config keys, ...).
  std::vector<std::string> warnings;
};

/// Imports a Hugging Face folder (config.json + safetensors) or an ONNX file into
/// verified loom IR. On failure returns false; `error` lists every problem found.
bool importModel(const std::string &path, const ImportOptions &options, ImportResult &result,
                 std::string &error);

struct OptimizeOptions {
  /// A pass pipeline in MLIR's textual form ("loom-canonicalize,cse"); empty runs the
  /// default pipeline.
  std::string pipeline;
  /// The GPU the default pipeline's loom-choose-tiles chooses schedules for.
  std::string target = "sm_90a";
  /// Runs the reference executor on the same random inputs before the first pass and
  /// after every pass, and fails at the first pass whose outputs differ by more than
  /// `tolerance` (largest difference relative to the largest expected magnitude).
  bool verifyEachPass = false;
  double tolerance = 1e-4;
  /// Sizes of the named input dimensions for the random inputs (default: 2 for names
  /// containing "batch", 6 otherwise).
  std::map<std::string, int64_t> dimSizes;
  uint64_t seed = 0;
  /// Where the IR's weights are (a model file or folder); needed by verifyEachPass when
  /// the IR has weights.
  std::string weights;
};

struct PassRecord {
  std::string name;
  /// Ops after the pass, as in ImportResult::summary.
  std::string summary;
  /// Relative error against the unoptimized outputs (with verifyEachPass), else -1.
  double relativeError = -1;
};

struct OptimizeResult {
  std::string ir;
  std::string summary;
  std::vector<PassRecord> passes;
};

/// Runs a pass pipeline over loom IR text. On failure (a pass fails, or with
/// verifyEachPass a pass changes the outputs) returns false and says which pass and why;
/// `result.passes` then holds the passes run so far.
bool optimizeModule(const std::string &ir, const OptimizeOptions &options,
                    OptimizeResult &result, std::string &error);

struct ArtifactOptions {
  /// The GPU architecture the artifact is meant for ("sm_90a"); the runtime compiles
  /// the kernels for the device it runs on.
  std::string target = "sm_90a";
  /// Upper bounds of named dimensions (--max-batch, --max-seq), recorded in the manifest.
  std::map<std::string, int64_t> bounds;
};

/// Writes the artifact of a fused module (the default pipeline's output) into folder
/// `dir`: `kernels.cu` and `manifest.json` (format in docs/artifact.md). The folder
/// appears whole or not at all, and replaces only an earlier artifact (never a folder
/// holding anything else). `summary` says what it holds.
bool writeArtifact(const std::string &ir, const std::string &dir, const ArtifactOptions &options,
                   std::string &summary, std::string &error);
/// Whether writeArtifact() may write `dir`: it is absent, empty or an earlier artifact.
bool mayWriteArtifact(const std::string &dir, std::string &error);

struct KernelHarnessOptions {
  /// Sizes of the named dimensions (default: 2 for names containing "batch", 7 else).
  std::map<std::string, int64_t> dimSizes;
  uint64_t seed = 0;
};

/// For a fused module (the default pipeline's output), writes into folder `dir`:
/// `kernels.cu` (the CUDA of every distinct kernel), `tensors.safetensors` (random
/// inputs of each kernel and the reference executor's outputs for them) and
/// `harness.json` (per kernel: name, threads, grid, dimension sizes, its tensors), so
/// that `loom kernel-check` can run each kernel on a GPU and compare. `summary` says
/// how many kernels were written.
bool writeKernelHarness(const std::string &ir, const std::string &dir,
                        const KernelHarnessOptions &options, std::string &summary,
                        std::string &error);
/// Whether writeKernelHarness() may write `dir` (absent, empty or an earlier harness).
bool mayWriteKernelHarness(const std::string &dir, std::string &error);

} // namespace loom

#endif // LOOM_COMPILER_COMPILER_H
