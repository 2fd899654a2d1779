//===- FoldIndexArithmetic.cpp - Constant masks and positions become constants ===//
//
// Uses IndexAnalysis to find integer and boolean values that are the same constant at
// every index, however they were computed from shapes and positions, and replaces them
// with a splat constant (broadcast to the value's shape when it is dynamic). What fed
// only them is then dead.
//
//===----------------------------------------------------------------------===//

#include "passes/IndexAnalysis.h"
#include "passes/Passes.h"

#include "dialects/loom/Shape.h"

#include "mlir/IR/Builders.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-fold-index-arithmetic"

namespace loom {
#define GEN_PASS_DEF_LOOMFOLDINDEXARITHMETIC
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

struct LoomFoldIndexArithmeticPass
    : loom::impl::LoomFoldIndexArithmeticBase<LoomFoldIndexArithmeticPass> {
  void runOnOperation() override {
    LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": on " << getOperation()->getName() << "\n");
    IndexAnalysis analysis;
    SmallVector<std::pair<Value, int64_t>> constants;
    getOperation()->walk([&](Operation *op) {
      if (!llvm::isa<LoomDialect>(op->getDialect()) || llvm::isa<ConstantOp>(op))
        return;
      if (llvm::isa<BroadcastOp>(op) && op->getOperand(0).getDefiningOp<ConstantOp>())
        return;
      for (Value result : op->getResults()) {
        const IndexFn &f = analysis.get(result);
        if (f.isConstant())
          constants.emplace_back(result, f.constantValue());
      }
    });
    OpBuilder builder(&getContext());
    for (auto [value, constant] : constants) {
      auto type = llvm::cast<RankedTensorType>(value.getType());
      builder.setInsertionPointAfterValue(value);
      Location loc = value.getLoc();
      Type element = type.getElementType();
      Attribute scalar = element.isInteger(1)
                             ? Attribute(builder.getBoolAttr(constant != 0))
                             : Attribute(builder.getIntegerAttr(element, constant));
      Value replacement;
      if (type.hasStaticShape()) {
        replacement = ConstantOp::create(
            builder, loc,
            DenseElementsAttr::get(RankedTensorType::get(type.getShape(), element),
                                   scalar));
      } else {
        Value splat = ConstantOp::create(
            builder, loc,
            DenseElementsAttr::get(RankedTensorType::get({}, element), scalar));
        replacement = BroadcastOp::create(builder, loc, type, splat);
      }
      value.replaceAllUsesWith(replacement);
    }
  }
};

} // namespace
