//===- ImportCommand.cpp - `loom import` --------------------------------------===//

#include "Commands.h"
#include "compiler/Compiler.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace loom::cli {

int runImport(int argc, char **argv) {
  const char *usage =
      "usage: loom import <model.onnx | hf-folder> [-o out.mlir] "
      "[--dtype f32|bf16|f16] [--rope-frequencies stored|f32]\n"
      "       [--entry forward|step|grad] [--kv-block-size N] [--kv-dtype T]\n"
      "       [--quantize int8|int4[:gN][:asym]|fp8] [--fp8-activations auto|none]\n";
  std::string model, output;
  ImportOptions options;
  OptionParser parser("loom import", usage);
  parser.positional("the model", model, true)
      .text("-o|--output", output)
      .custom(importOptionTaker(options));
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  ImportResult result;
  std::string error;
  if (!importModel(model, options, result, error)) {
    std::fprintf(stderr, "loom import: %s\n", error.c_str());
    return 1;
  }
  for (const std::string &warning : result.warnings)
    std::fprintf(stderr, "loom import: warning: %s\n", warning.c_str());
  if (output.empty() || output == "-") {
    std::fputs(result.ir.c_str(), stdout);
  } else if (!writeFileAtomically(output, result.ir, error)) {
    std::fprintf(stderr, "loom import: %s\n", error.c_str());
    return 1;
  }
  std::fprintf(stderr, "%s: %s\n", model.c_str(), result.summary.c_str());
  return 0;
}

} // namespace loom::cli
