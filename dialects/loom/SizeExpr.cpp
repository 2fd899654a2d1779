//===- SizeExpr.cpp - Sizes as polynomials of named dimensions --------------===//

#include "dialects/loom/SizeExpr.h"

#include "llvm/ADT/StringExtras.h"

#include <algorithm>

namespace loom {

SizeExpr SizeExpr::constant(int64_t value) {
  SizeExpr e;
  if (value != 0)
    e.terms_[{}] = value;
  return e;
}

SizeExpr SizeExpr::symbol(llvm::StringRef name) {
  SizeExpr e;
  e.terms_[{name.str()}] = 1;
  return e;
}

bool SizeExpr::isConstant() const {
  return terms_.empty() || (terms_.size() == 1 && terms_.begin()->first.empty());
}

int64_t SizeExpr::constantValue() const {
  auto it = terms_.find({});
  return it == terms_.end() ? 0 : it->second;
}

bool SizeExpr::isNonNegative() const {
  return std::all_of(terms_.begin(), terms_.end(),
                     [](const auto &term) { return term.second > 0; });
}

std::optional<int64_t> SizeExpr::evaluate(const std::map<std::string, int64_t> &bindings,
                                          std::string *unbound) const {
  int64_t total = 0;
  for (const auto &[monomial, coefficient] : terms_) {
    int64_t term = coefficient;
    for (const std::string &name : monomial) {
      auto it = bindings.find(name);
      if (it == bindings.end()) {
        if (unbound)
          *unbound = name;
        return std::nullopt;
      }
      term *= it->second;
    }
    total += term;
  }
  return total;
}

SizeExpr SizeExpr::operator+(const SizeExpr &other) const {
  SizeExpr sum = *this;
  for (const auto &[monomial, coefficient] : other.terms_)
    if ((sum.terms_[monomial] += coefficient) == 0)
      sum.terms_.erase(monomial);
  return sum;
}

SizeExpr SizeExpr::operator-(const SizeExpr &other) const {
  return *this + other * constant(-1);
}

SizeExpr SizeExpr::operator*(const SizeExpr &other) const {
  SizeExpr product;
  for (const auto &[a, ca] : terms_) {
    for (const auto &[b, cb] : other.terms_) {
      std::vector<std::string> monomial = a;
      monomial.insert(monomial.end(), b.begin(), b.end());
      std::sort(monomial.begin(), monomial.end());
      if ((product.terms_[monomial] += ca * cb) == 0)
        product.terms_.erase(monomial);
    }
  }
  return product;
}

std::optional<SizeExpr> SizeExpr::divide(const SizeExpr &other) const {
  if (other.terms_.size() != 1)
    return std::nullopt;
  const auto &[divisor, coefficient] = *other.terms_.begin();
  SizeExpr quotient;
  for (const auto &[monomial, c] : terms_) {
    if (c % coefficient != 0)
      return std::nullopt;
    std::vector<std::string> rest = monomial;
    for (const std::string &name : divisor) {
      auto it = std::find(rest.begin(), rest.end(), name);
      if (it == rest.end())
        return std::nullopt;
      rest.erase(it);
    }
    quotient.terms_[rest] = c / coefficient;
  }
  return quotient;
}

std::string SizeExpr::str() const {
  if (terms_.empty())
    return "0";
  // Higher degree first, then by names; the constant last.
  std::vector<std::pair<std::vector<std::string>, int64_t>> ordered(terms_.begin(),
                                                                     terms_.end());
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto &a, const auto &b) {
    return a.first.size() > b.first.size();
  });
  std::string text;
  for (const auto &[monomial, c] : ordered) {
    int64_t magnitude = c < 0 ? -c : c;
    if (!text.empty() || c < 0)
      text += c < 0 ? "-" : "+";
    if (monomial.empty()) {
      text += std::to_string(magnitude);
      continue;
    }
    if (magnitude != 1)
      text += std::to_string(magnitude) + "*";
    for (size_t i = 0; i < monomial.size(); ++i)
      text += (i ? "*" : "") + monomial[i];
  }
  return text;
}

std::optional<SizeExpr> SizeExpr::parse(llvm::StringRef text) {
  SizeExpr result;
  size_t pos = 0;
  bool first = true;
  while (pos < text.size() || first) {
    int64_t sign = 1;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      sign = text[pos] == '-' ? -1 : 1;
      ++pos;
    } else if (!first) {
      return std::nullopt;
    }
    first = false;
    // A term: factors (numbers or identifiers) joined by '*'.
    SizeExpr term = constant(sign);
    while (true) {
      if (pos >= text.size())
        return std::nullopt;
      if (llvm::isDigit(text[pos])) {
        int64_t value = 0;
        while (pos < text.size() && llvm::isDigit(text[pos]))
          value = value * 10 + (text[pos++] - '0');
        term = term * constant(value);
      } else if (llvm::isAlpha(text[pos]) || text[pos] == '_') {
        size_t start = pos;
        while (pos < text.size() && (llvm::isAlnum(text[pos]) || text[pos] == '_'))
          ++pos;
        term = term * symbol(text.slice(start, pos));
      } else {
        return std::nullopt;
      }
      if (pos < text.size() && text[pos] == '*') {
        ++pos;
        continue;
      }
      break;
    }
    result = result + term;
  }
  return result;
}

} // namespace loom
