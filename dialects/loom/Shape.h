//===- Shape.h - Tensor shapes with named dynamic dimensions ------*- C++ -*-===//
//
// The shape rules of the loom dialect, shared by its verifiers, folders and passes: a
// dimension is a static size, a named dynamic size (`#loom.dims`), or an anonymous `?`.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DIALECTS_LOOM_SHAPE_H
#define LOOM_DIALECTS_LOOM_SHAPE_H

#include "dialects/loom/SizeExpr.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/SmallVector.h"

#include <string>

namespace loom {

/// One dimension of a loom tensor.
struct Dim {
  /// The static size, or ShapedType::kDynamic.
  int64_t size = mlir::ShapedType::kDynamic;
  /// The name of a dynamic dimension; null for static and anonymous dimensions.
  mlir::StringAttr name;

  static Dim fixed(int64_t size) { return Dim{size, {}}; }
  static Dim named(mlir::StringAttr name) {
    return Dim{mlir::ShapedType::kDynamic, name};
  }
  static Dim anonymous() { return Dim{}; }

  bool isStatic() const { return !mlir::ShapedType::isDynamic(size); }
  bool isNamed() const { return static_cast<bool>(name); }
  bool isAnonymous() const { return !isStatic() && !isNamed(); }
  bool isOne() const { return size == 1; }
  bool operator==(const Dim &other) const {
    return size == other.size && name == other.name;
  }
  bool operator!=(const Dim &other) const { return !(*this == other); }
};

using Shape = llvm::SmallVector<Dim, 4>;

/// The dimensions of `type`, named where its `#loom.dims` encoding names them.
Shape getShape(mlir::RankedTensorType type);
/// The dimensions of a value of ranked tensor type.
Shape shapeOf(mlir::Value value);

/// A tensor type with `shape`; carries a `#loom.dims` encoding iff a dimension is named
/// (unknown sizes beside named ones are written `?` in the encoding).
mlir::RankedTensorType makeTensorType(llvm::ArrayRef<Dim> shape, mlir::Type elementType);

/// True when `a` and `b` may be the same size at run time under the naming rules: equal
/// static sizes, equal names, or either one anonymous. A name never equals a static size.
bool areCompatible(const Dim &a, const Dim &b);

/// Shapes of equal rank whose dimensions are pairwise compatible.
bool areCompatible(llvm::ArrayRef<Dim> a, llvm::ArrayRef<Dim> b);

/// Broadcasts `a` against `b` numpy-style (align right; a static 1 stretches; a name only
/// meets the same name or an anonymous dimension). On failure returns false and says why.
bool broadcastShapes(llvm::ArrayRef<Dim> a, llvm::ArrayRef<Dim> b, Shape &result,
                     std::string &why);

/// The size as an expression (a constant for a static size); nullopt if anonymous.
std::optional<SizeExpr> toExpr(const Dim &dim);
/// The dimension of a size: static for a constant, named by the canonical text
/// otherwise.
Dim fromExpr(const SizeExpr &expr, mlir::MLIRContext *context);

/// The element count of `shape` as a size expression; nullopt when an anonymous
/// dimension makes it unknowable.
std::optional<SizeExpr> elementCount(llvm::ArrayRef<Dim> shape);

/// "4", "seq" or "?".
std::string toString(const Dim &dim);
/// "[batch, seq, 256]".
std::string toString(llvm::ArrayRef<Dim> shape);

/// The size of a slice `range(start, end, step)` of `dim` with Python's clamping, when it
/// can be known: always for a static dimension. For a dynamic one, assuming the axis is
/// at least as long as the bounds need (the runtime checks it): `[s:]` is `dim - s`,
/// `[s:-e]` is `dim - s - e`, constant bounds `[a:b]` and bounds counted from the end
/// give a static size. Anything else gives an anonymous dimension.
Dim sliceDim(const Dim &dim, int64_t start, int64_t end, int64_t step);

} // namespace loom

#endif // LOOM_DIALECTS_LOOM_SHAPE_H
