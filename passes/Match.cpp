//===- Match.cpp - Small matchers shared by the raising passes -------------===//

#include "passes/Match.h"

#include "mlir/IR/BuiltinAttributes.h"

#include <cmath>

using namespace mlir;

namespace loom::match {

std::optional<double> splatValue(Value value) {
  auto constant = value ? value.getDefiningOp<ConstantOp>() : nullptr;
  auto dense =
      constant ? llvm::dyn_cast<DenseElementsAttr>(constant.getValue()) : nullptr;
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
  Shape s = shapeOf(scale);
  Shape xs = shapeOf(x);
  if (int64_t(s.size()) != int64_t(xs.size()) - axis)
    return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (!s[i].isStatic() || s[i] != xs[axis + i])
      return false;
  return true;
}

/// The view of the last value of `chain` (ops from the value back towards the source)
/// in terms of the operand of its last op.
static std::optional<LayoutView> viewThrough(ArrayRef<Operation *> chain, Value value) {
  Value source = chain.empty() ? value : chain.back()->getOperand(0);
  Shape sourceShape = shapeOf(source);
  LayoutView view{source, {}};
  auto &groups = view.groups;
  for (size_t k = 0; k < sourceShape.size(); ++k)
    groups.push_back(sourceShape[k].isOne() ? SmallVector<int64_t, 2>{}
                                            : SmallVector<int64_t, 2>{int64_t(k)});
  for (Operation *op : llvm::reverse(chain)) {
    if (auto transpose = llvm::dyn_cast<TransposeOp>(op)) {
      SmallVector<SmallVector<int64_t, 2>, 4> permuted;
      for (int64_t p : transpose.getPermutation())
        permuted.push_back(groups[p]);
      groups = std::move(permuted);
      continue;
    }
    // A reshape regroups the atoms in row-major order.
    SmallVector<int64_t> atoms;
    for (const auto &group : groups)
      atoms.append(group.begin(), group.end());
    Shape to = shapeOf(op->getResult(0));
    SmallVector<SmallVector<int64_t, 2>, 4> regrouped;
    size_t next = 0;
    for (const Dim &dim : to) {
      SmallVector<int64_t, 2> group;
      if (!dim.isOne()) {
        std::optional<SizeExpr> want = toExpr(dim);
        if (!want)
          return std::nullopt;
        SizeExpr have = SizeExpr::constant(1);
        while (have != *want) {
          if (next == atoms.size())
            return std::nullopt;
          std::optional<SizeExpr> atom = toExpr(sourceShape[atoms[next]]);
          if (!atom)
            return std::nullopt;
          have = have * *atom;
          group.push_back(atoms[next++]);
        }
      }
      regrouped.push_back(group);
    }
    if (next != atoms.size())
      return std::nullopt;
    groups = std::move(regrouped);
  }
  return view;
}

std::optional<LayoutView> layoutView(Value value, function_ref<bool(Value)> stop) {
  SmallVector<Operation *> chain;
  Value source = value;
  while (Operation *op = source.getDefiningOp()) {
    if (!llvm::isa<ReshapeOp, TransposeOp>(op) || stop(source))
      break;
    chain.push_back(op);
    source = op->getOperand(0);
  }
  // The longest chain that only regroups whole dimensions (a reshape splitting a
  // dimension of an earlier source ends it).
  for (size_t length = chain.size() + 1; length-- > 0;)
    if (std::optional<LayoutView> view =
            viewThrough(ArrayRef(chain).take_front(length), value))
      return view;
  return std::nullopt;
}

std::optional<SmallVector<int64_t, 4>> LayoutView::permutation() const {
  Shape sourceShape = shapeOf(source);
  if (groups.size() != sourceShape.size())
    return std::nullopt;
  SmallVector<int64_t> units;
  for (size_t k = 0; k < sourceShape.size(); ++k)
    if (sourceShape[k].isOne())
      units.push_back(k);
  SmallVector<int64_t, 4> permutation;
  size_t nextUnit = 0;
  for (const auto &group : groups) {
    if (group.size() > 1)
      return std::nullopt;
    if (group.empty()) {
      if (nextUnit == units.size())
        return std::nullopt;
      permutation.push_back(units[nextUnit++]);
    } else {
      permutation.push_back(group[0]);
    }
  }
  return permutation;
}

Value headRepeatSource(Value value, int64_t &repeats) {
  auto broadcast = value.getDefiningOp<BroadcastOp>();
  auto split = broadcast ? broadcast.getOperand().getDefiningOp<ReshapeOp>() : nullptr;
  if (!split)
    return nullptr;
  Value x = split.getOperand();
  Shape xs = shapeOf(x);
  Shape grouped = shapeOf(split);
  Shape copies = shapeOf(broadcast);
  if (xs.size() != 4 || copies.size() != 5 || !copies[2].isStatic())
    return nullptr;
  int64_t r = copies[2].size;
  if (grouped != Shape{xs[0], xs[1], Dim::fixed(1), xs[2], xs[3]} ||
      copies != Shape{xs[0], xs[1], Dim::fixed(r), xs[2], xs[3]})
    return nullptr;
  repeats = r;
  return x;
}

Value stripHeadRepeat(Value value, int64_t &repeats) {
  repeats = 1;
  auto merge = value.getDefiningOp<ReshapeOp>();
  int64_t r = 1;
  Value x = merge ? headRepeatSource(merge.getOperand(), r) : nullptr;
  if (!x)
    return value;
  Shape xs = shapeOf(x);
  Shape merged = shapeOf(merge);
  if (!xs[1].isStatic() ||
      merged != Shape{xs[0], Dim::fixed(xs[1].size * r), xs[2], xs[3]})
    return value;
  repeats = r;
  return x;
}

} // namespace loom::match
