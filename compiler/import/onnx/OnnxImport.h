//===- OnnxImport.h - ONNX models into loom IR --------------------*- C++ -*-===//

#ifndef LOOM_COMPILER_IMPORT_ONNX_ONNXIMPORT_H
#define LOOM_COMPILER_IMPORT_ONNX_ONNXIMPORT_H

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace loom {

/// Builds `@forward` for the ONNX model at `path` into `module`; float tensors compute
/// in `floatType`. Opsets 13 to 24 of the default domain. On failure returns false with
/// every problem (all unsupported operators at once) in `errors`.
bool importOnnxFile(const std::string &path, mlir::ModuleOp module, mlir::Type floatType,
                    std::vector<std::string> &errors, std::vector<std::string> &warnings);

} // namespace loom

#endif // LOOM_COMPILER_IMPORT_ONNX_ONNXIMPORT_H
