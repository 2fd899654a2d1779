//===- OptimizeCommand.cpp - `loom optimize` -------------------------------===//
//
// Imports a model (or reads loom IR) and runs the default pipeline or a given one,
// printing the optimized IR; --verify-each-pass checks numerics after every pass on
// the reference executor.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"

#include "compiler/Compiler.h"

#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>

namespace loom::cli {

static bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool parseSizes(const std::string &text, std::map<std::string, int64_t> &sizes,
                std::string &error) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      error = "'" + item + "' is not name=N";
      return false;
    }
    int64_t value = 0;
    if (!parseInteger(item.substr(eq + 1), 1, int64_t(1) << 40, value, error))
      return false;
    sizes[item.substr(0, eq)] = value;
  }
  return true;
}

int takeImportOption(int argc, char **argv, int &i, ImportOptions &options,
                     std::string &error) {
  std::string arg = argv[i];
  std::string *text = arg == "--dtype"              ? &options.dtype
                      : arg == "--rope-frequencies" ? &options.ropeFrequencies
                      : arg == "--entry"            ? &options.entry
                      : arg == "--kv-dtype"         ? &options.kvDtype
                      : arg == "--quantize"         ? &options.quantize
                      : arg == "--fp8-activations"  ? &options.fp8Activations
                      : arg == "--checkpoint"       ? &options.checkpoint
                                                    : nullptr;
  bool loss = arg == "--loss";
  if (!text && !loss && arg != "--kv-block-size")
    return 0;
  if (i + 1 >= argc) {
    error = "needs a value";
    return -1;
  }
  std::string value = argv[++i];
  if (text) {
    *text = value;
    return 1;
  }
  if (loss) {
    // cross-entropy, distill[:<temperature>] or dpo[:<beta>]
    size_t colon = value.find(':');
    options.loss = value.substr(0, colon);
    if (colon == std::string::npos)
      return 1;
    if (options.loss != "distill" && options.loss != "dpo") {
      error = "takes a parameter only for distill (the temperature) and dpo (beta)";
      return -1;
    }
    double parameter = 0;
    if (!parseNumber(value.substr(colon + 1), 1e-6, 1e6, parameter, error))
      return -1;
    (options.loss == "dpo" ? options.beta : options.temperature) = parameter;
    return 1;
  }
  int64_t blockSize = 0;
  if (!parseInteger(value, 1, 1 << 20, blockSize, error))
    return -1;
  options.kvBlockSize = blockSize;
  return 1;
}

OptionParser::Taker importOptionTaker(ImportOptions &options) {
  return [&options](int argc, char **argv, int &i, std::string &error) {
    return takeImportOption(argc, argv, i, options, error);
  };
}

bool loadModelIr(const std::string &model, const ImportOptions &importOptions,
                 std::string &ir, std::string &error) {
  if (endsWith(model, ".mlir")) {
    return readTextFile(model, ir, error, kSourceFileLimit);
  }
  ImportResult imported;
  if (!importModel(model, importOptions, imported, error))
    return false;
  ir = imported.ir;
  std::fprintf(stderr, "imported:  %s\n", imported.summary.c_str());
  return true;
}

int runOptimize(int argc, char **argv) {
  const char *usage =
      "usage: loom optimize <model.onnx | hf-folder | model.mlir> [-o out.mlir]\n"
      "                     [--pipeline PASSES] [--dtype f32|bf16|f16] [--weights path]\n"
      "                     [--entry forward|step] [--kv-block-size N] [--kv-dtype T]\n"
      "                     [--verify-each-pass [--tolerance 1e-4] [--sizes "
      "batch=2,seq=6]\n"
      "                      [--seed N]]\n"
      "Runs the default pass pipeline (or PASSES, e.g. \"loom-canonicalize,cse\") and\n"
      "prints the IR. --verify-each-pass runs the reference executor on random inputs\n"
      "before and after every pass and stops at the first pass that changes the "
      "outputs.\n";
  std::string model, output, sizes;
  ImportOptions importOptions;
  OptimizeOptions options;
  OptionParser parser("loom optimize", usage);
  parser.positional("the model", model, true)
      .text("-o|--output", output)
      .text("--pipeline", options.pipeline)
      .text("--weights", options.weights)
      .flag("--verify-each-pass", options.verifyEachPass)
      .number("--tolerance", options.tolerance, 0, 1e30)
      .seed("--seed", options.seed)
      .text("--sizes", sizes)
      .custom(importOptionTaker(importOptions));
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  std::string why;
  if (!sizes.empty() && !parseSizes(sizes, options.dimSizes, why))
    return parser.misuse("--sizes: " + why);

  std::string ir, error;
  if (!loadModelIr(model, importOptions, ir, error)) {
    std::fprintf(stderr, "loom optimize: %s\n", error.c_str());
    return 1;
  }
  if (options.weights.empty() && !endsWith(model, ".mlir"))
    options.weights = model;

  OptimizeResult result;
  bool ok = optimizeModule(ir, options, result, error);
  for (const PassRecord &pass : result.passes) {
    std::fprintf(stderr, "%-28s %s", pass.name.c_str(), pass.summary.c_str());
    if (pass.relativeError >= 0)
      std::fprintf(stderr, "; max relative error %.2e", pass.relativeError);
    std::fprintf(stderr, "\n");
  }
  if (!ok) {
    std::fprintf(stderr, "loom optimize: %s\n", error.c_str());
    return 1;
  }
  if (output.empty()) {
    std::fputs(result.ir.c_str(), stdout);
    return 0;
  }
  if (!writeFileAtomically(output, result.ir, error)) {
    std::fprintf(stderr, "loom optimize: %s\n", error.c_str());
    return 1;
  }
  return 0;
}

} // namespace loom::cli
