//===- RaiseActivations.cpp - Primitive SiLU and GELU to loom ops ----------===//
//
//   silu:      x * sigmoid(x)
//   gelu erf:  0.5 * x * (1 + erf(x / sqrt(2)))        (or x * (1 / sqrt(2)) inside)
//   gelu tanh: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
//
// Products may be associated in any order (x * 0.5 * (..), (0.5 * x) * (..), ...);
// intermediate products must have no other users. Constants must equal the formula's
// within float rounding, and every x must be the same SSA value.
//
//===----------------------------------------------------------------------===//

#include "passes/Match.h"
#include "passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-raise-activations"

namespace loom {
#define GEN_PASS_DEF_LOOMRAISEACTIVATIONS
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// `a op b` with `a` satisfying `first` and b `second`, in either operand order.
template <typename OpTy, typename First, typename Second>
bool matchCommutative(Value v, First first, Second second) {
  auto op = v.getDefiningOp<OpTy>();
  if (!op)
    return false;
  return (first(op.getLhs()) && second(op.getRhs())) ||
         (first(op.getRhs()) && second(op.getLhs()));
}

/// `1 + f(..)` where `inner` checks the operand of the unary op `UnaryTy`.
template <typename UnaryTy, typename Inner> bool isOnePlus(Value v, Inner inner) {
  return matchCommutative<AddOp>(
      v, [](Value c) { return match::isSplat(c, 1.0); },
      [&](Value u) {
        auto unary = u.getDefiningOp<UnaryTy>();
        return unary && u.hasOneUse() && inner(unary.getOperand());
      });
}

/// x / sqrt(2) or x * (1 / sqrt(2)).
bool isErfArgument(Value t, Value x) {
  if (auto div = t.getDefiningOp<DivOp>())
    return div.getLhs() == x && match::isSplat(div.getRhs(), std::sqrt(2.0));
  auto factors = match::productFactors(t, 2);
  return factors.size() == 2 &&
         match::takeFactor(factors,
                           [](Value c) { return match::isSplat(c, M_SQRT1_2); }) &&
         factors[0] == x;
}

/// x^3 as pow(x, 3) or x * x * x.
bool isCube(Value v, Value x) {
  if (auto pow = v.getDefiningOp<PowOp>())
    return pow.getLhs() == x && match::splatValue(pow.getRhs()) == 3.0;
  auto factors = match::productFactors(v, 3);
  return factors.size() == 3 && llvm::all_of(factors, [&](Value f) { return f == x; });
}

/// sqrt(2/pi) * (x + 0.044715 * x^3).
bool isTanhArgument(Value t, Value x) {
  auto outer = match::productFactors(t, 2);
  if (outer.size() != 2 || !match::takeFactor(outer, [](Value c) {
        return match::isSplat(c, std::sqrt(2.0 / M_PI));
      }))
    return false;
  return matchCommutative<AddOp>(
      outer[0], [&](Value a) { return a == x; },
      [&](Value b) {
        auto inner = match::productFactors(b, 2);
        return inner.size() == 2 &&
               match::takeFactor(inner,
                                 [](Value c) { return match::isSplat(c, 0.044715); }) &&
               isCube(inner[0], x);
      });
}

/// Anchored on the outermost product.
struct RaiseGelu : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MulOp op, PatternRewriter &rewriter) const override {
    SmallVector<Value, 4> factors = match::productFactors(op.getResult(), 3);
    if (factors.size() != 3 ||
        !match::takeFactor(factors, [](Value c) { return match::isSplat(c, 0.5); }))
      return rewriter.notifyMatchFailure(op, "not a product of 0.5 and two factors");
    for (int which = 0; which < 2; ++which) {
      Value x = factors[which], other = factors[1 - which];
      if (x.getType() != op.getType())
        continue;
      std::optional<GeluApproximation> form;
      if (isOnePlus<ErfOp>(other, [&](Value t) { return isErfArgument(t, x); }))
        form = GeluApproximation::Erf;
      else if (isOnePlus<TanhOp>(other, [&](Value t) { return isTanhArgument(t, x); }))
        form = GeluApproximation::Tanh;
      if (!form)
        continue;
      rewriter.replaceOpWithNewOp<GeluOp>(op, op.getType(), *form, x);
      return success();
    }
    return rewriter.notifyMatchFailure(op, "no 1 + erf/tanh factor of the right form");
  }
};

struct RaiseSilu : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MulOp op, PatternRewriter &rewriter) const override {
    for (auto [x, s] :
         {std::pair(op.getLhs(), op.getRhs()), std::pair(op.getRhs(), op.getLhs())}) {
      auto sigmoid = s.getDefiningOp<SigmoidOp>();
      if (sigmoid && sigmoid.getOperand() == x && x.getType() == op.getType()) {
        rewriter.replaceOpWithNewOp<SiluOp>(op, x);
        return success();
      }
    }
    return rewriter.notifyMatchFailure(op, "not x * sigmoid(x)");
  }
};

struct LoomRaiseActivationsPass
    : loom::impl::LoomRaiseActivationsBase<LoomRaiseActivationsPass> {
  void runOnOperation() override {
    LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": on " << getOperation()->getName() << "\n");
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseGelu, RaiseSilu>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
