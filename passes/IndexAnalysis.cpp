//===- IndexAnalysis.cpp - Values that are functions of their own indices --===//

#include "passes/IndexAnalysis.h"

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/Shape.h"
#include "passes/Match.h"

#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;

namespace loom {

namespace {

constexpr int kMaxDepth = 64;

IndexFn unknown() { return {}; }

IndexFn constantFn(IndexFn::Kind kind, int64_t rank, int64_t value) {
  IndexFn f;
  f.kind = kind;
  f.coeffs.assign(rank, 0);
  f.constant = value;
  return f;
}

/// A boolean constant as a predicate `c <= 0`.
IndexFn boolConstant(int64_t rank, bool value) {
  return constantFn(IndexFn::Kind::Bool, rank, value ? 0 : 1);
}

} // namespace

IndexFn alignTo(const IndexFn &f, Value operand, Value result) {
  if (!f.known())
    return f;
  Shape from = shapeOf(operand);
  int64_t rank = shapeOf(result).size(), offset = rank - int64_t(from.size());
  IndexFn out = constantFn(f.kind, rank, f.constant);
  for (size_t k = 0; k < from.size(); ++k)
    if (!from[k].isOne())
      out.coeffs[k + offset] = f.coeffs[k];
  return out;
}

namespace {

IndexFn combine(const IndexFn &a, const IndexFn &b, int64_t sign) {
  IndexFn out = a;
  for (size_t k = 0; k < out.coeffs.size(); ++k)
    out.coeffs[k] += sign * b.coeffs[k];
  out.constant += sign * b.constant;
  return out;
}

IndexFn scaled(const IndexFn &a, int64_t factor) {
  IndexFn out = a;
  for (int64_t &c : out.coeffs)
    c *= factor;
  out.constant *= factor;
  return out;
}

/// `lhs kind rhs` for integer functions, as `e <= 0`.
IndexFn comparison(CompareKind kind, const IndexFn &lhs, const IndexFn &rhs) {
  IndexFn d = combine(lhs, rhs, -1);
  d.kind = IndexFn::Kind::Bool;
  int64_t rank = d.coeffs.size();
  switch (kind) {
  case CompareKind::LE:
    return d;
  case CompareKind::LT:
    d.constant += 1;
    return d;
  case CompareKind::GE:
    return scaled(d, -1);
  case CompareKind::GT: {
    IndexFn e = scaled(d, -1);
    e.constant += 1;
    return e;
  }
  case CompareKind::EQ:
  case CompareKind::NE:
    if (!d.isConstant())
      return unknown();
    return boolConstant(rank, (d.constant == 0) == (kind == CompareKind::EQ));
  }
  return unknown();
}

IndexFn negation(const IndexFn &p) {
  IndexFn e = scaled(p, -1);
  e.constant += 1;
  return e;
}

/// Indices are never negative: `e <= 0` with no positive coefficient and a constant
/// term <= 0 always holds, and with no negative coefficient and a positive constant
/// never does.
IndexFn simplify(IndexFn f) {
  if (f.kind != IndexFn::Kind::Bool || f.isConstant())
    return f;
  int64_t rank = f.coeffs.size();
  if (f.constant <= 0 && llvm::all_of(f.coeffs, [](int64_t c) { return c <= 0; }))
    return boolConstant(rank, true);
  if (f.constant > 0 && llvm::all_of(f.coeffs, [](int64_t c) { return c >= 0; }))
    return boolConstant(rank, false);
  return f;
}

bool isIntegerTensor(Value v) {
  return llvm::isa<IntegerType>(
      llvm::cast<RankedTensorType>(v.getType()).getElementType());
}

} // namespace

const IndexFn &IndexAnalysis::get(Value value) {
  lookup(value, 0);
  return cache_[value];
}

IndexFn IndexAnalysis::lookup(Value value, int depth) {
  auto it = cache_.find(value);
  if (it != cache_.end())
    return it->second;
  IndexFn f = depth > kMaxDepth || !isIntegerTensor(value)
                  ? unknown()
                  : simplify(compute(value, depth));
  cache_[value] = f;
  return f;
}

IndexFn IndexAnalysis::compute(Value value, int depth) {
  Operation *op = value.getDefiningOp();
  if (!op)
    return unknown();
  int64_t rank = shapeOf(value).size();
  bool isBool =
      llvm::cast<RankedTensorType>(value.getType()).getElementType().isInteger(1);
  auto operand = [&](Value v) { return alignTo(lookup(v, depth + 1), v, value); };

  if (auto constant = llvm::dyn_cast<ConstantOp>(op)) {
    std::optional<double> splat = match::splatValue(constant);
    if (!splat)
      return unknown();
    return isBool ? boolConstant(rank, *splat != 0.0)
                  : constantFn(IndexFn::Kind::Int, rank, int64_t(*splat));
  }
  if (llvm::isa<IotaOp>(op)) {
    IndexFn f = constantFn(IndexFn::Kind::Int, 1, 0);
    f.coeffs[0] = 1;
    return f;
  }
  if (llvm::isa<BroadcastOp>(op))
    return operand(op->getOperand(0));
  if (auto reshape = llvm::dyn_cast<ReshapeOp>(op)) {
    // Only reshapes that add or drop static 1s keep each index's meaning.
    Shape from = shapeOf(reshape.getOperand()), to = shapeOf(value);
    SmallVector<int64_t> fromDims, toDims;
    for (size_t k = 0; k < from.size(); ++k)
      if (!from[k].isOne())
        fromDims.push_back(k);
    for (size_t k = 0; k < to.size(); ++k)
      if (!to[k].isOne())
        toDims.push_back(k);
    if (fromDims.size() != toDims.size())
      return unknown();
    for (size_t i = 0; i < fromDims.size(); ++i)
      if (from[fromDims[i]] != to[toDims[i]] || from[fromDims[i]].isAnonymous())
        return unknown();
    IndexFn in = lookup(reshape.getOperand(), depth + 1);
    if (!in.known())
      return in;
    IndexFn out = constantFn(in.kind, rank, in.constant);
    for (size_t i = 0; i < fromDims.size(); ++i)
      out.coeffs[toDims[i]] = in.coeffs[fromDims[i]];
    return out;
  }
  if (llvm::isa<AddOp, SubOp, MulOp>(op)) {
    IndexFn a = operand(op->getOperand(0)), b = operand(op->getOperand(1));
    if (a.kind != IndexFn::Kind::Int || b.kind != IndexFn::Kind::Int)
      return unknown();
    if (llvm::isa<AddOp>(op))
      return combine(a, b, 1);
    if (llvm::isa<SubOp>(op))
      return combine(a, b, -1);
    if (a.isConstant())
      return scaled(b, a.constant);
    if (b.isConstant())
      return scaled(a, b.constant);
    return unknown();
  }
  if (auto compare = llvm::dyn_cast<CompareOp>(op)) {
    IndexFn a = operand(compare.getLhs()), b = operand(compare.getRhs());
    if (a.kind != IndexFn::Kind::Int || b.kind != IndexFn::Kind::Int)
      return unknown();
    return comparison(compare.getPredicate(), a, b);
  }
  if (auto notOp = llvm::dyn_cast<NotOp>(op)) {
    IndexFn p = lookup(notOp.getOperand(), depth + 1);
    return p.known() ? negation(p) : p;
  }
  if (llvm::isa<AndOp, OrOp>(op)) {
    bool isAnd = llvm::isa<AndOp>(op);
    IndexFn a = operand(op->getOperand(0)), b = operand(op->getOperand(1));
    for (auto [x, y] : {std::pair(a, b), std::pair(b, a)})
      if (x.isConstant()) {
        bool value = x.constantValue();
        // true and y = y, false and y = false; false or y = y, true or y = true.
        if (value == isAnd)
          return y;
        return boolConstant(rank, value);
      }
    return a == b ? a : unknown();
  }
  if (auto cast = llvm::dyn_cast<CastOp>(op)) {
    IndexFn in = lookup(cast.getOperand(), depth + 1);
    if (!in.known())
      return in;
    if (in.kind == IndexFn::Kind::Int && !isBool)
      return in;
    if (in.isConstant())
      return isBool ? boolConstant(rank, in.constantValue() != 0)
                    : constantFn(IndexFn::Kind::Int, rank, in.constantValue());
    return unknown();
  }
  if (auto slice = llvm::dyn_cast<SliceOp>(op)) {
    IndexFn in = lookup(slice.getOperand(), depth + 1);
    if (!in.known())
      return in;
    for (size_t i = 0; i < slice.getAxes().size(); ++i) {
      int64_t axis = slice.getAxes()[i], start = slice.getStarts()[i];
      if (in.coeffs[axis] == 0)
        continue;
      if (slice.getSteps()[i] != 1 || start < 0)
        return unknown();
      in.constant += in.coeffs[axis] * start;
    }
    return in;
  }
  if (auto concat = llvm::dyn_cast<ConcatOp>(op)) {
    // Each part must agree with one function of the result's index along the axis on
    // the stretch it covers; a part one element long only has to agree at its offset.
    int64_t axis = concat.getAxis();
    struct Part {
      IndexFn fn;
      int64_t offset, length; // -1 when not static
    };
    SmallVector<Part> parts;
    int64_t offset = 0;
    for (Value input : concat.getInputs()) {
      IndexFn fn = lookup(input, depth + 1);
      if (!fn.known())
        return fn;
      Dim size = shapeOf(input)[axis];
      int64_t length = size.isStatic() ? size.size : -1;
      parts.push_back({fn, offset, length});
      offset = offset >= 0 && length >= 0 ? offset + length : -1;
    }
    auto global = [&](const Part &part) -> std::optional<IndexFn> {
      IndexFn g = part.fn;
      if (g.coeffs[axis] != 0) {
        if (part.offset < 0)
          return std::nullopt;
        g.constant -= g.coeffs[axis] * part.offset;
      }
      return g;
    };
    const Part *model = &parts.front();
    for (const Part &part : parts)
      if (part.length != 1) {
        model = &part;
        break;
      }
    std::optional<IndexFn> agreed = global(*model);
    if (!agreed)
      return unknown();
    for (const Part &part : parts) {
      IndexFn expected = *agreed;
      if (part.length == 1) {
        if (part.offset < 0)
          return unknown();
        expected.constant += expected.coeffs[axis] * part.offset;
        expected.coeffs[axis] = 0;
        IndexFn got = part.fn;
        got.coeffs[axis] = 0;
        if (!(got == expected))
          return unknown();
      } else {
        std::optional<IndexFn> got = global(part);
        if (!got || !(*got == expected))
          return unknown();
      }
    }
    return *agreed;
  }
  if (auto cumsum = llvm::dyn_cast<CumsumOp>(op)) {
    IndexFn in = lookup(cumsum.getOperand(), depth + 1);
    if (!in.isConstant() || in.kind != IndexFn::Kind::Int || cumsum.getReverse())
      return unknown();
    // The running sum of a constant c is c * (i + 1), or c * i when exclusive.
    IndexFn out =
        constantFn(IndexFn::Kind::Int, rank, cumsum.getExclusive() ? 0 : in.constant);
    out.coeffs[cumsum.getAxis()] = in.constant;
    return out;
  }
  if (llvm::isa<GatherOp, GatherElementsOp, GatherNdOp>(op)) {
    // Every element comes from the data: a constant stays that constant.
    IndexFn data = lookup(op->getOperand(0), depth + 1);
    if (!data.isConstant())
      return unknown();
    return constantFn(data.kind, rank, data.constant);
  }
  if (auto select = llvm::dyn_cast<SelectOp>(op)) {
    IndexFn c = operand(select.getCondition());
    if (!c.isConstant())
      return unknown();
    return operand(c.constantValue() ? select.getTrueValue() : select.getFalseValue());
  }
  return unknown();
}

} // namespace loom
