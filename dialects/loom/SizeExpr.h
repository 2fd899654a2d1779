//===- SizeExpr.h - Sizes as polynomials of named dimensions ------*- C++ -*-===//
//
// A dynamic size such as `seq+1` or `batch*seq`: a polynomial with integer coefficients
// over dimension names. Its canonical text is what `#loom.dims` stores, so two sizes are
// equal exactly when their texts are.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DIALECTS_LOOM_SIZEEXPR_H
#define LOOM_DIALECTS_LOOM_SIZEEXPR_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace loom {

class SizeExpr {
public:
  SizeExpr() = default;
  static SizeExpr constant(int64_t value);
  static SizeExpr symbol(llvm::StringRef name);
  /// Parses canonical or hand-written text: terms like `2*batch*seq`, joined by + and -.
  static std::optional<SizeExpr> parse(llvm::StringRef text);

  bool isConstant() const;
  /// The value of a constant expression.
  int64_t constantValue() const;
  /// True when every coefficient is non-negative (the size cannot be negative).
  bool isNonNegative() const;

  SizeExpr operator+(const SizeExpr &other) const;
  SizeExpr operator-(const SizeExpr &other) const;
  SizeExpr operator*(const SizeExpr &other) const;
  /// Exact division by a monomial (`c*x*y`); nullopt when `other` is not one or does
  /// not divide every term.
  std::optional<SizeExpr> divide(const SizeExpr &other) const;
  /// The value with each name replaced by its size in `bindings`; nullopt when a name
  /// is unbound. `unbound`, when given, receives the first such name.
  std::optional<int64_t> evaluate(const std::map<std::string, int64_t> &bindings,
                                  std::string *unbound = nullptr) const;
  bool operator==(const SizeExpr &other) const { return terms_ == other.terms_; }
  bool operator!=(const SizeExpr &other) const { return !(*this == other); }

  /// Canonical text: terms by decreasing degree then name, `seq+1`, `batch*seq`, `2*seq-1`.
  std::string str() const;

private:
  /// Monomial (sorted names, repeated for powers) -> nonzero coefficient.
  std::map<std::vector<std::string>, int64_t> terms_;
};

} // namespace loom

#endif // LOOM_DIALECTS_LOOM_SIZEEXPR_H
