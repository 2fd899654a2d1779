//===- LoomDialect.h - The loom dialect, its attributes and ops ---*- C++ -*-===//
//
// The single header that users of the loom dialect include.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DIALECTS_LOOM_LOOMDIALECT_H
#define LOOM_DIALECTS_LOOM_LOOMDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/TensorEncoding.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "loom/support/Quantization.h"

#include "dialects/loom/LoomDialect.h.inc"
#include "dialects/loom/LoomEnums.h.inc"
#include "dialects/loom/LoomInterfaces.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/loom/LoomAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialects/loom/LoomOps.h.inc"

namespace loom {
/// Checks a weight's `#loom.shard` against the weight (LoomParallelOps.cpp).
mlir::LogicalResult verifyWeightShard(WeightOp op);
} // namespace loom

#endif // LOOM_DIALECTS_LOOM_LOOMDIALECT_H
