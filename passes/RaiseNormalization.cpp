//===- RaiseNormalization.cpp - Primitive RMSNorm/LayerNorm to loom ops ----===//
//
// Finds the primitive spellings exporters use and replaces them with loom.rms_norm and
// loom.layer_norm:
//
//   rms:   x * rsqrt(mean(x^2) + eps)        (or x * reciprocal(sqrt(..)), x / sqrt(..))
//   layer: d * rsqrt(mean(d^2) + eps), d = x - mean(x)   (same three spellings)
//
// optionally followed by `* scale` (and `+ bias` for layer norm) with the exact shape of
// the normalized dimensions. Every mean must reduce the same trailing axes with
// keep_dims, epsilon must be a scalar constant, and the squared and normalized values
// must be the same SSA value; otherwise nothing is rewritten.
//
//===----------------------------------------------------------------------===//

#include "passes/Match.h"
#include "passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-raise-normalization"

namespace loom {
#define GEN_PASS_DEF_LOOMRAISENORMALIZATION
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// `mean(y^2) + eps` over trailing axes: y, the first axis and epsilon.
struct MeanSquare {
  Value y;
  int64_t axis;
  double epsilon;
};

std::optional<MeanSquare> matchMeanSquarePlusEps(Value sum) {
  auto add = sum.getDefiningOp<AddOp>();
  if (!add)
    return std::nullopt;
  for (auto [mean, eps] :
       {std::pair(add.getLhs(), add.getRhs()), std::pair(add.getRhs(), add.getLhs())}) {
    std::optional<double> epsilon = match::splatValue(eps);
    auto eType = llvm::cast<RankedTensorType>(eps.getType());
    Operation *reduce = mean.getDefiningOp();
    std::optional<int64_t> axis = match::trailingReduction(reduce, ReduceKind::Mean);
    if (!epsilon || eType.getRank() > 0 || !axis || *epsilon < 0.0)
      continue;
    if (Value y = match::squareOperand(llvm::cast<ReduceOp>(reduce).getOperand()))
      return MeanSquare{y, *axis, *epsilon};
  }
  return std::nullopt;
}

/// The normalized value `n` as `y * (1 / sqrt(ms))` in one of its three spellings:
/// returns the `mean(y^2) + eps` part. `y` must be the value whose square is averaged.
std::optional<MeanSquare> matchNormalized(Value n) {
  auto check = [](Value y, Value inverseOrRoot,
                  bool isRoot) -> std::optional<MeanSquare> {
    Value ms;
    if (isRoot) {
      if (auto sqrt = inverseOrRoot.getDefiningOp<SqrtOp>())
        ms = sqrt.getOperand();
    } else if (auto rsqrt = inverseOrRoot.getDefiningOp<RsqrtOp>()) {
      ms = rsqrt.getOperand();
    } else if (auto reciprocal = inverseOrRoot.getDefiningOp<ReciprocalOp>()) {
      if (auto sqrt = reciprocal.getOperand().getDefiningOp<SqrtOp>())
        ms = sqrt.getOperand();
    }
    std::optional<MeanSquare> found = ms ? matchMeanSquarePlusEps(ms) : std::nullopt;
    if (!found || found->y != y)
      return std::nullopt;
    return found;
  };
  if (auto div = n.getDefiningOp<DivOp>())
    if (div.getType() == div.getLhs().getType())
      return check(div.getLhs(), div.getRhs(), /*isRoot=*/true);
  if (auto mul = n.getDefiningOp<MulOp>()) {
    for (auto [y, inverse] :
         {std::pair(mul.getLhs(), mul.getRhs()), std::pair(mul.getRhs(), mul.getLhs())})
      if (mul.getType() == y.getType())
        if (auto found = check(y, inverse, /*isRoot=*/false))
          return found;
  }
  return std::nullopt;
}

/// The single user of `value` that is an `OpTy` (mul for a scale, add for a bias) with
/// a tensor of the normalized shape: returns that tensor and sets `user`, or null.
template <typename OpTy>
Value affineUser(Value value, Value x, int64_t axis, Operation *&user) {
  if (!value.hasOneUse())
    return {};
  auto op = llvm::dyn_cast<OpTy>(*value.getUsers().begin());
  if (!op || op.getType() != value.getType())
    return {};
  Value other = op.getLhs() == value ? op.getRhs() : op.getLhs();
  if (!match::coversTrailingDims(other, x, axis) || other == value)
    return {};
  user = op;
  return other;
}

/// A constant of ones shaped like the normalized dimensions of `x`.
Value onesLike(PatternRewriter &rewriter, Location loc, Value x, int64_t axis) {
  auto type = llvm::cast<RankedTensorType>(x.getType());
  auto ones =
      RankedTensorType::get(type.getShape().drop_front(axis), type.getElementType());
  return ConstantOp::create(
      rewriter, loc,
      DenseElementsAttr::get(ones, rewriter.getFloatAttr(type.getElementType(), 1.0)));
}

/// Anchored on the normalizing mul/div.
template <typename OpTy> struct RaiseRmsNorm : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    Value n = op.getResult();
    std::optional<MeanSquare> ms = matchNormalized(n);
    if (!ms)
      return rewriter.notifyMatchFailure(op, "not x / sqrt(mean(x^2) + eps)");
    // x - mean(x) being squared is layer norm's business.
    if (auto sub = ms->y.template getDefiningOp<SubOp>())
      if (match::trailingReduction(sub.getRhs().getDefiningOp(), ReduceKind::Mean))
        return rewriter.notifyMatchFailure(op, "centered: a layer norm");
    Value x = ms->y;
    Operation *root = op;
    Value scale = affineUser<MulOp>(n, x, ms->axis, root);
    rewriter.setInsertionPoint(root);
    if (!scale)
      scale = onesLike(rewriter, op.getLoc(), x, ms->axis);
    rewriter.replaceOpWithNewOp<RmsNormOp>(root, x.getType(), x, scale,
                                           rewriter.getI64IntegerAttr(ms->axis),
                                           rewriter.getF32FloatAttr(ms->epsilon));
    return success();
  }
};

template <typename OpTy> struct RaiseLayerNorm : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    Value n = op.getResult();
    std::optional<MeanSquare> ms = matchNormalized(n);
    if (!ms)
      return rewriter.notifyMatchFailure(op, "not d / sqrt(mean(d^2) + eps)");
    auto sub = ms->y.template getDefiningOp<SubOp>();
    if (!sub)
      return rewriter.notifyMatchFailure(op, "not centered");
    Value x = sub.getLhs();
    auto mean = sub.getRhs().template getDefiningOp<ReduceOp>();
    if (!mean || mean.getOperand() != x || sub.getType() != x.getType() ||
        match::trailingReduction(mean, ReduceKind::Mean) != ms->axis)
      return rewriter.notifyMatchFailure(op,
                                         "the centering mean is not over the same axes");
    Operation *root = op;
    Value scale = affineUser<MulOp>(n, x, ms->axis, root);
    Value bias;
    if (scale)
      bias = affineUser<AddOp>(root->getResult(0), x, ms->axis, root);
    rewriter.setInsertionPoint(root);
    if (!scale)
      scale = onesLike(rewriter, op.getLoc(), x, ms->axis);
    rewriter.replaceOpWithNewOp<LayerNormOp>(root, x.getType(), x, scale, bias,
                                             rewriter.getI64IntegerAttr(ms->axis),
                                             rewriter.getF32FloatAttr(ms->epsilon));
    return success();
  }
};

struct LoomRaiseNormalizationPass
    : loom::impl::LoomRaiseNormalizationBase<LoomRaiseNormalizationPass> {
  void runOnOperation() override {
    LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": on " << getOperation()->getName() << "\n");
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseRmsNorm<MulOp>, RaiseRmsNorm<DivOp>, RaiseLayerNorm<MulOp>,
                 RaiseLayerNorm<DivOp>>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
