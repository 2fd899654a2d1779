//===- LoomFolds.cpp - Folders and canonicalization patterns of loom ops -===//
//
// Every rewrite here is exact: it changes no value bit for bit (x + 0.0 is not folded
// because -0.0 + 0.0 is +0.0; x + -0.0 is).
//
//===----------------------------------------------------------------------===//

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/Shape.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace loom;

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

OpFoldResult NegOp::fold(FoldAdaptor) {
  if (auto inner = getOperand().getDefiningOp<NegOp>())
    return inner.getOperand();
  return {};
}

OpFoldResult NotOp::fold(FoldAdaptor) {
  if (auto inner = getOperand().getDefiningOp<NotOp>())
    return inner.getOperand();
  return {};
}

/// Which splat a binary identity needs on its right-hand side.
enum class Identity { AddZero, SubZero, One };

/// True if `attr` is a splat equal, for every element, to the `identity` of its type.
static bool isIdentitySplat(Attribute attr, Identity identity) {
  auto splat = llvm::dyn_cast_or_null<SplatElementsAttr>(attr);
  if (!splat)
    return false;
  Type element = splat.getElementType();
  if (llvm::isa<FloatType>(element)) {
    APFloat value = splat.getSplatValue<APFloat>();
    switch (identity) {
    case Identity::AddZero: // x + (-0.0) == x for every x, including -0.0.
      return value.isZero() && value.isNegative();
    case Identity::SubZero: // x - (+0.0) == x for every x.
      return value.isZero() && !value.isNegative();
    case Identity::One:
      return value.isExactlyValue(1.0);
    }
  }
  APInt value = splat.getSplatValue<APInt>();
  return identity == Identity::One ? value.isOne() : value.isZero();
}

/// Folds `lhs op identity` to `lhs` when that does not change the result type (the
/// constant could otherwise be what broadcasts the result).
template <typename OpTy>
static OpFoldResult foldRightIdentity(OpTy op, Attribute rhs, Identity identity) {
  if (op.getLhs().getType() == op.getType() && isIdentitySplat(rhs, identity))
    return op.getLhs();
  return {};
}

OpFoldResult AddOp::fold(FoldAdaptor adaptor) {
  return foldRightIdentity(*this, adaptor.getRhs(), Identity::AddZero);
}
OpFoldResult SubOp::fold(FoldAdaptor adaptor) {
  return foldRightIdentity(*this, adaptor.getRhs(), Identity::SubZero);
}
OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  return foldRightIdentity(*this, adaptor.getRhs(), Identity::One);
}
OpFoldResult DivOp::fold(FoldAdaptor adaptor) {
  return foldRightIdentity(*this, adaptor.getRhs(), Identity::One);
}

OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getOperand().getType() == getType())
    return getOperand();
  return {};
}

//===----------------------------------------------------------------------===//
// Layout
//===----------------------------------------------------------------------===//

/// Folds a reshape or broadcast: to its operand when the type does not change; onto the
/// operand of an inner op of the same kind (reshape(reshape(x)) and
/// broadcast(broadcast(x)) each need only the outer op); and, for a constant operand, to
/// a constant of the result type when the data does not move (any reshape) or is a splat.
template <typename OpTy>
static OpFoldResult foldRelayout(OpTy op, Attribute operand, bool splatOnly) {
  if (op.getOperand().getType() == op.getType())
    return op.getOperand();
  if (auto inner = op.getOperand().template getDefiningOp<OpTy>()) {
    op.getOperandMutable().assign(inner.getOperand());
    return op.getResult();
  }
  auto dense = llvm::dyn_cast_or_null<DenseElementsAttr>(operand);
  RankedTensorType resultType = op.getType();
  if (!dense || !resultType.hasStaticShape() || resultType.getEncoding())
    return {};
  if (dense.isSplat())
    return dense.resizeSplat(resultType);
  return splatOnly ? OpFoldResult() : OpFoldResult(dense.reshape(resultType));
}

OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  return foldRelayout(*this, adaptor.getOperand(), /*splatOnly=*/false);
}

OpFoldResult BroadcastOp::fold(FoldAdaptor adaptor) {
  return foldRelayout(*this, adaptor.getOperand(), /*splatOnly=*/true);
}

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  for (auto [i, p] : llvm::enumerate(getPermutation()))
    if (static_cast<int64_t>(i) != p)
      return {};
  return getOperand();
}

OpFoldResult ConcatOp::fold(FoldAdaptor) {
  if (getInputs().size() == 1 && getInputs().front().getType() == getType())
    return getInputs().front();
  return {};
}

OpFoldResult SliceOp::fold(FoldAdaptor) {
  if (getOperand().getType() != getType())
    return {};
  Shape shape = getShape(getType());
  for (size_t i = 0; i < getAxes().size(); ++i) {
    const Dim &dim = shape[getAxes()[i]];
    if (sliceDim(dim, getStarts()[i], getEnds()[i], getSteps()[i]) != dim ||
        getSteps()[i] != 1 || getStarts()[i] != 0)
      return {};
  }
  return getOperand();
}

namespace {

/// transpose(transpose(x, p), q) -> transpose(x, p∘q).
struct ComposeTransposes : OpRewritePattern<TransposeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(TransposeOp op, PatternRewriter &rewriter) const override {
    auto inner = op.getOperand().getDefiningOp<TransposeOp>();
    if (!inner)
      return rewriter.notifyMatchFailure(op, "operand is not a transpose");
    SmallVector<int64_t> composed;
    for (int64_t p : op.getPermutation())
      composed.push_back(inner.getPermutation()[p]);
    rewriter.replaceOpWithNewOp<TransposeOp>(op, op.getType(), inner.getOperand(),
                                             composed);
    return success();
  }
};

/// A transpose that only moves size-1 dimensions keeps the data in order: a reshape.
struct TransposeOfUnitDimsToReshape : OpRewritePattern<TransposeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(TransposeOp op, PatternRewriter &rewriter) const override {
    Shape shape = getShape(op.getOperand().getType());
    int64_t last = -1;
    for (int64_t p : op.getPermutation()) {
      if (shape[p].isOne())
        continue;
      if (p < last)
        return rewriter.notifyMatchFailure(op, "moves a dimension that is not size 1");
      last = p;
    }
    rewriter.replaceOpWithNewOp<ReshapeOp>(op, op.getType(), op.getOperand());
    return success();
  }
};

} // namespace

void TransposeOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                              MLIRContext *context) {
  patterns.add<ComposeTransposes, TransposeOfUnitDimsToReshape>(context);
}
