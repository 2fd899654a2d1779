//===- InferShapes.cpp - Re-derive result shapes from operand shapes --------===//
//
// Walks each function in order and gives every result the most precise shape its
// operands imply, under the same rules the verifiers check: a dimension the importer
// could only call `?` becomes a static size or an expression of the named input
// dimensions (`seq-1`, `batch*seq`) where the rule knows it. Known dimensions are never
// changed, so the pass only adds information. Function result types follow their
// returned values.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/loom/Shape.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/TypeSwitch.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-infer-shapes"

namespace loom {
#define GEN_PASS_DEF_LOOMINFERSHAPES
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// Broadcasts the shapes of `values` together; nullopt if they do not broadcast.
std::optional<Shape> broadcastAll(ValueRange values) {
  Shape shape = shapeOf(values.front());
  for (Value value : values.drop_front()) {
    Shape next;
    std::string why;
    if (!broadcastShapes(shape, shapeOf(value), next, why))
      return std::nullopt;
    shape = std::move(next);
  }
  return shape;
}

std::optional<Shape> matmulShape(MatmulOp op) {
  Shape lhs = shapeOf(op.getLhs()), rhs = shapeOf(op.getRhs()), result;
  if (lhs.size() < 2 || rhs.size() < 2)
    return std::nullopt;
  std::string why;
  if (!broadcastShapes(ArrayRef<Dim>(lhs).drop_back(2), ArrayRef<Dim>(rhs).drop_back(2),
                       result, why))
    return std::nullopt;
  result.push_back(op.getTransposeLhs() ? lhs.back() : lhs[lhs.size() - 2]);
  result.push_back(op.getTransposeRhs() ? rhs[rhs.size() - 2] : rhs.back());
  return result;
}

std::optional<Shape> linearShape(LinearOp op) {
  Shape result = shapeOf(op.getInput()), weight = shapeOf(op.getWeight());
  result.back() = op.getTransposeWeight() ? weight.front() : weight.back();
  return result;
}

std::optional<Shape> reduceShape(ReduceOp op) {
  Shape result;
  for (auto [axis, dim] : llvm::enumerate(shapeOf(op.getOperand()))) {
    if (!llvm::is_contained(op.getAxes(), static_cast<int64_t>(axis)))
      result.push_back(dim);
    else if (op.getKeepDims())
      result.push_back(Dim::fixed(1));
  }
  return result;
}

std::optional<Shape> gatherShape(GatherOp op) {
  Shape data = shapeOf(op.getData());
  Shape result(data.begin(), data.begin() + op.getAxis());
  llvm::append_range(result, shapeOf(op.getIndices()));
  result.append(data.begin() + op.getAxis() + 1, data.end());
  return result;
}

std::optional<Shape> gatherNdShape(GatherNdOp op) {
  Shape data = shapeOf(op.getData()), indices = shapeOf(op.getIndices());
  Shape result(indices.begin(), indices.end() - 1);
  result.append(data.begin() + op.getBatchDims() + indices.back().size, data.end());
  return result;
}

std::optional<Shape> transposeShape(TransposeOp op) {
  Shape operand = shapeOf(op.getOperand()), result;
  for (int64_t p : op.getPermutation())
    result.push_back(operand[p]);
  return result;
}

std::optional<Shape> concatShape(ConcatOp op) {
  Shape result = shapeOf(op.getInputs().front());
  Dim &total = result[op.getAxis()];
  for (Value input : op.getInputs().drop_front()) {
    std::optional<SizeExpr> sum = toExpr(total),
                            part = toExpr(shapeOf(input)[op.getAxis()]);
    total = sum && part ? fromExpr(*sum + *part, op.getContext()) : Dim::anonymous();
  }
  return result;
}

std::optional<Shape> sliceShape(SliceOp op) {
  Shape result = shapeOf(op.getOperand());
  for (auto [i, axis] : llvm::enumerate(op.getAxes()))
    result[axis] =
        sliceDim(result[axis], op.getStarts()[i], op.getEnds()[i], op.getSteps()[i]);
  return result;
}

/// A reshape keeps its element count: one unknown result dimension is what is left
/// when the known ones divide the operand's count exactly.
std::optional<Shape> reshapeShape(ReshapeOp op) {
  Shape result = shapeOf(op.getResult());
  auto unknown = llvm::find_if(result, [](const Dim &d) { return d.isAnonymous(); });
  if (unknown == result.end() ||
      std::count_if(result.begin(), result.end(),
                    [](const Dim &d) { return d.isAnonymous(); }) != 1)
    return std::nullopt;
  *unknown = Dim::fixed(1);
  std::optional<SizeExpr> total = elementCount(shapeOf(op.getOperand()));
  std::optional<SizeExpr> known = elementCount(result);
  std::optional<SizeExpr> rest = total && known ? total->divide(*known) : std::nullopt;
  if (!rest || !rest->isNonNegative())
    return std::nullopt;
  *unknown = fromExpr(*rest, op.getContext());
  return result;
}

/// A broadcast result dimension facing an operand dimension other than 1 is that
/// dimension.
std::optional<Shape> broadcastShape(BroadcastOp op) {
  Shape operand = shapeOf(op.getOperand()), result = shapeOf(op.getResult());
  size_t lead = result.size() - operand.size();
  for (size_t i = 0; i < operand.size(); ++i)
    if (result[lead + i].isAnonymous() && !operand[i].isOne())
      result[lead + i] = operand[i];
  return result;
}

std::optional<Shape> attentionShape(AttentionOp op) {
  Shape q = shapeOf(op.getQuery()), v = shapeOf(op.getValue());
  return Shape{q[0], q[1], q[2], v[3]};
}

/// The shape `op`'s operands give its (single) result; nullopt when loom has no rule
/// for the op or the operands break one (the verifier reports that).
std::optional<Shape> derivedShape(Operation *op) {
  if (op->getNumResults() != 1 || op->getNumOperands() == 0 ||
      !llvm::isa<LoomDialect>(op->getDialect()))
    return std::nullopt;
  // Ops whose result has the shape of their first operand.
  if (op->hasTrait<OpTrait::SameOperandsAndResultShape>() ||
      op->hasTrait<OpTrait::SameOperandsAndResultType>() ||
      llvm::isa<CastOp, GeluOp, SoftmaxOp, CumsumOp, RmsNormOp, LayerNormOp, RopeOp>(op))
    return shapeOf(op->getOperand(0));
  return llvm::TypeSwitch<Operation *, std::optional<Shape>>(op)
      .Case<AddOp, SubOp, MulOp, DivOp, PowOp, MaxOp, MinOp, AndOp, OrOp, CompareOp,
            SelectOp>([](Operation *op) { return broadcastAll(op->getOperands()); })
      .Case([](IotaOp op) { return Shape{shapeOf(op.getOperand())[op.getDim()]}; })
      .Case([](GatherElementsOp op) { return shapeOf(op.getIndices()); })
      .Case(matmulShape)
      .Case(linearShape)
      .Case(reduceShape)
      .Case(gatherShape)
      .Case(gatherNdShape)
      .Case(transposeShape)
      .Case(concatShape)
      .Case(sliceShape)
      .Case(reshapeShape)
      .Case(broadcastShape)
      .Case(attentionShape)
      .Default([](Operation *) { return std::nullopt; });
}

struct LoomInferShapesPass : loom::impl::LoomInferShapesBase<LoomInferShapesPass> {
  /// Gives `op`'s result the dimensions its operands imply where it has `?`.
  void refine(Operation *op) {
    std::optional<Shape> derived = derivedShape(op);
    if (!derived)
      return;
    Value result = op->getResult(0);
    auto type = llvm::cast<RankedTensorType>(result.getType());
    Shape shape = getShape(type);
    if (shape.size() != derived->size())
      return;
    bool changed = false;
    for (auto [dim, known] : llvm::zip(shape, *derived))
      if (dim.isAnonymous() && !known.isAnonymous()) {
        dim = known;
        changed = true;
        ++numRefined;
        LLVM_DEBUG(llvm::dbgs()
                   << DEBUG_TYPE ": numRefined " << numRefined.getValue() << "\n");
      }
    if (changed)
      result.setType(makeTensorType(shape, type.getElementType()));
  }

  /// Refines a block in order; a kernel's arguments take its inputs' types and its
  /// results the types its body yields.
  void refine(Block &block) {
    for (Operation &op : block) {
      auto kernel = llvm::dyn_cast<KernelOp>(op);
      if (!kernel) {
        refine(&op);
        continue;
      }
      Block &body = kernel.getBody().front();
      for (auto [arg, input] : llvm::zip(body.getArguments(), kernel.getInputs()))
        arg.setType(input.getType());
      refine(body);
      for (auto [result, yielded] :
           llvm::zip(kernel.getResults(), body.getTerminator()->getOperands()))
        result.setType(yielded.getType());
    }
  }

  void runOnOperation() override {
    getOperation()->walk([&](func::FuncOp func) {
      if (func.isExternal())
        return;
      refine(func.getBody().front());
      // Function results follow what is returned.
      auto ret = llvm::cast<func::ReturnOp>(func.getBody().back().getTerminator());
      func.setFunctionType(FunctionType::get(func.getContext(), func.getArgumentTypes(),
                                             ret.getOperandTypes()));
    });
  }
};

} // namespace
