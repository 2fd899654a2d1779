//===- TrainingKernels.cpp - Losses and backward ops on the CPU -------------===//
//
// The reference of the ops in LoomTrainingOps.td, written like their definitions:
// double arithmetic, each result rounded once to its element type.
//
//===----------------------------------------------------------------------===//

#include "compiler/reference/Indexing.h"

#include <cmath>
#include <limits>

namespace loom::reference {

namespace {

/// The target of each position of `labels` (`ignoreIndex` where none), shifted by one
/// along the last axis with `shift`; fails for a target outside [0, vocab).
bool targetsOf(const Tensor &labels, bool shift, int64_t ignoreIndex, int64_t vocab,
               std::vector<int64_t> &targets, int64_t &counted, std::string &error) {
  int64_t count = labels.numElements();
  int64_t length = labels.shape.empty() ? 1 : labels.shape.back();
  targets.assign(count, ignoreIndex);
  counted = 0;
  for (int64_t p = 0; p < count; ++p) {
    if (shift && (p % length) + 1 >= length)
      continue; // the last position predicts nothing
    int64_t target = labels.ints[shift ? p + 1 : p];
    if (target == ignoreIndex)
      continue;
    if (target < 0 || target >= vocab) {
      error = "label " + std::to_string(target) + " is outside [0, " +
              std::to_string(vocab) + ") and is not the ignore index " +
              std::to_string(ignoreIndex);
      return false;
    }
    targets[p] = target;
    ++counted;
  }
  return true;
}

/// log(sum(exp(row))) of `n` values.
double logSumExp(const double *row, int64_t n) {
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t v = 0; v < n; ++v)
    max = std::max(max, row[v]);
  double sum = 0;
  for (int64_t v = 0; v < n; ++v)
    sum += std::exp(row[v] - max);
  return max + std::log(sum);
}

} // namespace

bool crossEntropy(const Tensor &logits, const Tensor &labels, bool shiftLabels,
                  int64_t ignoreIndex, Tensor &out, std::string &error) {
  int64_t vocab = logits.shape.back();
  std::vector<int64_t> targets;
  int64_t counted;
  if (!targetsOf(labels, shiftLabels, ignoreIndex, vocab, targets, counted, error))
    return false;
  double total = 0;
  for (size_t p = 0; p < targets.size(); ++p) {
    if (targets[p] == ignoreIndex)
      continue;
    const double *row = logits.floats.data() + p * vocab;
    total += logSumExp(row, vocab) - row[targets[p]];
  }
  out = Tensor::zeros(logits.type, {});
  out.floats[0] = roundTo(logits.type, total / static_cast<double>(counted));
  return true;
}

bool crossEntropyGrad(const Tensor &logits, const Tensor &labels, const Tensor &lossGrad,
                      bool shiftLabels, int64_t ignoreIndex, Tensor &out,
                      std::string &error) {
  int64_t vocab = logits.shape.back();
  std::vector<int64_t> targets;
  int64_t counted;
  if (!targetsOf(labels, shiftLabels, ignoreIndex, vocab, targets, counted, error))
    return false;
  out = Tensor::zeros(logits.type, logits.shape);
  double factor = lossGrad.floats[0] / static_cast<double>(counted);
  for (size_t p = 0; p < targets.size(); ++p) {
    if (targets[p] == ignoreIndex)
      continue;
    const double *row = logits.floats.data() + p * vocab;
    double *grad = out.floats.data() + p * vocab;
    double lse = logSumExp(row, vocab);
    for (int64_t v = 0; v < vocab; ++v) {
      double softmax = std::exp(row[v] - lse);
      grad[v] = roundTo(logits.type, factor * (softmax - (v == targets[p] ? 1.0 : 0.0)));
    }
  }
  return true;
}

bool scatterAdd(const Tensor &updates, const Tensor &indices, int64_t axis,
                const Shape &shape, Tensor &out, std::string &error) {
  AxisSplit s = splitAt(shape, axis);
  int64_t count = indices.numElements();
  if (updates.numElements() != s.outer * count * s.inner) {
    error = "updates " + updates.describe() + " do not fit indices " +
            indices.describe() + " into the result's shape";
    return false;
  }
  out = Tensor::zeros(updates.type, shape);
  for (int64_t j = 0; j < count; ++j) {
    int64_t index = indices.ints[j] < 0 ? indices.ints[j] + s.size : indices.ints[j];
    if (index < 0 || index >= s.size) {
      error = "index " + std::to_string(indices.ints[j]) +
              " is out of range for a dimension of size " + std::to_string(s.size);
      return false;
    }
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t i = 0; i < s.inner; ++i)
        out.floats[(o * s.size + index) * s.inner + i] +=
            updates.floats[(o * count + j) * s.inner + i];
  }
  for (double &value : out.floats)
    value = roundTo(out.type, value);
  return true;
}

bool attentionGrad(const Tensor &query, const Tensor &key, const Tensor &value,
                   const Tensor &resultGrad, const Tensor *mask, bool causal,
                   std::optional<double> scale, std::optional<double> softcap,
                   Tensor &queryGrad, Tensor &keyGrad, Tensor &valueGrad,
                   std::string &error) {
  int64_t batch = query.shape[0], heads = query.shape[1], sq = query.shape[2],
          d = query.shape[3];
  int64_t kvHeads = key.shape[1], skv = key.shape[2], dv = value.shape[3];
  if (kvHeads == 0 || heads % kvHeads != 0 || key.shape[2] != value.shape[2] ||
      resultGrad.shape != Shape{batch, heads, sq, dv}) {
    error = "attention_grad operands do not fit together";
    return false;
  }
  Shape scores = {batch, heads, sq, skv};
  Shape maskStride;
  if (!maskStrides(mask, scores, maskStride, error))
    return false;
  double factor = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(d));
  queryGrad = Tensor::zeros(query.type, query.shape);
  keyGrad = Tensor::zeros(key.type, key.shape);
  valueGrad = Tensor::zeros(value.type, value.shape);
  int64_t group = heads / kvHeads;
  std::vector<double> p(skv), capSlope(skv, 1.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      int64_t kvh = h / group;
      const double *k = key.floats.data() + (b * kvHeads + kvh) * skv * d;
      const double *v = value.floats.data() + (b * kvHeads + kvh) * skv * dv;
      double *dk = keyGrad.floats.data() + (b * kvHeads + kvh) * skv * d;
      double *dvOut = valueGrad.floats.data() + (b * kvHeads + kvh) * skv * dv;
      for (int64_t i = 0; i < sq; ++i) {
        const double *q = query.floats.data() + ((b * heads + h) * sq + i) * d;
        const double *dout = resultGrad.floats.data() + ((b * heads + h) * sq + i) * dv;
        double *dq = queryGrad.floats.data() + ((b * heads + h) * sq + i) * d;
        // The weights P of the forward, recomputed.
        double max = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < skv; ++j) {
          double s = 0;
          for (int64_t t = 0; t < d; ++t)
            s += q[t] * k[j * d + t];
          s *= factor;
          if (softcap) {
            double capped = std::tanh(s / *softcap);
            capSlope[j] = 1.0 - capped * capped;
            s = *softcap * capped;
          }
          if (mask)
            s += mask->floats[b * maskStride[0] + h * maskStride[1] +
                              i * maskStride[2] + j * maskStride[3]];
          if (causal && j > i + skv - sq)
            s = -std::numeric_limits<double>::infinity();
          p[j] = s;
          max = std::max(max, s);
        }
        if (max == -std::numeric_limits<double>::infinity())
          continue; // a fully masked row is zeros: no gradient flows through it
        double sum = 0;
        for (int64_t j = 0; j < skv; ++j)
          sum += p[j] = std::exp(p[j] - max);
        // dP = dO V^T; dS = P (dP - rowsum(P dP)).
        std::vector<double> dp(skv, 0.0);
        double rowsum = 0;
        for (int64_t j = 0; j < skv; ++j) {
          p[j] /= sum;
          for (int64_t t = 0; t < dv; ++t)
            dp[j] += dout[t] * v[j * dv + t];
          rowsum += p[j] * dp[j];
        }
        for (int64_t j = 0; j < skv; ++j) {
          if (p[j] == 0)
            continue;
          double ds = p[j] * (dp[j] - rowsum) * capSlope[j] * factor;
          for (int64_t t = 0; t < d; ++t) {
            dq[t] += ds * k[j * d + t];
            dk[j * d + t] += ds * q[t];
          }
          for (int64_t t = 0; t < dv; ++t)
            dvOut[j * dv + t] += p[j] * dout[t];
        }
      }
    }
  for (Tensor *t : {&queryGrad, &keyGrad, &valueGrad})
    for (double &x : t->floats)
      x = roundTo(t->type, x);
  return true;
}

} // namespace loom::reference
