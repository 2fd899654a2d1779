//===- LoomCanonicalize.cpp - Folds and canonicalizes loom ops -------------===//

#include "passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#define DEBUG_TYPE "loom-canonicalize"

namespace loom {
#define GEN_PASS_DEF_LOOMCANONICALIZE
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;

void loom::populateLoomCanonicalizationPatterns(RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  for (RegisteredOperationName name :
       context->getRegisteredOperationsByDialect(LoomDialect::getDialectNamespace()))
    name.getCanonicalizationPatterns(patterns, context);
}

namespace {

struct LoomCanonicalizePass : loom::impl::LoomCanonicalizeBase<LoomCanonicalizePass> {
  using LoomCanonicalizeBase::LoomCanonicalizeBase;

  LogicalResult initialize(MLIRContext *context) override {
    RewritePatternSet set(context);
    loom::populateLoomCanonicalizationPatterns(set);
    patterns = std::move(set);
    return success();
  }

  void runOnOperation() override {
    GreedyRewriteConfig config;
    config.setMaxIterations(maxIterations);
    // Only the loom ops found here and those the rewrites create: other dialects' ops
    // are left exactly as they are.
    config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
    SmallVector<Operation *> loomOps;
    getOperation()->walk([&](Operation *op) {
      if (llvm::isa<loom::LoomDialect>(op->getDialect()))
        loomOps.push_back(op);
    });
    bool changed = false;
    if (failed(applyOpPatternsGreedily(loomOps, patterns, config, &changed))) {
      getOperation()->emitError()
          << "loom-canonicalize did not converge in " << maxIterations << " iterations";
      return signalPassFailure();
    }
    if (!changed)
      markAllAnalysesPreserved();
  }

  FrozenRewritePatternSet patterns;
};

} // namespace
