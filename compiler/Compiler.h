//===- Compiler.h - The compiler's entry points, without MLIR types -*- C++ -*-===//
//
// What tools and embedding programs call. The header needs no MLIR: the compiler's
// internals stay behind it.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_COMPILER_H
#define LOOM_COMPILER_COMPILER_H

#include <string>
#include <vector>

namespace loom {

struct ImportOptions {
  /// Element type the graph computes in: "f32", "bf16" or "f16".
  std::string dtype = "f32";
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

} // namespace loom

#endif // LOOM_COMPILER_COMPILER_H
