//===- CompileCommand.cpp - `loom compile` and `loom kernel-harness` --------===//
//
// Both optimize a model with the default pipeline. `compile` writes the artifact the
// runtime loads (kernels.cu + manifest.json); `kernel-harness` writes, for every
// distinct kernel, its CUDA, random inputs and the reference executor's outputs, to be
// checked on a GPU with `loom kernel-check`.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"

#include "compiler/Compiler.h"

#include <cstdio>

namespace loom::cli {

/// The model through the default pipeline: the fused IR both commands start from.
static bool loadOptimized(const std::string &model, const ImportOptions &importOptions,
                          const std::string &target, std::string &ir, std::string &error) {
  OptimizeResult optimized;
  OptimizeOptions options;
  options.target = target;
  if (!loadModelIr(model, importOptions, ir, error) ||
      !optimizeModule(ir, options, optimized, error))
    return false;
  ir = std::move(optimized.ir);
  return true;
}

int runKernelHarness(int argc, char **argv) {
  const char *usage =
      "usage: loom kernel-harness <model.onnx | hf-folder | fused.mlir> -o <dir>\n"
      "                           [--dtype f32|bf16|f16] [--target sm_80|sm_90a]\n"
      "                           [--entry forward|step] [--kv-block-size N] [--kv-dtype "
      "T]\n"
      "                           [--sizes name=N,..] [--seed N]\n";
  std::string model, dir, target = "sm_90a", sizes, error;
  ImportOptions importOptions;
  KernelHarnessOptions options;
  OptionParser parser("loom kernel-harness", usage);
  parser.positional("the model", model, true)
      .text("-o|--output", dir)
      .text("--target", target)
      .seed("--seed", options.seed)
      .text("--sizes", sizes)
      .custom(importOptionTaker(importOptions));
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  if (dir.empty())
    return parser.misuse("give the output folder with -o");
  if (!sizes.empty() && !parseSizes(sizes, options.dimSizes, error))
    return parser.misuse("--sizes: " + error);
  if (!mayWriteKernelHarness(dir, error)) {
    std::fprintf(stderr, "loom kernel-harness: %s\n", error.c_str());
    return 1;
  }
  std::string ir, summary;
  if (!loadOptimized(model, importOptions, target, ir, error) ||
      !writeKernelHarness(ir, dir, options, summary, error)) {
    std::fprintf(stderr, "loom kernel-harness: %s\n", error.c_str());
    return 1;
  }
  std::printf("%s: %s\n", dir.c_str(), summary.c_str());
  return 0;
}

int runCompile(int argc, char **argv) {
  const char *usage =
      "usage: loom compile <model.onnx | hf-folder | fused.mlir> -o <artifact-dir>\n"
      "                    [--dtype f32|bf16|f16] [--target sm_80|sm_90a]\n"
      "                    [--max-batch N] [--max-seq N] [--rope-frequencies "
      "stored|f32]\n"
      "                    [--entry forward|step] [--kv-block-size N] [--kv-dtype T]\n"
      "                    [--quantize int8|int4[:gN][:asym]|fp8] [--fp8-activations auto|none]\n";
  std::string model, dir, error;
  ImportOptions importOptions;
  ArtifactOptions options;
  int64_t maxBatch = 0, maxSeq = 0;
  OptionParser parser("loom compile", usage);
  parser.positional("the model", model, true)
      .text("-o|--output", dir)
      .text("--target", options.target)
      .integer("--max-batch", maxBatch, 1, int64_t(1) << 31)
      .integer("--max-seq", maxSeq, 1, int64_t(1) << 31)
      .custom(importOptionTaker(importOptions));
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  if (dir.empty())
    return parser.misuse("give the artifact folder with -o");
  if (maxBatch)
    options.bounds["batch"] = maxBatch;
  if (maxSeq)
    options.bounds["seq"] = maxSeq;
  if (options.target != "sm_80" && options.target != "sm_86" &&
      options.target != "sm_89" && options.target != "sm_90" &&
      options.target != "sm_90a") {
    return parser.misuse("unsupported --target " + options.target +
                         " (sm_80, sm_86, sm_89, sm_90, sm_90a)");
  }
  if (!mayWriteArtifact(dir, error)) {
    std::fprintf(stderr, "loom compile: %s\n", error.c_str());
    return 1;
  }
  std::string ir, summary;
  if (!loadOptimized(model, importOptions, options.target, ir, error) ||
      !writeArtifact(ir, dir, options, summary, error)) {
    std::fprintf(stderr, "loom compile: %s\n", error.c_str());
    return 1;
  }
  std::printf("%s: %s\n", dir.c_str(), summary.c_str());
  return 0;
}

} // namespace loom::cli
