//===- Shape.cpp - Tensor shapes with named dynamic dimensions -------------===//

#include "dialects/loom/Shape.h"
#include "dialects/loom/LoomDialect.h"

#include "llvm/Support/raw_ostream.h"

#include <limits>

using namespace mlir;

namespace loom {

Shape getShape(RankedTensorType type) {
  auto dims = llvm::dyn_cast_or_null<DimsAttr>(type.getEncoding());
  Shape shape;
  size_t nextName = 0;
  for (int64_t size : type.getShape()) {
    if (!ShapedType::isDynamic(size)) {
      shape.push_back(Dim::fixed(size));
    } else if (dims && nextName < dims.getNames().size()) {
      StringAttr name = dims.getNames()[nextName++];
      shape.push_back(name.getValue() == "?" ? Dim::anonymous() : Dim::named(name));
    } else {
      shape.push_back(Dim::anonymous());
    }
  }
  return shape;
}

RankedTensorType makeTensorType(ArrayRef<Dim> shape, Type elementType) {
  SmallVector<int64_t> sizes;
  SmallVector<StringAttr> names;
  bool anyNamed = false;
  MLIRContext *context = elementType.getContext();
  for (const Dim &dim : shape) {
    sizes.push_back(dim.size);
    if (dim.isNamed()) {
      names.push_back(dim.name);
      anyNamed = true;
    } else if (dim.isAnonymous()) {
      names.push_back(StringAttr::get(context, "?"));
    }
  }
  // Without any name there is nothing to encode.
  Attribute encoding;
  if (anyNamed)
    encoding = DimsAttr::get(context, names);
  return RankedTensorType::get(sizes, elementType, encoding);
}

bool areCompatible(const Dim &a, const Dim &b) {
  if (a.isAnonymous() || b.isAnonymous())
    return true;
  return a == b;
}

bool areCompatible(ArrayRef<Dim> a, ArrayRef<Dim> b) {
  if (a.size() != b.size())
    return false;
  for (auto [x, y] : llvm::zip_equal(a, b))
    if (!areCompatible(x, y))
      return false;
  return true;
}

bool broadcastShapes(ArrayRef<Dim> a, ArrayRef<Dim> b, Shape &result, std::string &why) {
  size_t rank = std::max(a.size(), b.size());
  result.assign(rank, Dim::fixed(1));
  for (size_t i = 0; i < rank; ++i) {
    // Walk from the right; a missing leading dimension acts as a static 1.
    Dim x = i < a.size() ? a[a.size() - 1 - i] : Dim::fixed(1);
    Dim y = i < b.size() ? b[b.size() - 1 - i] : Dim::fixed(1);
    Dim &out = result[rank - 1 - i];
    if (x.isOne()) {
      out = y;
    } else if (y.isOne()) {
      out = x;
    } else if (x.isAnonymous()) {
      out = y;
    } else if (y.isAnonymous() || x == y) {
      out = x;
    } else {
      llvm::raw_string_ostream os(why);
      os << "dimension " << rank - 1 - i << " (counting the broadcast shape) is "
         << toString(x) << " in one operand and " << toString(y) << " in the other";
      if (x.isNamed() || y.isNamed())
        os << "; a named dimension only broadcasts against itself or a static 1";
      return false;
    }
  }
  return true;
}

std::optional<SizeExpr> toExpr(const Dim &dim) {
  if (dim.isStatic())
    return SizeExpr::constant(dim.size);
  if (dim.isNamed())
    return SizeExpr::parse(dim.name.getValue());
  return std::nullopt;
}

Dim fromExpr(const SizeExpr &expr, MLIRContext *context) {
  if (expr.isConstant())
    return Dim::fixed(expr.constantValue());
  return Dim::named(StringAttr::get(context, expr.str()));
}

std::string toString(const Dim &dim) {
  if (dim.isStatic())
    return std::to_string(dim.size);
  if (dim.isNamed())
    return dim.name.str();
  return "?";
}

std::string toString(ArrayRef<Dim> shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + toString(shape[i]);
  return text + "]";
}

/// Python's slice length for a static axis of `size` elements.
static int64_t staticSliceLength(int64_t size, int64_t start, int64_t end, int64_t step) {
  auto clamp = [&](int64_t v, int64_t lo, int64_t hi) {
    if (v < 0)
      v = v < -size ? lo : v + size;
    return std::min(std::max(v, lo), hi);
  };
  if (step > 0) {
    int64_t s = clamp(start, 0, size), e = clamp(end, 0, size);
    return e > s ? (e - s + step - 1) / step : 0;
  }
  int64_t s = clamp(start, -1, size - 1), e = clamp(end, -1, size - 1);
  return s > e ? (s - e + (-step) - 1) / (-step) : 0;
}

Shape shapeOf(Value value) {
  return getShape(llvm::cast<RankedTensorType>(value.getType()));
}

std::optional<SizeExpr> elementCount(ArrayRef<Dim> shape) {
  SizeExpr count = SizeExpr::constant(1);
  for (const Dim &dim : shape) {
    std::optional<SizeExpr> size = toExpr(dim);
    if (!size)
      return std::nullopt;
    count = count * *size;
  }
  return count;
}

Dim sliceDim(const Dim &dim, int64_t start, int64_t end, int64_t step) {
  if (dim.isStatic())
    return Dim::fixed(staticSliceLength(dim.size, start, end, step));
  constexpr int64_t toEnd = std::numeric_limits<int64_t>::max();
  if (step == 1 && start == 0 && end == toEnd)
    return dim;
  if (step == 1 && start > 0 && end == toEnd && dim.isNamed())
    if (std::optional<SizeExpr> size = toExpr(dim))
      return fromExpr(*size - SizeExpr::constant(start), dim.name.getContext());
  if (step == 1 && start >= 0 && end < 0 && dim.isNamed())
    if (std::optional<SizeExpr> size = toExpr(dim))
      return fromExpr(*size - SizeExpr::constant(start - end), dim.name.getContext());
  if (step > 0 && start >= 0 && end >= start && end != toEnd)
    return Dim::fixed((end - start + step - 1) / step);
  if (step > 0 && start < 0 && (end < 0 || end == toEnd)) {
    int64_t stop = end == toEnd ? 0 : end;
    return Dim::fixed(stop > start ? (stop - start + step - 1) / step : 0);
  }
  return Dim::anonymous();
}

} // namespace loom
