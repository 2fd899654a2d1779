//===- ElementwiseKernels.cpp - Unary, binary, compare, select, cast -------===//

#include "compiler/reference/Indexing.h"

#include <algorithm>

#include <cmath>
#include <limits>

namespace loom::reference {

Shape stridesOf(const Shape &shape) {
  Shape strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;)
    strides[d - 1] = strides[d] * shape[d];
  return strides;
}

bool broadcastShapes(const Shape &a, const Shape &b, Shape &out, std::string &error) {
  size_t rank = std::max(a.size(), b.size());
  out.assign(rank, 1);
  for (size_t d = 0; d < rank; ++d) {
    int64_t x = d + a.size() >= rank ? a[d + a.size() - rank] : 1;
    int64_t y = d + b.size() >= rank ? b[d + b.size() - rank] : 1;
    if (x != y && x != 1 && y != 1) {
      error = "sizes " + std::to_string(x) + " and " + std::to_string(y) +
              " do not broadcast (dimension " + std::to_string(d) + " of the result)";
      return false;
    }
    out[d] = x == 1 ? y : x;
  }
  return true;
}

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double applyUnary(UnaryKind kind, double x) {
  constexpr double kSqrt2OverPi = 0.79788456080286535588; // sqrt(2 / pi)
  switch (kind) {
  case UnaryKind::Neg: return -x;
  case UnaryKind::Relu: return x > 0 ? x : (std::isnan(x) ? x : 0.0);
  case UnaryKind::Exp: return std::exp(x);
  case UnaryKind::Log: return std::log(x);
  case UnaryKind::Sqrt: return std::sqrt(x);
  case UnaryKind::Rsqrt: return 1.0 / std::sqrt(x);
  case UnaryKind::Reciprocal: return 1.0 / x;
  case UnaryKind::Tanh: return std::tanh(x);
  case UnaryKind::Cos: return std::cos(x);
  case UnaryKind::Sin: return std::sin(x);
  case UnaryKind::Erf: return std::erf(x);
  case UnaryKind::Sigmoid: return sigmoid(x);
  case UnaryKind::Silu: return x * sigmoid(x);
  case UnaryKind::Not: return x == 0;
  case UnaryKind::GeluErf: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  case UnaryKind::GeluTanh:
    return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
  }
  return x;
}

} // namespace

Tensor unary(UnaryKind kind, const Tensor &x) {
  Tensor out = Tensor::zeros(x.type, x.shape);
  int64_t count = x.numElements();
  if (x.isFloat()) {
    for (int64_t i = 0; i < count; ++i)
      out.floats[i] = roundTo(x.type, applyUnary(kind, x.floats[i]));
    return out;
  }
  for (int64_t i = 0; i < count; ++i) {
    int64_t v = x.ints[i];
    int64_t r = kind == UnaryKind::Neg    ? -static_cast<uint64_t>(v)
                : kind == UnaryKind::Relu ? std::max<int64_t>(v, 0)
                : kind == UnaryKind::Not  ? v == 0
                                          : v;
    out.ints[i] = wrapTo(x.type, r);
  }
  return out;
}

namespace {

/// Runs `visit(out index, a offset, b offset)` over the broadcast of a and b.
template <typename Visit>
bool broadcastPair(const Tensor &a, const Tensor &b, ElementType resultType, Tensor &out,
                   std::string &error, Visit visit) {
  Shape shape;
  if (!broadcastShapes(a.shape, b.shape, shape, error))
    return false;
  out = Tensor::zeros(resultType, shape);
  std::array<Shape, 2> strides = {broadcastStrides(a.shape, shape),
                                  broadcastStrides(b.shape, shape)};
  forEachElement<2>(shape, strides, [&](int64_t i, const std::array<int64_t, 2> &at) {
    visit(i, at[0], at[1]);
  });
  return true;
}

double floatBinary(BinaryKind kind, double x, double y) {
  switch (kind) {
  case BinaryKind::Add: return x + y;
  case BinaryKind::Sub: return x - y;
  case BinaryKind::Mul: return x * y;
  case BinaryKind::Div: return x / y;
  case BinaryKind::Pow: return std::pow(x, y);
  case BinaryKind::Max: return std::isnan(x) || std::isnan(y) ? NAN : std::max(x, y);
  case BinaryKind::Min: return std::isnan(x) || std::isnan(y) ? NAN : std::min(x, y);
  case BinaryKind::And: return x != 0 && y != 0;
  case BinaryKind::Or: return x != 0 || y != 0;
  }
  return 0;
}

/// Integer arithmetic in two's complement (unsigned wrap, then wrapTo the width).
int64_t intBinary(BinaryKind kind, int64_t x, int64_t y) {
  uint64_t ux = static_cast<uint64_t>(x), uy = static_cast<uint64_t>(y);
  switch (kind) {
  case BinaryKind::Add: return static_cast<int64_t>(ux + uy);
  case BinaryKind::Sub: return static_cast<int64_t>(ux - uy);
  case BinaryKind::Mul: return static_cast<int64_t>(ux * uy);
  case BinaryKind::Div:
    // Truncation toward zero; INT64_MIN / -1 wraps.
    return y == -1 ? static_cast<int64_t>(0 - ux) : x / y;
  case BinaryKind::Pow: {
    int64_t result = 1;
    for (int64_t i = 0; i < y; ++i)
      result = static_cast<int64_t>(static_cast<uint64_t>(result) * ux);
    return y < 0 ? 0 : result;
  }
  case BinaryKind::Max: return std::max(x, y);
  case BinaryKind::Min: return std::min(x, y);
  case BinaryKind::And: return x != 0 && y != 0;
  case BinaryKind::Or: return x != 0 || y != 0;
  }
  return 0;
}

} // namespace

bool binary(BinaryKind kind, const Tensor &a, const Tensor &b, Tensor &out,
            std::string &error) {
  if (a.isFloat())
    return broadcastPair(a, b, a.type, out, error, [&](int64_t i, int64_t x, int64_t y) {
      out.floats[i] = roundTo(a.type, floatBinary(kind, a.floats[x], b.floats[y]));
    });
  bool divisionByZero = false;
  bool ok = broadcastPair(a, b, a.type, out, error, [&](int64_t i, int64_t x, int64_t y) {
    if (kind == BinaryKind::Div && b.ints[y] == 0) {
      divisionByZero = true;
      return;
    }
    out.ints[i] = wrapTo(a.type, intBinary(kind, a.ints[x], b.ints[y]));
  });
  if (ok && divisionByZero) {
    error = "integer division by zero";
    return false;
  }
  return ok;
}

bool compare(CompareKind kind, const Tensor &a, const Tensor &b, Tensor &out,
             std::string &error) {
  auto test = [kind](auto x, auto y) {
    switch (kind) {
    case CompareKind::EQ: return x == y;
    case CompareKind::NE: return x != y;
    case CompareKind::LT: return x < y;
    case CompareKind::LE: return x <= y;
    case CompareKind::GT: return x > y;
    case CompareKind::GE: return x >= y;
    }
    return false;
  };
  return broadcastPair(a, b, ElementType::I1, out, error,
                       [&](int64_t i, int64_t x, int64_t y) {
                         out.ints[i] = a.isFloat() ? test(a.floats[x], b.floats[y])
                                                   : test(a.ints[x], b.ints[y]);
                       });
}

bool select(const Tensor &condition, const Tensor &onTrue, const Tensor &onFalse,
            Tensor &out, std::string &error) {
  Shape pair, shape;
  if (!broadcastShapes(condition.shape, onTrue.shape, pair, error) ||
      !broadcastShapes(pair, onFalse.shape, shape, error))
    return false;
  out = Tensor::zeros(onTrue.type, shape);
  std::array<Shape, 3> strides = {broadcastStrides(condition.shape, shape),
                                  broadcastStrides(onTrue.shape, shape),
                                  broadcastStrides(onFalse.shape, shape)};
  forEachElement<3>(shape, strides, [&](int64_t i, const std::array<int64_t, 3> &at) {
    const Tensor &picked = condition.ints[at[0]] ? onTrue : onFalse;
    int64_t from = condition.ints[at[0]] ? at[1] : at[2];
    if (out.isFloat())
      out.floats[i] = picked.floats[from];
    else
      out.ints[i] = picked.ints[from];
  });
  return true;
}

namespace {

/// Truncates toward zero and saturates to the range of integer type `type`.
int64_t floatToInt(ElementType type, double value) {
  if (type == ElementType::I1)
    return value != 0;
  if (std::isnan(value))
    return 0;
  int bits = type == ElementType::I8 ? 8 : type == ElementType::I16 ? 16
             : type == ElementType::I32 ? 32 : 64;
  double high = std::ldexp(1.0, bits - 1); // 2^(bits-1), exact
  if (value >= high)
    return bits == 64 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(high) - 1;
  if (value <= -high)
    return bits == 64 ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(high);
  return static_cast<int64_t>(value);
}

} // namespace

Tensor cast(const Tensor &x, ElementType type) {
  Tensor out = Tensor::zeros(type, x.shape);
  int64_t count = x.numElements();
  for (int64_t i = 0; i < count; ++i) {
    if (out.isFloat())
      out.floats[i] = roundTo(type, x.asDouble(i));
    else if (x.isFloat())
      out.ints[i] = floatToInt(type, x.floats[i]);
    else
      out.ints[i] = wrapTo(type, x.ints[i]);
  }
  return out;
}

} // namespace loom::reference
