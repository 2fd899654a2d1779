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
#include <fstream>
#include <sstream>
#include <string>

namespace loom::cli {

static bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool parseSizes(const std::string &text, std::map<std::string, int64_t> &sizes) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      return false;
    char *end = nullptr;
    long long value = std::strtoll(item.c_str() + eq + 1, &end, 10);
    if (*end != '\0' || value <= 0)
      return false;
    sizes[item.substr(0, eq)] = value;
  }
  return true;
}

bool takeImportOption(int argc, char **argv, int &i, ImportOptions &options) {
  std::string arg = argv[i];
  if (i + 1 >= argc)
    return false;
  if (arg == "--dtype")
    options.dtype = argv[++i];
  else if (arg == "--rope-frequencies")
    options.ropeFrequencies = argv[++i];
  else if (arg == "--entry")
    options.entry = argv[++i];
  else if (arg == "--kv-block-size")
    options.kvBlockSize = std::atoll(argv[++i]);
  else if (arg == "--kv-dtype")
    options.kvDtype = argv[++i];
  else if (arg == "--quantize")
    options.quantize = argv[++i];
  else if (arg == "--fp8-activations")
    options.fp8Activations = argv[++i];
  else if (arg == "--loss") {
    // cross-entropy, distill[:<temperature>] or dpo[:<beta>]
    std::string loss = argv[++i];
    size_t colon = loss.find(':');
    options.loss = loss.substr(0, colon);
    if (colon != std::string::npos) {
      char *end = nullptr;
      std::string text = loss.substr(colon + 1);
      double value = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || options.loss == "cross-entropy")
        value = -1; // refused by the importer, naming the parameter
      (options.loss == "dpo" ? options.beta : options.temperature) = value;
    }
  } else
    return false;
  return true;
}

bool loadModelIr(const std::string &model, const ImportOptions &importOptions,
                 std::string &ir, std::string &error) {
  if (endsWith(model, ".mlir")) {
    std::ifstream in(model);
    if (!in) {
      error = "cannot read " + model;
      return false;
    }
    ir.assign(std::istreambuf_iterator<char>(in), {});
    return true;
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
  std::string model, output;
  ImportOptions importOptions;
  OptimizeOptions options;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    bool hasValue = i + 1 < argc;
    if (arg == "-h" || arg == "--help") {
      std::fputs(usage, stdout);
      return 0;
    } else if (arg == "-o" && hasValue) {
      output = argv[++i];
    } else if (arg == "--pipeline" && hasValue) {
      options.pipeline = argv[++i];
    } else if (takeImportOption(argc, argv, i, importOptions)) {
    } else if (arg == "--weights" && hasValue) {
      options.weights = argv[++i];
    } else if (arg == "--verify-each-pass") {
      options.verifyEachPass = true;
    } else if (arg == "--tolerance" && hasValue) {
      options.tolerance = std::atof(argv[++i]);
    } else if (arg == "--seed" && hasValue) {
      options.seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--sizes" && hasValue) {
      if (!parseSizes(argv[++i], options.dimSizes)) {
        std::fprintf(stderr, "loom optimize: --sizes wants name=N,name=N (N > 0)\n");
        return 2;
      }
    } else if (!arg.empty() && arg[0] != '-' && model.empty()) {
      model = arg;
    } else {
      std::fprintf(stderr, "loom optimize: unexpected argument '%s'\n\n%s", arg.c_str(),
                   usage);
      return 2;
    }
  }
  if (model.empty()) {
    std::fputs(usage, stderr);
    return 2;
  }

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
  if (!writeAtomically(output, result.ir, error)) {
    std::fprintf(stderr, "loom optimize: %s\n", error.c_str());
    return 1;
  }
  return 0;
}

} // namespace loom::cli
