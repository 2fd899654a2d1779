//===- RaiseLinear.cpp - Matmuls by a weight matrix become linear layers ----===//
//
//   matmul(x, W)                       -> linear(x, W)        W a static 2-D matrix
//   add(linear(x, W), b)               -> linear(x, W, bias b) b varies only along N
//   linear(reshape(x), W)              -> reshape(linear(x', W))  the reshape regroups
//                                         rows of x; x' only merges x's feature dims
//   add(reshape(y), b)                 -> reshape(add(y, b))    likewise, b along N only
//   matmul(a [.., M, 1], b [.., 1, N]) -> mul(a, b)            an outer product
//   matmul(transpose(a), ...)          -> matmul(a, ...) with the transpose flag flipped,
//                                         when the transpose swaps the last two dims
//
// A reshape that keeps the last dimension only regroups rows, and a row-wise op (a
// linear layer, a bias along the features) commutes with it; this is what removes the
// [batch*seq, K] flattening ONNX exporters put around Gemm. Every rewrite is exact.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/loom/Shape.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-raise-linear"

namespace loom {
#define GEN_PASS_DEF_LOOMRAISELINEAR
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// The length N of `bias` when it varies only along its last dimension (every other
/// dimension a static 1) and that dimension is `features`.
bool isFeatureVector(Value bias, const Dim &features) {
  Shape shape = shapeOf(bias);
  if (shape.empty() || shape.back() != features || !features.isStatic())
    return false;
  return llvm::all_of(ArrayRef<Dim>(shape).drop_back(),
                      [](const Dim &d) { return d.isOne(); });
}

/// `bias` as a rank-1 `[N]` tensor.
Value asVector(PatternRewriter &rewriter, Value bias) {
  auto type = llvm::cast<RankedTensorType>(bias.getType());
  if (type.getRank() == 1)
    return bias;
  return ReshapeOp::create(
      rewriter, bias.getLoc(),
      RankedTensorType::get({type.getShape().back()}, type.getElementType()), bias);
}

/// A reshape that only regroups rows: the last dimension is the same before and after.
bool keepsRows(ReshapeOp reshape) {
  Shape from = shapeOf(reshape.getOperand()), to = shapeOf(reshape.getResult());
  return !from.empty() && !to.empty() && from.back() == to.back() &&
         from.back().isStatic();
}

/// `shape` with its last dimension replaced by `last`.
RankedTensorType withLast(Value value, const Dim &last) {
  auto type = llvm::cast<RankedTensorType>(value.getType());
  Shape shape = getShape(type);
  shape.back() = last;
  return makeTensorType(shape, type.getElementType());
}

struct MatmulToLinear : OpRewritePattern<MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MatmulOp op, PatternRewriter &rewriter) const override {
    auto weight = llvm::cast<RankedTensorType>(op.getRhs().getType());
    if (weight.getRank() != 2 || !weight.hasStaticShape() || op.getTransposeLhs() ||
        !llvm::isa<FloatType>(weight.getElementType()))
      return rewriter.notifyMatchFailure(op, "not activations times a static matrix");
    rewriter.replaceOpWithNewOp<LinearOp>(op, op.getType(), op.getLhs(), op.getRhs(),
                                          Value(), op.getTransposeRhs());
    return success();
  }
};

/// A matmul whose contracted dimension is a static 1 is a broadcast product (how
/// exporters write the rope angle table `inv_freq x positions`).
struct OuterProduct : OpRewritePattern<MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MatmulOp op, PatternRewriter &rewriter) const override {
    Shape lhs = shapeOf(op.getLhs());
    if (op.getTransposeLhs() || op.getTransposeRhs() || !lhs.back().isOne())
      return rewriter.notifyMatchFailure(op, "contracted dimension is not a plain 1");
    rewriter.replaceOpWithNewOp<MulOp>(op, op.getType(), op.getLhs(), op.getRhs());
    return success();
  }
};

struct FoldBias : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AddOp op, PatternRewriter &rewriter) const override {
    for (auto [y, bias] :
         {std::pair(op.getLhs(), op.getRhs()), std::pair(op.getRhs(), op.getLhs())}) {
      auto linear = y.getDefiningOp<LinearOp>();
      if (!linear || linear.getBias() || !y.hasOneUse() || y.getType() != op.getType() ||
          !isFeatureVector(bias, shapeOf(y).back()))
        continue;
      rewriter.replaceOpWithNewOp<LinearOp>(op, op.getType(), linear.getInput(),
                                            linear.getWeight(), asVector(rewriter, bias),
                                            linear.getTransposeWeight());
      return success();
    }
    return rewriter.notifyMatchFailure(op, "not a bias added to a linear layer");
  }
};

/// How many leading dimensions of a reshape's operand are rows of its result: the
/// trailing operand dimensions after them are static and multiply to the result's last
/// dimension, so each result row is one contiguous group of them. nullopt otherwise.
std::optional<size_t> rowDims(ReshapeOp reshape) {
  Shape from = shapeOf(reshape.getOperand()), to = shapeOf(reshape.getResult());
  if (from.empty() || to.empty() || !to.back().isStatic())
    return std::nullopt;
  int64_t product = 1;
  for (size_t i = from.size(); i-- > 0;) {
    if (!from[i].isStatic())
      return std::nullopt;
    product *= from[i].size;
    if (product == to.back().size)
      return i;
    if (product > to.back().size)
      return std::nullopt;
  }
  return std::nullopt;
}

struct HoistReshapeOverLinear : OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LinearOp op, PatternRewriter &rewriter) const override {
    auto reshape = op.getInput().getDefiningOp<ReshapeOp>();
    std::optional<size_t> rows = reshape ? rowDims(reshape) : std::nullopt;
    if (!rows)
      return rewriter.notifyMatchFailure(op, "input is not a regrouping of rows");
    // Merge only the features ([rows..., a, b] -> [rows..., a*b]); the rows keep their
    // dimensions through the layer and are regrouped after it.
    Value source = reshape.getOperand();
    Shape from = shapeOf(source);
    Shape merged(from.begin(), from.begin() + *rows);
    merged.push_back(shapeOf(reshape).back());
    if (merged == shapeOf(reshape))
      return rewriter.notifyMatchFailure(op, "the reshape already only merges features");
    auto elementType = llvm::cast<RankedTensorType>(source.getType()).getElementType();
    if (merged != from)
      source = ReshapeOp::create(rewriter, reshape.getLoc(),
                                 makeTensorType(merged, elementType), source);
    Value wide =
        LinearOp::create(rewriter, op.getLoc(), withLast(source, shapeOf(op).back()),
                         source, op.getWeight(), op.getBias(), op.getTransposeWeight());
    rewriter.replaceOpWithNewOp<ReshapeOp>(op, op.getType(), wide);
    return success();
  }
};

struct HoistReshapeOverBias : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AddOp op, PatternRewriter &rewriter) const override {
    for (auto [y, bias] :
         {std::pair(op.getLhs(), op.getRhs()), std::pair(op.getRhs(), op.getLhs())}) {
      auto reshape = y.getDefiningOp<ReshapeOp>();
      if (!reshape || !y.hasOneUse() || !keepsRows(reshape) ||
          y.getType() != op.getType() || !isFeatureVector(bias, shapeOf(y).back()))
        continue;
      Value source = reshape.getOperand();
      Value sum = AddOp::create(rewriter, op.getLoc(), source.getType(), source,
                                asVector(rewriter, bias));
      rewriter.replaceOpWithNewOp<ReshapeOp>(op, op.getType(), sum);
      return success();
    }
    return rewriter.notifyMatchFailure(op, "not a feature bias on a row regrouping");
  }
};

/// True when `transpose` swaps the last two dimensions and keeps the others in place.
bool swapsLastTwo(TransposeOp transpose) {
  ArrayRef<int64_t> perm = transpose.getPermutation();
  int64_t rank = perm.size();
  if (rank < 2 || perm[rank - 1] != rank - 2 || perm[rank - 2] != rank - 1)
    return false;
  for (int64_t i = 0; i + 2 < rank; ++i)
    if (perm[i] != i)
      return false;
  return true;
}

struct FoldOperandTranspose : OpRewritePattern<MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MatmulOp op, PatternRewriter &rewriter) const override {
    auto lhs = op.getLhs().getDefiningOp<TransposeOp>();
    auto rhs = op.getRhs().getDefiningOp<TransposeOp>();
    bool foldLhs = lhs && swapsLastTwo(lhs), foldRhs = rhs && swapsLastTwo(rhs);
    if (!foldLhs && !foldRhs)
      return rewriter.notifyMatchFailure(op, "no operand transposes its last two dims");
    rewriter.modifyOpInPlace(op, [&] {
      if (foldLhs) {
        op.getLhsMutable().assign(lhs.getOperand());
        op.setTransposeLhs(!op.getTransposeLhs());
      }
      if (foldRhs) {
        op.getRhsMutable().assign(rhs.getOperand());
        op.setTransposeRhs(!op.getTransposeRhs());
      }
    });
    return success();
  }
};

struct LoomRaiseLinearPass : loom::impl::LoomRaiseLinearBase<LoomRaiseLinearPass> {
  void runOnOperation() override {
    LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": on " << getOperation()->getName() << "\n");
    RewritePatternSet patterns(&getContext());
    patterns.add<FoldOperandTranspose, MatmulToLinear, OuterProduct, FoldBias,
                 HoistReshapeOverLinear, HoistReshapeOverBias>(&getContext());
    populateLoomCanonicalizationPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
