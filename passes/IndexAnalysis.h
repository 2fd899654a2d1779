//===- IndexAnalysis.h - Values that are functions of their own indices -*- C++ -*-===//
//
// Exporters build masks and positions from shapes: iota, broadcasts, slices, sums and
// comparisons. This analysis finds, for an integer or boolean value, whether each
// element is a known function of the element's own index, in one of two forms:
//
//   integer: c0 + sum_d c_d * i_d          (affine in the indices)
//   boolean: (c0 + sum_d c_d * i_d) <= 0   (an affine comparison; constants included)
//
// It is exact: every op it understands is followed by its definition (a slice shifts
// an index, a concatenation must agree on both sides, a cumulative sum of a constant
// is affine), and anything else is Unknown. A causal mask, for instance, is the boolean
// `i_kv - i_q <= 0`; the position-derived "same packed sequence" test that
// transformers adds is the constant true.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_PASSES_INDEXANALYSIS_H
#define LOOM_PASSES_INDEXANALYSIS_H

#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace loom {

struct IndexFn {
  enum class Kind { Unknown, Int, Bool };
  Kind kind = Kind::Unknown;
  /// Coefficient of each index of the value (its rank), and the constant term.
  llvm::SmallVector<int64_t, 4> coeffs;
  int64_t constant = 0;

  bool known() const { return kind != Kind::Unknown; }
  bool isConstant() const {
    return known() && llvm::all_of(coeffs, [](int64_t c) { return c == 0; });
  }
  /// For a constant: the integer, or for a boolean 1 (true) or 0.
  int64_t constantValue() const { return kind == Kind::Int ? constant : constant <= 0; }
  bool operator==(const IndexFn &other) const {
    return kind == other.kind && coeffs == other.coeffs && constant == other.constant;
  }
};

/// `f`, a function over the indices of `from`, seen in the coordinates of `to`, which
/// `from` broadcasts to (aligned right; static 1s stretch and always read index 0).
IndexFn alignTo(const IndexFn &f, mlir::Value from, mlir::Value to);

class IndexAnalysis {
public:
  /// What is known of `value` (memoized).
  const IndexFn &get(mlir::Value value);

private:
  IndexFn compute(mlir::Value value, int depth);
  IndexFn lookup(mlir::Value value, int depth);
  llvm::DenseMap<mlir::Value, IndexFn> cache_;
};

} // namespace loom

#endif // LOOM_PASSES_INDEXANALYSIS_H
