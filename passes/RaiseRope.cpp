//===- RaiseRope.cpp - Primitive rotary embeddings to loom.rope ------------===//
//
// The half-rotation form exporters write for Llama-style models:
//
//   x * cos + concat(-x[..., D/2:], x[..., :D/2]) * sin
//
// with full-width tables whose two halves are equal (cos(concat(f, f)), or such a table
// reshaped in its leading dimensions). It becomes loom.rope with the half tables
// (cos(f), sin(f)). The interleaved (GPT-J) form
//
//   x * cos + flatten(stack(-x[..., 1::2], x[..., ::2])) * sin
//
// with tables that repeat each entry twice (repeat_interleave(c, 2): c unsqueezed,
// then concatenated with itself or broadcast to pairs, then flattened) becomes
// loom.rope interleaved with the tables c. Both x must be the same value, the slices
// exact halves of a static even last dimension, and the tables' halves (or pairs)
// provably equal; otherwise nothing changes.
//
//===----------------------------------------------------------------------===//

#include "passes/Match.h"
#include "passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-raise-rope"

namespace loom {
#define GEN_PASS_DEF_LOOMRAISEROPE
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// `concat(h, h)` along the last axis: h.
Value duplicatedHalf(Value v) {
  auto concat = v.getDefiningOp<ConcatOp>();
  if (!concat || concat.getInputs().size() != 2 ||
      concat.getAxis() != int64_t(shapeOf(v).size()) - 1 ||
      concat.getInputs()[0] != concat.getInputs()[1])
    return {};
  return concat.getInputs()[0];
}

/// The first half of a table whose last dimension is two equal halves, built next to
/// the table's own definition; null if the halves are not known to be equal.
Value halfTable(Value table, PatternRewriter &rewriter) {
  if (Value half = duplicatedHalf(table))
    return half;
  Shape ts = shapeOf(table);
  Operation *op = table.getDefiningOp();
  if (auto reshape = llvm::dyn_cast_or_null<ReshapeOp>(op)) {
    if (shapeOf(reshape.getOperand()).back() != ts.back())
      return {};
    Value half = halfTable(reshape.getOperand(), rewriter);
    if (!half)
      return {};
    Shape hs = ts;
    hs.back() = Dim::fixed(ts.back().size / 2);
    rewriter.setInsertionPointAfterValue(half);
    return ReshapeOp::create(rewriter, reshape.getLoc(),
                             makeTensorType(hs, getElementTypeOrSelf(table.getType())),
                             half);
  }
  if (llvm::isa_and_nonnull<CosOp, SinOp>(op)) {
    Value angles = duplicatedHalf(op->getOperand(0));
    if (!angles)
      return {};
    rewriter.setInsertionPointAfterValue(angles);
    if (llvm::isa<CosOp>(op))
      return CosOp::create(rewriter, op->getLoc(), angles);
    return SinOp::create(rewriter, op->getLoc(), angles);
  }
  return {};
}

/// `concat(-x[..., D/2:], x[..., :D/2])` along the last axis: x.
Value rotatedHalfOf(Value v) {
  auto concat = v.getDefiningOp<ConcatOp>();
  Shape vs = shapeOf(v);
  int64_t last = vs.size() - 1;
  if (!concat || concat.getInputs().size() != 2 || concat.getAxis() != last ||
      !vs[last].isStatic() || vs[last].size % 2)
    return {};
  int64_t half = vs[last].size / 2;
  auto neg = concat.getInputs()[0].getDefiningOp<NegOp>();
  auto second = neg ? neg.getOperand().getDefiningOp<SliceOp>() : nullptr;
  auto first = concat.getInputs()[1].getDefiningOp<SliceOp>();
  auto isHalf = [&](SliceOp slice, int64_t start) {
    return slice && slice.getAxes().size() == 1 && slice.getAxes()[0] == last &&
           slice.getSteps()[0] == 1 && slice.getStarts()[0] == start &&
           shapeOf(slice)[last] == Dim::fixed(half);
  };
  if (!isHalf(first, 0) || !isHalf(second, half) ||
      first.getOperand() != second.getOperand() ||
      first.getOperand().getType() != v.getType())
    return {};
  return first.getOperand();
}

/// `v` reshaped to its own shape plus a trailing 1: v's operand.
Value unsqueezedLast(Value v) {
  auto reshape = v.getDefiningOp<ReshapeOp>();
  if (!reshape)
    return {};
  Shape from = shapeOf(reshape.getOperand()), to = shapeOf(v);
  if (to.size() != from.size() + 1 || !to.back().isOne() ||
      ArrayRef<Dim>(to).drop_back() != ArrayRef<Dim>(from))
    return {};
  return reshape.getOperand();
}

/// `v` as pairs flattened: `reshape([..., H, 2] -> [..., 2H])` of `pairs`.
Value flattenedPairs(Value v) {
  auto reshape = v.getDefiningOp<ReshapeOp>();
  if (!reshape)
    return {};
  Shape from = shapeOf(reshape.getOperand()), to = shapeOf(v);
  if (from.size() != to.size() + 1 || from.back() != Dim::fixed(2) ||
      !to.back().isStatic() || from[from.size() - 2] != Dim::fixed(to.back().size / 2) ||
      ArrayRef<Dim>(from).drop_back(2) != ArrayRef<Dim>(to).drop_back())
    return {};
  return reshape.getOperand();
}

/// `x[..., start::2]` over the last axis of x: x.
Value everyOther(Value v, int64_t start) {
  auto slice = v.getDefiningOp<SliceOp>();
  int64_t last = shapeOf(v).size() - 1;
  if (!slice || slice.getAxes().size() != 1 || slice.getAxes()[0] != last ||
      slice.getSteps()[0] != 2 || slice.getStarts()[0] != start)
    return {};
  Shape xs = shapeOf(slice.getOperand());
  if (!xs[last].isStatic() || xs[last].size % 2 ||
      shapeOf(v)[last] != Dim::fixed(xs[last].size / 2))
    return {};
  return slice.getOperand();
}

/// `flatten(stack(-x[..., 1::2], x[..., ::2]))`: x.
Value rotatedPairsOf(Value v) {
  Value pairs = flattenedPairs(v);
  auto concat = pairs ? pairs.getDefiningOp<ConcatOp>() : nullptr;
  if (!concat || concat.getInputs().size() != 2 ||
      concat.getAxis() != int64_t(shapeOf(pairs).size()) - 1)
    return {};
  // The negation may come before or after the unsqueeze.
  Value odd = concat.getInputs()[0], even = unsqueezedLast(concat.getInputs()[1]);
  if (auto neg = odd.getDefiningOp<NegOp>())
    odd = unsqueezedLast(neg.getOperand());
  else if ((odd = unsqueezedLast(odd)) && odd.getDefiningOp<NegOp>())
    odd = odd.getDefiningOp<NegOp>().getOperand();
  else
    return {};
  Value x = odd ? everyOther(odd, 1) : Value();
  if (!x || !even || everyOther(even, 0) != x || x.getType() != v.getType())
    return {};
  return x;
}

/// The table `c` of `repeat_interleave(c, 2)` along the last axis; null if `table` is
/// not provably one.
Value pairedEntries(Value table) {
  Value pairs = flattenedPairs(table);
  if (!pairs)
    return {};
  if (auto concat = pairs.getDefiningOp<ConcatOp>()) {
    if (concat.getInputs().size() != 2 || concat.getInputs()[0] != concat.getInputs()[1])
      return {};
    return unsqueezedLast(concat.getInputs()[0]);
  }
  if (auto broadcast = pairs.getDefiningOp<BroadcastOp>())
    return unsqueezedLast(broadcast.getOperand());
  return {};
}

/// The candidates `(x, cos, r, sin)` of `add = x * cos + r * sin`, in every operand
/// order, with x of the sum's type and tables of one type as wide as x; stops at the
/// first for which `tryRewrite` returns true.
bool forEachRotation(AddOp add,
                     llvm::function_ref<bool(Value, Value, Value, Value)> tryRewrite) {
  for (auto [direct, rotated] :
       {std::pair(add.getLhs(), add.getRhs()), std::pair(add.getRhs(), add.getLhs())}) {
    auto cosMul = direct.getDefiningOp<MulOp>(), sinMul = rotated.getDefiningOp<MulOp>();
    if (!cosMul || !sinMul)
      continue;
    for (auto [x, cos] : {std::pair(cosMul.getLhs(), cosMul.getRhs()),
                          std::pair(cosMul.getRhs(), cosMul.getLhs())})
      for (auto [r, sin] : {std::pair(sinMul.getLhs(), sinMul.getRhs()),
                            std::pair(sinMul.getRhs(), sinMul.getLhs())})
        if (x.getType() == add.getType() && cos.getType() == sin.getType() &&
            shapeOf(cos).back() == shapeOf(x).back() && tryRewrite(x, cos, r, sin))
          return true;
  }
  return false;
}

struct RaiseInterleavedRope : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AddOp add, PatternRewriter &rewriter) const override {
    bool done = forEachRotation(add, [&](Value x, Value cos, Value r, Value sin) {
      Value c = rotatedPairsOf(r) == x ? pairedEntries(cos) : Value();
      Value s = c ? pairedEntries(sin) : Value();
      if (!s)
        return false;
      rewriter.replaceOpWithNewOp<RopeOp>(add, add.getType(), x, c, s,
                                          rewriter.getUnitAttr());
      return true;
    });
    return done ? success()
                : rewriter.notifyMatchFailure(add,
                                              "not x * cos + rotate_every_two(x) * sin");
  }
};

struct RaiseRope : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AddOp add, PatternRewriter &rewriter) const override {
    bool done = forEachRotation(add, [&](Value x, Value cos, Value r, Value sin) {
      if (rotatedHalfOf(r) != x)
        return false;
      OpBuilder::InsertionGuard guard(rewriter);
      Value cosHalf = halfTable(cos, rewriter);
      Value sinHalf = cosHalf ? halfTable(sin, rewriter) : Value();
      if (!sinHalf)
        return false;
      rewriter.setInsertionPoint(add);
      rewriter.replaceOpWithNewOp<RopeOp>(add, add.getType(), x, cosHalf, sinHalf,
                                          UnitAttr());
      return true;
    });
    return done ? success()
                : rewriter.notifyMatchFailure(add, "not x * cos + rotate_half(x) * sin");
  }
};

struct LoomRaiseRopePass : loom::impl::LoomRaiseRopeBase<LoomRaiseRopePass> {
  void runOnOperation() override {
    LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": on " << getOperation()->getName() << "\n");
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseRope, RaiseInterleavedRope>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
