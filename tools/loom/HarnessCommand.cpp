//===- HarnessCommand.cpp - `loom kernel-harness` ---------------------------===//
//
// Optimizes a model with the default pipeline and writes, for every distinct kernel,
// its CUDA, random inputs and the reference executor's outputs (see writeKernelHarness),
// to be checked on a GPU with `loom kernel-check`.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"

#include "compiler/Compiler.h"

#include <cstdio>
#include <cstdlib>

namespace loom::cli {

int runKernelHarness(int argc, char **argv) {
  const char *usage =
      "usage: loom kernel-harness <model.onnx | hf-folder | fused.mlir> -o <dir>\n"
      "                           [--dtype f32|bf16|f16] [--sizes name=N,..] [--seed "
      "N]\n";
  std::string model, dir, dtype = "f32";
  KernelHarnessOptions options;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    bool hasValue = i + 1 < argc;
    if (arg == "-o" && hasValue) {
      dir = argv[++i];
    } else if (arg == "--dtype" && hasValue) {
      dtype = argv[++i];
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
  if (!loadModelIr(model, dtype, ir, error)) {
    std::fprintf(stderr, "loom kernel-harness: %s\n", error.c_str());
    return 1;
  }
  OptimizeResult optimized;
  if (!optimizeModule(ir, OptimizeOptions(), optimized, error) ||
      !writeKernelHarness(optimized.ir, dir, options, summary, error)) {
    std::fprintf(stderr, "loom kernel-harness: %s\n", error.c_str());
    return 1;
  }
  std::printf("%s: %s\n", dir.c_str(), summary.c_str());
  return 0;
}

} // namespace loom::cli
