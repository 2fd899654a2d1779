//===- ElementTypes.h - MLIR element types as reference types -----*- C++ -*-===//
//
// Internal to the compiler (it has MLIR types, unlike Reference.h).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_REFERENCE_ELEMENTTYPES_H
#define LOOM_COMPILER_REFERENCE_ELEMENTTYPES_H

#include "compiler/reference/Tensor.h"

#include "mlir/IR/Types.h"

namespace loom::reference {

/// The reference element type of an MLIR element type; false for a type loom lacks.
bool elementTypeOf(mlir::Type type, ElementType &out);

} // namespace loom::reference

#endif // LOOM_COMPILER_REFERENCE_ELEMENTTYPES_H
