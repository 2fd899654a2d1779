//===- Indexing.h - Walking tensors with broadcast strides ---------*- C++ -*-===//
//
// The one loop every broadcasting kernel uses: visit each element of an output shape
// in row-major order while keeping the matching element offset of each operand.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_REFERENCE_INDEXING_H
#define LOOM_COMPILER_REFERENCE_INDEXING_H

#include "compiler/reference/Kernels.h"

#include <array>

namespace loom::reference {

/// Strides that read an operand of shape `operand` at the indices of `shape`, which it
/// broadcasts to (aligned on the right; broadcast axes get stride 0).
inline Shape broadcastStrides(const Shape &operand, const Shape &shape) {
  Shape own = stridesOf(operand);
  Shape strides(shape.size(), 0);
  size_t lead = shape.size() - operand.size();
  for (size_t d = 0; d < operand.size(); ++d)
    strides[lead + d] = operand[d] == 1 && shape[lead + d] != 1 ? 0 : own[d];
  return strides;
}

/// The strides that read an attention's additive mask at the indices of its `scores`
/// [batch, heads, queries, keys] (all zero without a mask); false, with `error`, when
/// the mask does not broadcast to the scores.
inline bool maskStrides(const Tensor *mask, const Shape &scores, Shape &strides,
                        std::string &error) {
  strides.assign(scores.size(), 0);
  if (!mask)
    return true;
  Shape joint;
  if (!broadcastShapes(mask->shape, scores, joint, error))
    return false;
  if (joint != scores) {
    error = "the mask " + mask->describe() + " does not broadcast to the scores";
    return false;
  }
  strides = broadcastStrides(mask->shape, scores);
  return true;
}

/// Calls `visit(i, offsets)` for each element `i` of `shape` in row-major order, with
/// `offsets[k]` the element of operand `k` under `strides[k]`.
template <size_t N, typename Visit>
void forEachElement(const Shape &shape, const std::array<Shape, N> &strides, Visit visit) {
  int64_t count = 1;
  for (int64_t d : shape)
    count *= d;
  Shape index(shape.size(), 0);
  std::array<int64_t, N> offsets{};
  for (int64_t i = 0; i < count; ++i) {
    visit(i, offsets);
    for (size_t d = shape.size(); d-- > 0;) {
      for (size_t k = 0; k < N; ++k)
        offsets[k] += strides[k][d];
      if (++index[d] < shape[d])
        break;
      for (size_t k = 0; k < N; ++k)
        offsets[k] -= strides[k][d] * shape[d];
      index[d] = 0;
    }
  }
}

/// Splits `shape` around `axis`: the product of the dimensions before it (outer), its
/// size, and the product after it (inner), so element (o, a, i) is at
/// (o * size + a) * inner + i.
struct AxisSplit {
  int64_t outer = 1, size = 1, inner = 1;
};
inline AxisSplit splitAt(const Shape &shape, int64_t axis) {
  AxisSplit s;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d)
    (d < axis ? s.outer : d == axis ? s.size : s.inner) *= shape[d];
  return s;
}

} // namespace loom::reference

#endif // LOOM_COMPILER_REFERENCE_INDEXING_H
