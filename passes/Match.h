//===- Match.h - Small matchers shared by the raising passes -----*- C++ -*-===//
//
// The raising passes recognize primitive-op spellings of transformer blocks. These
// helpers answer the questions every pattern asks: is this value a scalar constant (and
// which), what does a product of several factors consist of, which trailing axes does a
// reduction cover.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_PASSES_MATCH_H
#define LOOM_PASSES_MATCH_H

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/Shape.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace loom::match {

/// The value of a constant whose elements are all equal (a splat, or one element),
/// as a double; nullopt otherwise.
std::optional<double> splatValue(mlir::Value value);

/// True if `value` is a splat within a relative 1e-6 of `expected` (constants are
/// written rounded to their element type).
bool isSplat(mlir::Value value, double expected);

/// The factors of a product: follows `loom.mul` ops through operands that are used
/// only by the product (so no factor is shared with other computations), up to
/// `maxFactors` leaves. `root` itself may be used anywhere.
llvm::SmallVector<mlir::Value, 4> productFactors(mlir::Value root, unsigned maxFactors = 4);

/// Removes the first factor satisfying `predicate` from `factors`; false if none.
template <typename Pred>
bool takeFactor(llvm::SmallVectorImpl<mlir::Value> &factors, Pred predicate) {
  for (auto *it = factors.begin(); it != factors.end(); ++it)
    if (predicate(*it)) {
      factors.erase(it);
      return true;
    }
  return false;
}

/// `x * x` or `x ^ 2`: returns x.
mlir::Value squareOperand(mlir::Value value);

/// If `reduce` is a keep_dims reduction of `kind` over the trailing axes [axis, rank),
/// returns axis.
std::optional<int64_t> trailingReduction(mlir::Operation *reduce, ReduceKind kind);

/// True if `scale` (a tensor) has exactly the shape of the dimensions [axis, rank) of
/// `x`, all static: what the `scale`/`bias` of rms_norm and layer_norm must be.
bool coversTrailingDims(mlir::Value scale, mlir::Value x, int64_t axis);

/// `value` seen through a chain of loom.reshape and loom.transpose ops as a regrouping
/// of the dimensions of `source`: `groups[i]` lists the source dimensions (never its
/// static 1s) that dimension i of `value` merges, in row-major order; a 1 has none.
/// Fails when a reshape would split a dimension into parts that are not whole source
/// dimensions. The walk stops at a value for which `stop` is true.
struct LayoutView {
  mlir::Value source;
  llvm::SmallVector<llvm::SmallVector<int64_t, 2>, 4> groups;

  /// The permutation when `value` is `transpose(source, permutation)` (1s pair up in
  /// order).
  std::optional<llvm::SmallVector<int64_t, 4>> permutation() const;
};
std::optional<LayoutView> layoutView(mlir::Value value,
                                     llvm::function_ref<bool(mlir::Value)> stop);

/// If `broadcast` repeats each head of `x [B, Hkv, S, D]` `repeats` times in place (x
/// reshaped to `[B, Hkv, 1, S, D]` and broadcast to `[B, Hkv, r, S, D]`), returns x and
/// sets `repeats`; otherwise null.
mlir::Value headRepeatSource(mlir::Value broadcast, int64_t &repeats);

/// `value` as a head repeat merged back to `[B, Hkv * r, S, D]` (reshape of the above):
/// returns x and sets `repeats`; otherwise returns value, 1.
mlir::Value stripHeadRepeat(mlir::Value value, int64_t &repeats);

} // namespace loom::match

#endif // LOOM_PASSES_MATCH_H
