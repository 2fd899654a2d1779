//===- Match.cpp - Small matchers shared by the raising passes -------------===//

#include "passes/Match.h"

#include "mlir/IR/BuiltinAttributes.h"

#include <cmath>

using namespace mlir;

namespace loom::match {

std::optional<double> splatValue(Value value) {
  auto constant = value ? value.getDefiningOp<ConstantOp>() : nullptr;
  auto dense = constant ? llvm::dyn_cast<DenseElementsAttr>(constant.getValue()) : nullptr;
  if (!dense || (!dense.isSplat() && dense.getNumElements() != 1))
    return std::nullopt;
  Type element = dense.getElementType();
  if (llvm::isa<FloatType>(element))
    return dense.getSplatValue<APFloat>().convertToDouble();
  if (element.isInteger(1))
    return dense.getSplatValue<bool>() ? 1.0 : 0.0;
  return double(dense.getSplatValue<APInt>().getSExtValue());
}

bool isSplat(Value value, double expected) {
  std::optional<double> actual = splatValue(value);
  if (!actual)
    return false;
  if (expected == 0.0)
    return *actual == 0.0;
  return std::fabs(*actual - expected) <= 1e-6 * std::fabs(expected);
}

SmallVector<Value, 4> productFactors(Value root, unsigned maxFactors) {
  SmallVector<Value, 4> factors{root}, leaves;
  while (!factors.empty()) {
    Value v = factors.pop_back_val();
    auto mul = v.getDefiningOp<MulOp>();
    bool expand = mul && (v == root || v.hasOneUse()) &&
                  leaves.size() + factors.size() + 2 <= maxFactors;
    if (expand) {
      factors.push_back(mul.getRhs());
      factors.push_back(mul.getLhs());
    } else {
      leaves.push_back(v);
    }
  }
  return leaves;
}

Value squareOperand(Value value) {
  if (auto mul = value.getDefiningOp<MulOp>())
    return mul.getLhs() == mul.getRhs() ? mul.getLhs() : Value();
  if (auto pow = value.getDefiningOp<PowOp>())
    return splatValue(pow.getRhs()) == 2.0 ? pow.getLhs() : Value();
  return {};
}

std::optional<int64_t> trailingReduction(Operation *op, ReduceKind kind) {
  auto reduce = llvm::dyn_cast_or_null<ReduceOp>(op);
  if (!reduce || reduce.getKind() != kind || !reduce.getKeepDims())
    return std::nullopt;
  SmallVector<int64_t> axes(reduce.getAxes());
  llvm::sort(axes);
  int64_t rank = llvm::cast<RankedTensorType>(reduce.getOperand().getType()).getRank();
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] != rank - int64_t(axes.size()) + int64_t(i))
      return std::nullopt;
  return axes.front();
}

bool coversTrailingDims(Value scale, Value x, int64_t axis) {
  Shape s = getShape(llvm::cast<RankedTensorType>(scale.getType()));
  Shape xs = getShape(llvm::cast<RankedTensorType>(x.getType()));
  if (int64_t(s.size()) != int64_t(xs.size()) - axis)
    return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (!s[i].isStatic() || s[i] != xs[axis + i])
      return false;
  return true;
}

} // namespace loom::match
