//===- Kernels.h - The reference executor's op implementations -----*- C++ -*-===//
//
// One function per loom op (or op family), on host tensors, written to read like the
// op's definition in LoomOps.td. Float math runs in double and each result is rounded
// to its element type; integer results wrap to their width. Failures that only show at
// run time (an index out of range, shapes that turn out not to broadcast, an integer
// division by zero) return false with a message.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_REFERENCE_KERNELS_H
#define LOOM_COMPILER_REFERENCE_KERNELS_H

#include "compiler/reference/Tensor.h"

#include <optional>
#include <string>
#include <vector>

namespace loom::reference {

/// Row-major strides of a shape.
Shape stridesOf(const Shape &shape);
/// The numpy broadcast of two shapes; false (with `error`) when they do not broadcast.
bool broadcastShapes(const Shape &a, const Shape &b, Shape &out, std::string &error);

// Elementwise ---------------------------------------------------------------------------

enum class UnaryKind {
  Neg, Relu, Exp, Log, Sqrt, Rsqrt, Reciprocal, Tanh, Cos, Sin, Erf, Sigmoid, Silu, Not,
  GeluErf, GeluTanh
};
Tensor unary(UnaryKind kind, const Tensor &x);

enum class BinaryKind { Add, Sub, Mul, Div, Pow, Max, Min, And, Or };
bool binary(BinaryKind kind, const Tensor &a, const Tensor &b, Tensor &out,
            std::string &error);

enum class CompareKind { EQ, NE, LT, LE, GT, GE };
bool compare(CompareKind kind, const Tensor &a, const Tensor &b, Tensor &out,
             std::string &error);

bool select(const Tensor &condition, const Tensor &onTrue, const Tensor &onFalse,
            Tensor &out, std::string &error);

/// Float to float rounds to nearest even; float to integer truncates toward zero (NaN
/// and out-of-range values saturate); to i1, nonzero is true.
Tensor cast(const Tensor &x, ElementType type);

// Layout and indexing --------------------------------------------------------------------

Tensor reshape(const Tensor &x, const Shape &shape);
Tensor transpose(const Tensor &x, const std::vector<int64_t> &permutation);
Tensor concat(const std::vector<const Tensor *> &inputs, int64_t axis);
/// Python-style clamped strided slices; negative bounds count from the end.
Tensor slice(const Tensor &x, const std::vector<int64_t> &axes,
             const std::vector<int64_t> &starts, const std::vector<int64_t> &ends,
             const std::vector<int64_t> &steps);
/// numpy broadcasting of `x` to `shape`; false when `x` does not broadcast to it.
bool broadcastTo(const Tensor &x, const Shape &shape, Tensor &out, std::string &error);
Tensor iota(int64_t count, ElementType type);
bool gather(const Tensor &data, const Tensor &indices, int64_t axis, Tensor &out,
            std::string &error);
bool gatherElements(const Tensor &data, const Tensor &indices, int64_t axis, Tensor &out,
                    std::string &error);
bool gatherNd(const Tensor &data, const Tensor &indices, int64_t batchDims, Tensor &out,
              std::string &error);

// Contractions, reductions, normalizations, transformer blocks ---------------------------

bool matmul(const Tensor &lhs, const Tensor &rhs, bool transposeLhs, bool transposeRhs,
            Tensor &out, std::string &error);
/// `x [..., K]` times `weight [K, N]` (`[N, K]` transposed), rounded, plus `bias [N]`
/// (may be null), rounded: the same numbers as a matmul followed by an add.
bool linear(const Tensor &x, const Tensor &weight, const Tensor *bias, bool transposeWeight,
            Tensor &out, std::string &error);

enum class ReduceKind { Sum, Mean, Max, Min };
Tensor reduce(ReduceKind kind, const Tensor &x, const std::vector<int64_t> &axes,
              bool keepDims);
Tensor cumsum(const Tensor &x, int64_t axis, bool exclusive, bool reverse);
Tensor softmax(const Tensor &x, int64_t axis);
/// `bias` may be null.
Tensor layerNorm(const Tensor &x, const Tensor &scale, const Tensor *bias, int64_t axis,
                 double epsilon);
Tensor rmsNorm(const Tensor &x, const Tensor &scale, int64_t axis, double epsilon);
/// Each row (last axis) rounded as dynamically quantized activations are, in float32:
/// s = max|x| / 448 and x' = e4m3(x / s) * s (`fp8`), or s = max|x| / 127 and
/// x' = round(x / s) * s (int8); then rounded to the tensor's type.
Tensor quantizeRows(const Tensor &x, bool fp8);
bool rope(const Tensor &x, const Tensor &cos, const Tensor &sin, bool interleaved,
          Tensor &out, std::string &error);
/// `mask` may be null; without `scale` the scale is 1/sqrt(head size); `softcap`
/// bounds the scaled scores to (-softcap, softcap) with tanh before the mask.
bool attention(const Tensor &query, const Tensor &key, const Tensor &value,
               const Tensor *mask, bool causal, std::optional<double> scale,
               std::optional<double> softcap, Tensor &out, std::string &error);
/// loom.cache_write: `cache` with the rows of `values` written at `slots` (negative
/// slots skipped); fails for a slot past the cache. A cache of 8-bit codes (int8 or
/// FP8) has `scales` and returns them updated in `outScales` (see the op).
bool cacheWrite(const Tensor &cache, const Tensor &values, const Tensor &slots,
                const Tensor *scales, Tensor &out, Tensor *outScales, std::string &error);
/// loom.paged_attention (see its op description); fails for inconsistent lengths or a
/// block table entry outside the cache.
bool pagedAttention(const Tensor &query, const Tensor &keyCache, const Tensor &valueCache,
                    const Tensor &blockTables, const Tensor &contextLens,
                    const Tensor &queryStarts, const Tensor *keyScales,
                    const Tensor *valueScales, std::optional<double> scale,
                    std::optional<double> softcap, Tensor &out, std::string &error);

// Training: losses and backward ops
// ------------------------------------------------------

/// loom.cross_entropy: the mean over counted positions of logsumexp(row) - row[target],
/// targets shifted by one along the labels' last axis with `shiftLabels`; fails for a
/// target outside [0, vocab) that is not `ignoreIndex`.
bool crossEntropy(const Tensor &logits, const Tensor &labels, bool shiftLabels,
                  int64_t ignoreIndex, Tensor &out, std::string &error);
/// loom.cross_entropy_grad: `lossGrad * (softmax(row) - onehot(target)) / N` at counted
/// positions, zeros elsewhere.
bool crossEntropyGrad(const Tensor &logits, const Tensor &labels, const Tensor &lossGrad,
                      bool shiftLabels, int64_t ignoreIndex, Tensor &out,
                      std::string &error);
/// loom.scatter_add: zeros of `shape` with each slice of `updates` added at its index
/// along `axis`.
bool scatterAdd(const Tensor &updates, const Tensor &indices, int64_t axis,
                const Shape &shape, Tensor &out, std::string &error);
/// loom.attention_grad: the gradients of attention's query, key and value given the
/// gradient of its result, the weights recomputed from the operands.
bool attentionGrad(const Tensor &query, const Tensor &key, const Tensor &value,
                   const Tensor &resultGrad, const Tensor *mask, bool causal,
                   std::optional<double> scale, std::optional<double> softcap,
                   Tensor &queryGrad, Tensor &keyGrad, Tensor &valueGrad,
                   std::string &error);

} // namespace loom::reference

#endif // LOOM_COMPILER_REFERENCE_KERNELS_H
