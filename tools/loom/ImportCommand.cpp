//===- ImportCommand.cpp - `loom import` --------------------------------------===//

#include "Commands.h"
#include "compiler/Compiler.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace loom::cli {

bool writeAtomically(const std::string &path, const std::string &text,
                     std::string &error) {
  std::string temp = path + ".tmp." + std::to_string(::getpid());
  FILE *file = std::fopen(temp.c_str(), "wb");
  if (!file) {
    error = "cannot create " + temp;
    return false;
  }
  bool ok = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  ok = (std::fclose(file) == 0) && ok;
  if (!ok || std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    error = "cannot write " + path;
    return false;
  }
  return true;
}

int runImport(int argc, char **argv) {
  const char *usage =
      "usage: loom import <model.onnx | hf-folder> [-o out.mlir] "
      "[--dtype f32|bf16|f16] [--rope-frequencies stored|f32]\n"
      "       [--entry forward|step|grad] [--kv-block-size N] [--kv-dtype T]\n"
      "       [--quantize int8|int4[:gN][:asym]|fp8] [--fp8-activations auto|none]\n";
  std::string model, output;
  ImportOptions options;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "-o" || arg == "--output") && i + 1 < argc) {
      output = argv[++i];
    } else if (takeImportOption(argc, argv, i, options)) {
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(usage, stdout);
      return 0;
    } else if (!arg.empty() && arg[0] != '-' && model.empty()) {
      model = arg;
    } else {
      std::fprintf(stderr, "loom import: unexpected argument '%s'\n%s", arg.c_str(),
                   usage);
      return 2;
    }
  }
  if (model.empty()) {
    std::fputs(usage, stderr);
    return 2;
  }
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
  } else if (!writeAtomically(output, result.ir, error)) {
    std::fprintf(stderr, "loom import: %s\n", error.c_str());
    return 1;
  }
  std::fprintf(stderr, "%s: %s\n", model.c_str(), result.summary.c_str());
  return 0;
}

} // namespace loom::cli
