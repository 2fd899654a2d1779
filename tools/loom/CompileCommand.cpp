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
#include <cstdlib>

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
  std::string model, dir, target = "sm_90a";
  ImportOptions importOptions;
  KernelHarnessOptions options;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    bool hasValue = i + 1 < argc;
    if (arg == "-o" && hasValue) {
      dir = argv[++i];
    } else if (takeImportOption(argc, argv, i, importOptions)) {
    } else if (arg == "--target" && hasValue) {
      target = argv[++i];
    } else if (arg == "--seed" && hasValue) {
      options.seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--sizes" && hasValue) {
      if (!parseSizes(argv[++i], options.dimSizes)) {
        std::fprintf(stderr,
                     "loom kernel-harness: --sizes wants name=N,name=N (N > 0)\n");
        return 2;
      }
    } else if (!arg.empty() && arg[0] != '-' && model.empty()) {
      model = arg;
    } else {
      std::fprintf(stderr, "loom kernel-harness: unexpected argument '%s'\n%s",
                   arg.c_str(), usage);
      return 2;
    }
  }
  if (model.empty() || dir.empty()) {
    std::fputs(usage, stderr);
    return 2;
  }
  std::string ir, error, summary;
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
  std::string model, dir;
  ImportOptions importOptions;
  ArtifactOptions options;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    bool hasValue = i + 1 < argc;
    if (arg == "-o" && hasValue) {
      dir = argv[++i];
    } else if (takeImportOption(argc, argv, i, importOptions)) {
    } else if (arg == "--target" && hasValue) {
      options.target = argv[++i];
    } else if ((arg == "--max-batch" || arg == "--max-seq") && hasValue) {
      long long bound = std::atoll(argv[++i]);
      if (bound <= 0) {
        std::fprintf(stderr, "loom compile: %s wants a positive number\n", arg.c_str());
        return 2;
      }
      options.bounds[arg == "--max-batch" ? "batch" : "seq"] = bound;
    } else if (!arg.empty() && arg[0] != '-' && model.empty()) {
      model = arg;
    } else {
      std::fprintf(stderr, "loom compile: unexpected argument '%s'\n%s", arg.c_str(),
                   usage);
      return 2;
    }
  }
  if (model.empty() || dir.empty()) {
    std::fputs(usage, stderr);
    return 2;
  }
  if (options.target != "sm_80" && options.target != "sm_86" &&
      options.target != "sm_89" && options.target != "sm_90" &&
      options.target != "sm_90a") {
    std::fprintf(stderr,
                 "loom compile: unsupported --target %s (sm_80, sm_86, sm_89, sm_90, "
                 "sm_90a)\n",
                 options.target.c_str());
    return 2;
  }
  std::string ir, error, summary;
  if (!loadOptimized(model, importOptions, options.target, ir, error) ||
      !writeArtifact(ir, dir, options, summary, error)) {
    std::fprintf(stderr, "loom compile: %s\n", error.c_str());
    return 1;
  }
  std::printf("%s: %s\n", dir.c_str(), summary.c_str());
  return 0;
}

} // namespace loom::cli
