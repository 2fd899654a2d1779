//===- MergeCacheWrites.cpp - Cache writes of one step become one kernel ---===//
//
//   kc' = kernel scatter(kc, k, slots) { cache_write }
//   vc' = kernel scatter(vc, v, slots) { cache_write }
//     -> kc', vc' = kernel scatter(kc, k, slots, vc, v) { cache_write; cache_write }
//
// A layer's key and value cache writes store rows at the same slots and do not depend
// on each other. Each is a few kilobytes at a decode step, so their kernels are all
// launch and memory latency: one kernel doing both saves a launch and a dependent
// round trip per layer. Kernels merge when they write at the same slots and the later
// one reads nothing the earlier one precedes, so the merged kernel can take the
// earlier one's place.
//
//===----------------------------------------------------------------------===//

#include "passes/KernelBuild.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-merge-cache-writes"

namespace loom {
#define GEN_PASS_DEF_LOOMMERGECACHEWRITES
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// The kernel operand a scatter kernel's cache writes take their slots from; null when
/// the kernel is not a scatter or its writes disagree.
Value slotsOf(KernelOp kernel) {
  if (kernel.getKind() != KernelKind::Scatter)
    return {};
  Value slots;
  for (Operation &op : kernel.getBody().front().without_terminator()) {
    auto write = llvm::dyn_cast<CacheWriteOp>(op);
    if (!write)
      continue;
    auto arg = llvm::dyn_cast<BlockArgument>(write.getSlots());
    if (!arg)
      return {};
    Value operand = kernel.getInputs()[arg.getArgNumber()];
    if (slots && slots != operand)
      return {};
    slots = operand;
  }
  return slots;
}

/// Whether `value` is available where `at` is (a function argument, or the result of
/// an op before `at` in its block).
bool availableAt(Value value, Operation *at) {
  Operation *def = value.getDefiningOp();
  return !def || (def->getBlock() == at->getBlock() && def->isBeforeInBlock(at));
}

/// One scatter kernel in `first`'s place doing the work of `first` and then `second`;
/// the results of both are replaced by its results.
KernelOp merge(KernelOp first, KernelOp second) {
  SmallVector<Value> inputs(first.getInputs());
  SmallVector<unsigned> secondArgs;
  for (Value input : second.getInputs())
    secondArgs.push_back(inputIndex(inputs, input));
  SmallVector<Type> resultTypes(first.getResultTypes());
  llvm::append_range(resultTypes, second.getResultTypes());
  OpBuilder builder(first);
  KernelOp merged = createKernel(builder, first.getLoc(), resultTypes,
                                 KernelKind::Scatter, inputs, first.getScheduleAttr());
  Block *body = &merged.getBody().front();
  SmallVector<Value> yielded;
  auto cloneBody = [&](KernelOp from, auto argFor) {
    IRMapping mapping;
    for (BlockArgument arg : from.getBody().getArguments())
      mapping.map(arg, body->getArgument(argFor(arg.getArgNumber())));
    for (Operation &op : from.getBody().front().without_terminator())
      builder.clone(op, mapping);
    for (Value v : from.getBody().front().getTerminator()->getOperands())
      yielded.push_back(mapping.lookup(v));
  };
  cloneBody(first, [](unsigned i) { return i; });
  cloneBody(second, [&](unsigned i) { return secondArgs[i]; });
  YieldOp::create(builder, first.getLoc(), yielded);
  replaceByMerged(first, second, merged);
  return merged;
}

struct LoomMergeCacheWritesPass
    : loom::impl::LoomMergeCacheWritesBase<LoomMergeCacheWritesPass> {
  void runOnOperation() override {
    getOperation()->walk([&](func::FuncOp func) {
      if (func.isExternal())
        return;
      SmallVector<KernelOp> scatters;
      func.walk([&](KernelOp kernel) {
        if (slotsOf(kernel))
          scatters.push_back(kernel);
      });
      // Each kernel absorbs the later ones at its slots that can move to its place.
      for (size_t i = 0; i < scatters.size(); ++i) {
        if (!scatters[i])
          continue;
        for (size_t j = i + 1; j < scatters.size(); ++j) {
          KernelOp first = scatters[i], second = scatters[j];
          if (!second || slotsOf(second) != slotsOf(first) ||
              !llvm::all_of(second.getInputs(),
                            [&](Value v) { return availableAt(v, first); }))
            continue;
          scatters[i] = merge(first, second);
          scatters[j] = nullptr;
          ++numMerged;
          LLVM_DEBUG(llvm::dbgs()
                     << DEBUG_TYPE ": numMerged " << numMerged.getValue() << "\n");
        }
      }
    });
  }
};

} // namespace
