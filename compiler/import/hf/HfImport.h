//===- HfImport.h - Hugging Face folders into loom IR -------------*- C++ -*-===//

#ifndef LOOM_COMPILER_IMPORT_HF_HFIMPORT_H
#define LOOM_COMPILER_IMPORT_HF_HFIMPORT_H

#include "compiler/Compiler.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace loom {

/// Builds `@forward` for the model in `folder` (config.json + safetensors) into
/// `module`, computing in `floatType`. Weights are bound by name and checked against
/// the checkpoint (present, floating point, expected shape). On failure returns false
/// with every problem in `errors`.
/// Imports the model of a Hugging Face folder as the function `forward`, or `step`
/// (ImportOptions::entry, its KV cache of `cacheType`), with the options' RoPE
/// frequencies and KV block size.
bool importHfFolder(const std::string &folder, mlir::ModuleOp module,
                    mlir::Type floatType, mlir::Type cacheType,
                    const ImportOptions &options, std::vector<std::string> &errors,
                    std::vector<std::string> &warnings);

} // namespace loom

#endif // LOOM_COMPILER_IMPORT_HF_HFIMPORT_H
