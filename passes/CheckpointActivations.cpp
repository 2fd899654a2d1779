//===- CheckpointActivations.cpp - The backward recomputes layers ----------===//
//
// Activation checkpointing on a differentiated function (see Passes.td): each layer's
// forward ops that the backward reads are cloned before the backward's first use of
// them, reading the layer's inputs through loom.recompute, so the forward's
// activations need not live until the backward.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-checkpoint-activations"

namespace loom {
#define GEN_PASS_DEF_LOOMCHECKPOINTACTIVATIONS
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// The segment an op's location names ("model.layers.3"), or an empty string.
StringRef segmentOf(Operation *op) {
  Location loc = op->getLoc();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location part : fused.getLocations())
      if (auto named = dyn_cast<NameLoc>(part))
        return named.getName().getValue();
  if (auto named = dyn_cast<NameLoc>(loc))
    return named.getName().getValue();
  return {};
}

/// The forward: every op the function's first result depends on.
llvm::DenseSet<Operation *> forwardOps(func::ReturnOp ret) {
  llvm::DenseSet<Operation *> forward;
  SmallVector<Value> work = {ret.getOperand(0)};
  while (!work.empty()) {
    Operation *op = work.pop_back_val().getDefiningOp();
    if (!op || !forward.insert(op).second)
      continue;
    llvm::append_range(work, op->getOperands());
  }
  return forward;
}

/// Whether recomputing `op` would only duplicate a reference (weights, constants).
bool keptAsIs(Operation *op) { return isa<WeightOp, ConstantOp>(op); }

class CheckpointActivations
    : public loom::impl::LoomCheckpointActivationsBase<CheckpointActivations> {
public:
  using LoomCheckpointActivationsBase::LoomCheckpointActivationsBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (policy == "none")
      return;
    if (policy != "layers") {
      func.emitError() << "unknown checkpoint policy '" << policy << "' (use layers or none)";
      return signalPassFailure();
    }
    if (func.getBody().empty() || func.getNumResults() < 2)
      return; // no gradient: nothing reads the forward's activations later
    Block &body = func.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    llvm::DenseSet<Operation *> forward = forwardOps(ret);

    // The forward's ops by segment, in program order.
    llvm::MapVector<StringRef, SmallVector<Operation *>> segments;
    for (Operation &op : body.without_terminator())
      if (forward.contains(&op) && !keptAsIs(&op))
        if (StringRef name = segmentOf(&op); !name.empty())
          segments[name].push_back(&op);

    for (auto &[name, ops] : segments) {
      llvm::DenseSet<Operation *> inSegment(ops.begin(), ops.end());
      // The segment's values the backward reads, and the first backward reader.
      llvm::SetVector<Value> read;
      Operation *firstReader = nullptr;
      for (Operation *op : ops)
        for (Value result : op->getResults())
          for (Operation *user : result.getUsers()) {
            if (forward.contains(user) || isa<func::ReturnOp>(user))
              continue;
            read.insert(result);
            if (!firstReader || user->isBeforeInBlock(firstReader))
              firstReader = user;
          }
      if (read.empty())
        continue;
      // The segment's ops those values need.
      llvm::DenseSet<Operation *> needed;
      SmallVector<Value> work(read.begin(), read.end());
      while (!work.empty()) {
        Operation *op = work.pop_back_val().getDefiningOp();
        if (!op || !inSegment.contains(op) || !needed.insert(op).second)
          continue;
        llvm::append_range(work, op->getOperands());
      }
      // Clone them before the first reader; what they read from outside the segment
      // (but weights and constants) comes through one loom.recompute each.
      OpBuilder builder(firstReader);
      IRMapping mapping;
      for (Operation *op : ops) {
        if (!needed.contains(op))
          continue;
        for (Value operand : op->getOperands()) {
          Operation *def = operand.getDefiningOp();
          if (mapping.contains(operand) || (def && (inSegment.contains(def) || keptAsIs(def))))
            continue;
          mapping.map(operand, RecomputeOp::create(builder, op->getLoc(), operand.getType(),
                                                   operand)
                                   .getResult());
        }
        builder.clone(*op, mapping);
      }
      // The backward reads the clones.
      for (Value value : read) {
        Value clone = mapping.lookup(value);
        value.replaceUsesWithIf(clone, [&](OpOperand &use) {
          Operation *user = use.getOwner();
          return !forward.contains(user) && !isa<func::ReturnOp>(user) &&
                 user->getBlock() == &body && !needed.contains(user);
        });
      }
      LLVM_DEBUG(llvm::dbgs() << name << ": recomputes " << needed.size() << " ops for "
                              << read.size() << " values the backward reads\n");
    }
  }
};

} // namespace
