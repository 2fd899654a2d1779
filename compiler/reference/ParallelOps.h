//===- ParallelOps.h - The reference executor's collective ops ------*- C++ -*-===//
//
// Internal to the reference executor (it includes MLIR): how Executor.cpp runs the
// collective and point-to-point ops of a rank function.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_REFERENCE_PARALLELOPS_H
#define LOOM_COMPILER_REFERENCE_PARALLELOPS_H

#include "compiler/reference/Parallel.h"

#include "mlir/IR/Operation.h"

namespace loom::reference {

/// Runs a `loom.all_reduce`, `all_gather`, `reduce_scatter`, `broadcast_from`, `send`
/// or `recv` of rank `rank` on `operands` (`result` is left empty for a send).
bool executeCollective(mlir::Operation *op, int64_t rank, Communicator &communicator,
                       const std::vector<const Tensor *> &operands, Tensor &result,
                       std::string &error);

} // namespace loom::reference

#endif // LOOM_COMPILER_REFERENCE_PARALLELOPS_H
