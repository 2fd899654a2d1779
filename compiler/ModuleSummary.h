//===- ModuleSummary.h - One-line description of a loom module ----*- C++ -*-===//
//
// Internal to the compiler library (it has MLIR types, unlike Compiler.h).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_MODULESUMMARY_H
#define LOOM_COMPILER_MODULESUMMARY_H

#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace loom {

/// "ops: 12 matmul, 4 rms_norm, ...; 29 weights, 28.1 MiB; dynamic dims: batch, seq".
std::string summarizeModule(mlir::ModuleOp module);

} // namespace loom

#endif // LOOM_COMPILER_MODULESUMMARY_H
