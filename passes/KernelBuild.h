//===- KernelBuild.h - Building a loom.kernel in a pass ----------*- C++ -*-===//
//
// Internal to the passes that make or rebuild kernels (loom-fuse, loom-norm-into-linear,
// loom-merge-cache-writes, loom-writes-into-attention): a kernel takes each input once,
// its body a block with an argument per input; two kernels merged into one give way to
// it.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_PASSES_KERNELBUILD_H
#define LOOM_PASSES_KERNELBUILD_H

#include "dialects/loom/LoomDialect.h"

#include "mlir/IR/Builders.h"

namespace loom {

/// The position of `value` in `inputs`, appended when it is not there yet.
inline unsigned inputIndex(llvm::SmallVectorImpl<mlir::Value> &inputs,
                           mlir::Value value) {
  auto *at = llvm::find(inputs, value);
  if (at == inputs.end()) {
    inputs.push_back(value);
    return static_cast<unsigned>(inputs.size() - 1);
  }
  return static_cast<unsigned>(at - inputs.begin());
}

/// A kernel of `kind` over `inputs` at the builder's insertion point, whose body is a
/// block with an argument per input; the builder's insertion point moves into it.
inline KernelOp createKernel(mlir::OpBuilder &builder, mlir::Location loc,
                             mlir::TypeRange results, KernelKind kind,
                             llvm::ArrayRef<mlir::Value> inputs,
                             mlir::DictionaryAttr schedule) {
  auto kernel = KernelOp::create(builder, loc, results, kind, inputs, schedule);
  mlir::Block *body = builder.createBlock(&kernel.getBody());
  for (mlir::Value input : inputs)
    body->addArgument(input.getType(), input.getLoc());
  return kernel;
}

/// Replaces two kernels by `merged`, whose results are `first`'s then `second`'s, and
/// erases them.
inline void replaceByMerged(KernelOp first, KernelOp second, KernelOp merged) {
  unsigned n = first.getNumResults();
  for (auto [i, result] : llvm::enumerate(first.getResults()))
    result.replaceAllUsesWith(merged.getResult(i));
  for (auto [i, result] : llvm::enumerate(second.getResults()))
    result.replaceAllUsesWith(merged.getResult(n + i));
  first.erase();
  second.erase();
}

} // namespace loom

#endif // LOOM_PASSES_KERNELBUILD_H
