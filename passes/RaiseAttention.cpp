//===- RaiseAttention.cpp - Primitive attention to loom.attention ----------===//
//
// Finds softmax(Q K^T * scale + mask) V spelled in primitive ops and replaces it with
// one loom.attention. Anchored on the final matmul; checks, in order:
//
// - P V: a matmul without transposes whose left operand is a softmax over the last axis
//   (optionally followed by the NaN guard `select(p != p, 0, p)`, which only differs
//   from the softmax where the softmax is NaN: rows loom.attention sets to zeros).
// - The softmax input is the scores, or scores + mask.
// - The scores are Q K^T, optionally times/divided by a scalar, where Q and K^T may each
//   be scaled by a scalar first (exporters split 1/sqrt(D) as D^-1/4 on each side) and
//   K^T reaches K through reshapes and transposes that only move whole dimensions.
// - K and V may repeat each KV head in place (GQA/MQA spelled with expand): the repeat
//   is dropped, since loom.attention groups heads itself.
// - A mask `select(c, 0, -inf or the lowest float)` whose condition is, by the index
//   analysis, exactly `key <= query` over equal query and key lengths becomes the
//   causal flag; any other mask stays an additive mask.
//
//===----------------------------------------------------------------------===//

#include "passes/IndexAnalysis.h"
#include "passes/Match.h"
#include "passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-raise-attention"

namespace loom {
#define GEN_PASS_DEF_LOOMRAISEATTENTION
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// `x * c` or `c * x` with a scalar constant c: returns x and multiplies `factor`.
Value peelScalarMul(Value v, double &factor) {
  auto mul = v.getDefiningOp<MulOp>();
  if (!mul)
    return v;
  for (auto [x, c] :
       {std::pair(mul.getLhs(), mul.getRhs()), std::pair(mul.getRhs(), mul.getLhs())}) {
    std::optional<double> value = match::splatValue(c);
    if (value && llvm::cast<RankedTensorType>(c.getType()).getRank() == 0 &&
        x.getType() == mul.getType()) {
      factor *= *value;
      return x;
    }
  }
  return v;
}

/// The softmax's input with the NaN guard and its select peeled: p = softmax(l).
SoftmaxOp matchProbabilities(Value p) {
  if (auto select = p.getDefiningOp<SelectOp>()) {
    auto isNan = select.getCondition().getDefiningOp<CompareOp>();
    Value s = select.getFalseValue();
    if (!isNan || isNan.getPredicate() != CompareKind::NE || isNan.getLhs() != s ||
        isNan.getRhs() != s || !match::isSplat(select.getTrueValue(), 0.0) ||
        select.getType() != s.getType())
      return nullptr;
    p = s;
  }
  auto softmax = p.getDefiningOp<SoftmaxOp>();
  if (!softmax || softmax.getAxis() != shapeOf(p).size() - 1)
    return nullptr;
  return softmax;
}

/// A float below which an additive mask entry means "masked": -inf or the lowest finite
/// value of the type (what transformers uses).
bool isMaskingValue(Value v) {
  std::optional<double> value = match::splatValue(v);
  if (!value)
    return false;
  auto type =
      llvm::cast<FloatType>(llvm::cast<RankedTensorType>(v.getType()).getElementType());
  double lowest = -APFloat::getLargest(type.getFloatSemantics()).convertToDouble();
  return *value <= lowest;
}

struct RaiseAttention : OpRewritePattern<MatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MatmulOp pv, PatternRewriter &rewriter) const override {
    if (pv.getTransposeLhs() || pv.getTransposeRhs() || shapeOf(pv).size() != 4)
      return rewriter.notifyMatchFailure(pv, "not a rank-4 P V");
    SoftmaxOp softmax = matchProbabilities(pv.getLhs());
    if (!softmax)
      return rewriter.notifyMatchFailure(pv, "the left operand is not a softmax");
    Value logits = softmax.getOperand();

    // Scores, and the mask added to them.
    Value scores = logits, mask;
    if (auto add = logits.getDefiningOp<AddOp>()) {
      for (auto [s, m] :
           {std::pair(add.getLhs(), add.getRhs()), std::pair(add.getRhs(), add.getLhs())})
        if (s.getType() == add.getType() && findQK(s)) {
          scores = s;
          mask = m;
          break;
        }
    }
    double scale = 1.0;
    MatmulOp qk = findQK(scores, &scale);
    if (!qk)
      return rewriter.notifyMatchFailure(pv, "no Q K^T feeding the softmax");
    Value q = peelScalarMul(qk.getLhs(), scale);
    int64_t kRepeats = 1, vRepeats = 1;
    Value k = findKey(qk, scale, kRepeats, rewriter);
    if (!k)
      return rewriter.notifyMatchFailure(pv, "K^T is not a transpose of a rank-4 K");
    Value v = match::stripHeadRepeat(pv.getRhs(), vRepeats);
    Shape qs = shapeOf(q), ks = shapeOf(k), vs = shapeOf(v), ss = shapeOf(scores);
    if (qs.size() != 4 || ks.size() != 4 || vs.size() != 4 || kRepeats != vRepeats ||
        !qs[3].isStatic() || ks[3] != qs[3] || ks[2] != vs[2] || ks[1] != vs[1])
      return rewriter.notifyMatchFailure(pv, "Q, K, V do not have attention's shapes");

    // A mask that adds zero everywhere goes; a causal mask becomes the flag.
    bool causal = false;
    if (mask && isZeroMask(mask)) {
      mask = nullptr;
    } else if (mask && isCausal(mask, scores, ss)) {
      mask = nullptr;
      causal = true;
    }
    double defaultScale = 1.0 / std::sqrt(double(qs[3].size));
    FloatAttr scaleAttr;
    if (std::fabs(scale - defaultScale) > 1e-6 * defaultScale)
      scaleAttr = rewriter.getF32FloatAttr(scale);
    rewriter.setInsertionPoint(pv);
    rewriter.replaceOpWithNewOp<AttentionOp>(pv, pv.getType(), q, k, v, mask,
                                             causal ? rewriter.getUnitAttr() : UnitAttr(),
                                             scaleAttr, FloatAttr());
    return success();
  }

  /// K [B, Hkv, Skv, D] from the right operand of Q K^T: the operand itself with
  /// transpose_rhs, else through reshapes and transposes, un-repeating GQA heads.
  static Value findKey(MatmulOp qk, double &scale, int64_t &repeats,
                       PatternRewriter &rewriter) {
    Value kt = peelScalarMul(qk.getRhs(), scale);
    if (qk.getTransposeRhs())
      return match::stripHeadRepeat(kt, repeats);
    auto isRepeat = [](Value x) {
      int64_t r;
      return static_cast<bool>(match::headRepeatSource(x, r));
    };
    std::optional<match::LayoutView> view = match::layoutView(kt, isRepeat);
    if (!view)
      return nullptr;
    // K^T merging a head repeat [B, Hkv, r, Skv, D] back into heads: [B, (Hkv r), D,
    // Skv].
    if (Value x = match::headRepeatSource(view->source, repeats)) {
      using Groups = SmallVector<SmallVector<int64_t, 2>, 4>;
      Shape xs = shapeOf(x);
      Groups expected{{0}, {1, 2}, {4}, {3}};
      for (int64_t d : {0, 1, 3, 4}) // dims of size 1 appear in no group
        if (shapeOf(view->source)[d].isOne())
          for (auto &group : expected)
            llvm::erase(group, d);
      if (view->groups == expected)
        return x;
      repeats = 1;
      return nullptr;
    }
    std::optional<SmallVector<int64_t, 4>> perm = view->permutation();
    if (!perm || perm->size() != 4)
      return nullptr;
    // K^T = transpose(X, perm), so K = transpose(X, perm with its last two swapped).
    std::swap((*perm)[2], (*perm)[3]);
    Value k = view->source;
    if (!llvm::equal(*perm, llvm::seq<int64_t>(0, 4))) {
      Shape xs = shapeOf(k), ks;
      for (int64_t p : *perm)
        ks.push_back(xs[p]);
      rewriter.setInsertionPoint(qk);
      k = TransposeOp::create(rewriter, qk.getLoc(),
                              makeTensorType(ks, getElementTypeOrSelf(k.getType())), k,
                              *perm);
    }
    return match::stripHeadRepeat(k, repeats);
  }

  /// The Q K^T matmul under an optional scalar factor (`* c` or `/ c`), or null.
  static MatmulOp findQK(Value scores, double *scale = nullptr) {
    double factor = 1.0;
    Value inner = peelScalarMul(scores, factor);
    if (auto div = inner.getDefiningOp<DivOp>()) {
      std::optional<double> c = match::splatValue(div.getRhs());
      if (c && *c != 0.0 && div.getLhs().getType() == div.getType()) {
        factor /= *c;
        inner = div.getLhs();
      }
    }
    auto qk = inner.getDefiningOp<MatmulOp>();
    if (!qk || qk.getTransposeLhs() || shapeOf(qk).size() != 4)
      return nullptr;
    if (scale)
      *scale *= factor;
    return qk;
  }

  /// `select(c, 0, x)` with c true at every index (or a zero splat).
  static bool isZeroMask(Value mask) {
    if (match::isSplat(mask, 0.0))
      return true;
    auto select = mask.getDefiningOp<SelectOp>();
    if (!select || !match::isSplat(select.getTrueValue(), 0.0))
      return false;
    IndexAnalysis analysis;
    const IndexFn &c = analysis.get(select.getCondition());
    return c.isConstant() && c.constantValue() == 1;
  }

  /// `select(c, 0, masked)` where c is `key <= query` and query and key lengths agree.
  static bool isCausal(Value mask, Value scores, const Shape &ss) {
    auto select = mask.getDefiningOp<SelectOp>();
    if (!select || !match::isSplat(select.getTrueValue(), 0.0) ||
        !isMaskingValue(select.getFalseValue()))
      return false;
    if (ss[2] != ss[3] || ss[2].isAnonymous())
      return false;
    IndexAnalysis analysis;
    IndexFn c =
        alignTo(alignTo(analysis.get(select.getCondition()), select.getCondition(), mask),
                mask, scores);
    if (c.kind != IndexFn::Kind::Bool || c.constant != 0)
      return false;
    // key - query <= 0 over [B, H, Sq, Skv], nothing else.
    return c.coeffs[0] == 0 && c.coeffs[1] == 0 && c.coeffs[2] == -1 && c.coeffs[3] == 1;
  }
};

struct LoomRaiseAttentionPass
    : loom::impl::LoomRaiseAttentionBase<LoomRaiseAttentionPass> {
  void runOnOperation() override {
    LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": on " << getOperation()->getName() << "\n");
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseAttention>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
