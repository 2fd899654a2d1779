//===- NeuralKernels.cpp - Matmul, reductions, norms, rope, attention ------===//

#include "compiler/reference/Indexing.h"

#include "loom/support/Quantization.h"

#include <algorithm>

#include <cmath>
#include <limits>

namespace loom::reference {

namespace {

/// The shape without its last `n` dimensions.
Shape dropLast(const Shape &shape, size_t n) {
  return Shape(shape.begin(), shape.end() - std::min(n, shape.size()));
}

} // namespace

bool matmul(const Tensor &lhs, const Tensor &rhs, bool transposeLhs, bool transposeRhs,
            Tensor &out, std::string &error) {
  size_t lr = lhs.shape.size(), rr = rhs.shape.size();
  int64_t m = lhs.shape[transposeLhs ? lr - 1 : lr - 2];
  int64_t k = lhs.shape[transposeLhs ? lr - 2 : lr - 1];
  int64_t rk = rhs.shape[transposeRhs ? rr - 1 : rr - 2];
  int64_t n = rhs.shape[transposeRhs ? rr - 2 : rr - 1];
  if (k != rk) {
    error = "contracted sizes differ: " + std::to_string(k) + " and " + std::to_string(rk);
    return false;
  }
  Shape lhsBatch = dropLast(lhs.shape, 2), rhsBatch = dropLast(rhs.shape, 2), batch;
  if (!broadcastShapes(lhsBatch, rhsBatch, batch, error))
    return false;
  Shape shape = batch;
  shape.push_back(m);
  shape.push_back(n);
  out = Tensor::zeros(lhs.type, shape);
  // Element (i, j) of an operand matrix is at base + i * rowStride + j * colStride.
  int64_t lRow = transposeLhs ? 1 : k, lCol = transposeLhs ? m : 1;
  int64_t rRow = transposeRhs ? 1 : n, rCol = transposeRhs ? k : 1;
  std::array<Shape, 2> strides = {broadcastStrides(lhsBatch, batch),
                                  broadcastStrides(rhsBatch, batch)};
  bool isFloat = lhs.isFloat();
  std::vector<double> row(n);
  std::vector<uint64_t> intRow(n);
  forEachElement<2>(batch, strides, [&](int64_t b, const std::array<int64_t, 2> &at) {
    // Batch strides count matrices.
    int64_t lBase = at[0] * m * k, rBase = at[1] * k * n, oBase = b * m * n;
    if (isFloat && transposeRhs) {
      // Rows of the right operand are contiguous along k: plain dot products.
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double sum = 0;
          for (int64_t p = 0; p < k; ++p)
            sum += lhs.floats[lBase + i * lRow + p * lCol] * rhs.floats[rBase + j * k + p];
          out.floats[oBase + i * n + j] = roundTo(lhs.type, sum);
        }
      return;
    }
    for (int64_t i = 0; i < m; ++i) {
      std::fill(row.begin(), row.end(), 0.0);
      std::fill(intRow.begin(), intRow.end(), 0);
      for (int64_t p = 0; p < k; ++p) {
        int64_t l = lBase + i * lRow + p * lCol;
        for (int64_t j = 0; j < n; ++j) {
          int64_t r = rBase + p * rRow + j * rCol;
          if (isFloat)
            row[j] += lhs.floats[l] * rhs.floats[r];
          else
            intRow[j] += static_cast<uint64_t>(lhs.ints[l]) * static_cast<uint64_t>(rhs.ints[r]);
        }
      }
      for (int64_t j = 0; j < n; ++j) {
        if (isFloat)
          out.floats[oBase + i * n + j] = roundTo(lhs.type, row[j]);
        else
          out.ints[oBase + i * n + j] = wrapTo(lhs.type, static_cast<int64_t>(intRow[j]));
      }
    }
  });
  return true;
}

bool linear(const Tensor &x, const Tensor &weight, const Tensor *bias, bool transposeWeight,
            Tensor &out, std::string &error) {
  int64_t k = x.shape.back();
  Tensor rows = reshape(x, {k == 0 ? 0 : x.numElements() / k, k});
  Tensor product;
  if (!matmul(rows, weight, /*transposeLhs=*/false, transposeWeight, product, error))
    return false;
  Shape shape = x.shape;
  shape.back() = product.shape.back();
  out = reshape(product, shape);
  if (!bias)
    return true;
  Tensor sum;
  if (!binary(BinaryKind::Add, out, *bias, sum, error))
    return false;
  out = std::move(sum);
  return true;
}

Tensor reduce(ReduceKind kind, const Tensor &x, const std::vector<int64_t> &axes,
              bool keepDims) {
  Shape kept = x.shape, shape;
  int64_t reducedCount = 1;
  for (int64_t axis : axes) {
    reducedCount *= x.shape[axis];
    kept[axis] = 1;
  }
  for (size_t d = 0; d < x.shape.size(); ++d)
    if (keepDims || std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) == axes.end())
      shape.push_back(kept[d]);
  // Accumulate in double (floats) or int64 (integers) over the kept-dims layout.
  int64_t outCount = 1;
  for (int64_t d : kept)
    outCount *= d;
  bool isFloat = x.isFloat();
  double initial = kind == ReduceKind::Max   ? -std::numeric_limits<double>::infinity()
                   : kind == ReduceKind::Min ? std::numeric_limits<double>::infinity()
                                             : 0.0;
  std::vector<double> acc(outCount, initial);
  std::vector<int64_t> intAcc(outCount, kind == ReduceKind::Max   ? INT64_MIN
                                        : kind == ReduceKind::Min ? INT64_MAX
                                                                  : 0);
  forEachElement<1>(x.shape, {broadcastStrides(kept, x.shape)},
                    [&](int64_t i, const std::array<int64_t, 1> &at) {
                      int64_t o = at[0];
                      if (isFloat) {
                        double v = x.floats[i];
                        if (kind == ReduceKind::Sum || kind == ReduceKind::Mean)
                          acc[o] += v;
                        else if (std::isnan(v) || std::isnan(acc[o]))
                          acc[o] = NAN;
                        else
                          acc[o] = kind == ReduceKind::Max ? std::max(acc[o], v)
                                                           : std::min(acc[o], v);
                      } else {
                        int64_t v = x.ints[i];
                        if (kind == ReduceKind::Sum || kind == ReduceKind::Mean)
                          intAcc[o] = static_cast<int64_t>(static_cast<uint64_t>(intAcc[o]) +
                                                           static_cast<uint64_t>(v));
                        else
                          intAcc[o] = kind == ReduceKind::Max ? std::max(intAcc[o], v)
                                                              : std::min(intAcc[o], v);
                      }
                    });
  Tensor out = Tensor::zeros(x.type, shape);
  for (int64_t o = 0; o < outCount; ++o) {
    if (isFloat)
      out.floats[o] = roundTo(x.type, kind == ReduceKind::Mean && reducedCount > 0
                                          ? acc[o] / static_cast<double>(reducedCount)
                                          : acc[o]);
    else
      out.ints[o] = wrapTo(x.type, kind == ReduceKind::Mean && reducedCount > 0
                                       ? intAcc[o] / reducedCount
                                       : intAcc[o]);
  }
  return out;
}

Tensor cumsum(const Tensor &x, int64_t axis, bool exclusive, bool reverse) {
  Tensor out = Tensor::zeros(x.type, x.shape);
  AxisSplit s = splitAt(x.shape, axis);
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t i = 0; i < s.inner; ++i) {
      double sum = 0;
      uint64_t intSum = 0;
      for (int64_t step = 0; step < s.size; ++step) {
        int64_t a = reverse ? s.size - 1 - step : step;
        int64_t at = (o * s.size + a) * s.inner + i;
        if (x.isFloat()) {
          if (!exclusive)
            sum += x.floats[at];
          out.floats[at] = roundTo(x.type, sum);
          if (exclusive)
            sum += x.floats[at];
        } else {
          if (!exclusive)
            intSum += static_cast<uint64_t>(x.ints[at]);
          out.ints[at] = wrapTo(x.type, static_cast<int64_t>(intSum));
          if (exclusive)
            intSum += static_cast<uint64_t>(x.ints[at]);
        }
      }
    }
  }
  return out;
}

Tensor softmax(const Tensor &x, int64_t axis) {
  Tensor out = Tensor::zeros(x.type, x.shape);
  AxisSplit s = splitAt(x.shape, axis);
  std::vector<double> e(s.size);
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t i = 0; i < s.inner; ++i) {
      auto at = [&](int64_t a) { return (o * s.size + a) * s.inner + i; };
      double max = -std::numeric_limits<double>::infinity(), sum = 0;
      for (int64_t a = 0; a < s.size; ++a)
        max = std::max(max, x.floats[at(a)]);
      for (int64_t a = 0; a < s.size; ++a)
        sum += e[a] = std::exp(x.floats[at(a)] - max);
      for (int64_t a = 0; a < s.size; ++a)
        out.floats[at(a)] = roundTo(x.type, e[a] / sum);
    }
  }
  return out;
}

namespace {

/// Rows of a normalization: the dimensions before `axis` are rows, those from `axis`
/// on are the normalized features.
struct Rows {
  int64_t count = 1, features = 1;
};
Rows rowsOf(const Shape &shape, int64_t axis) {
  Rows r;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d)
    (d < axis ? r.count : r.features) *= shape[d];
  return r;
}

} // namespace

Tensor layerNorm(const Tensor &x, const Tensor &scale, const Tensor *bias, int64_t axis,
                 double epsilon) {
  Tensor out = Tensor::zeros(x.type, x.shape);
  Rows r = rowsOf(x.shape, axis);
  for (int64_t row = 0; row < r.count; ++row) {
    const double *in = x.floats.data() + row * r.features;
    double mean = 0, variance = 0;
    for (int64_t j = 0; j < r.features; ++j)
      mean += in[j];
    mean /= static_cast<double>(r.features);
    for (int64_t j = 0; j < r.features; ++j)
      variance += (in[j] - mean) * (in[j] - mean);
    variance /= static_cast<double>(r.features);
    double inverse = 1.0 / std::sqrt(variance + epsilon);
    for (int64_t j = 0; j < r.features; ++j)
      out.floats[row * r.features + j] =
          roundTo(x.type, (in[j] - mean) * inverse * scale.floats[j] +
                              (bias ? bias->floats[j] : 0.0));
  }
  return out;
}

Tensor rmsNorm(const Tensor &x, const Tensor &scale, int64_t axis, double epsilon) {
  Tensor out = Tensor::zeros(x.type, x.shape);
  Rows r = rowsOf(x.shape, axis);
  for (int64_t row = 0; row < r.count; ++row) {
    const double *in = x.floats.data() + row * r.features;
    double meanSquare = 0;
    for (int64_t j = 0; j < r.features; ++j)
      meanSquare += in[j] * in[j];
    meanSquare /= static_cast<double>(r.features);
    double inverse = 1.0 / std::sqrt(meanSquare + epsilon);
    for (int64_t j = 0; j < r.features; ++j)
      out.floats[row * r.features + j] = roundTo(x.type, in[j] * inverse * scale.floats[j]);
  }
  return out;
}

Tensor quantizeRows(const Tensor &x, bool fp8) {
  Tensor out = Tensor::zeros(x.type, x.shape);
  int64_t width = x.shape.empty() ? 1 : x.shape.back();
  std::vector<float> row(static_cast<size_t>(width));
  for (int64_t start = 0; start < x.numElements(); start += width) {
    for (int64_t j = 0; j < width; ++j)
      row[j] = static_cast<float>(x.floats[start + j]);
    if (fp8) {
      roundRowToFp8(row.data(), width);
    } else {
      float largest = 0;
      for (float v : row)
        largest = std::max(largest, std::fabs(v));
      float scale = largest / 127.0f;
      for (float &v : row)
        v = scale == 0 ? 0.0f : std::nearbyint(v / scale) * scale;
    }
    for (int64_t j = 0; j < width; ++j)
      out.floats[start + j] = roundTo(x.type, row[j]);
  }
  return out;
}

bool rope(const Tensor &x, const Tensor &cos, const Tensor &sin, bool interleaved,
          Tensor &out, std::string &error) {
  int64_t width = x.shape.back(), half = cos.shape.back();
  if (2 * half > width) {
    error = "the rotary tables cover " + std::to_string(2 * half) + " features of " +
            std::to_string(width);
    return false;
  }
  Shape leading = dropLast(x.shape, 1), tableLeading = dropLast(cos.shape, 1), joint;
  if (!broadcastShapes(tableLeading, leading, joint, error))
    return false;
  if (joint != leading) {
    error = "the rotary tables do not broadcast to the input's leading dimensions";
    return false;
  }
  out = x;
  forEachElement<1>(leading, {broadcastStrides(tableLeading, leading)},
                    [&](int64_t p, const std::array<int64_t, 1> &at) {
                      const double *in = x.floats.data() + p * width;
                      double *result = out.floats.data() + p * width;
                      const double *c = cos.floats.data() + at[0] * half;
                      const double *s = sin.floats.data() + at[0] * half;
                      for (int64_t i = 0; i < half; ++i) {
                        int64_t ia = interleaved ? 2 * i : i;
                        int64_t ib = interleaved ? 2 * i + 1 : i + half;
                        double a = in[ia], b = in[ib];
                        result[ia] = roundTo(x.type, a * c[i] - b * s[i]);
                        result[ib] = roundTo(x.type, b * c[i] + a * s[i]);
                      }
                    });
  return true;
}

bool attention(const Tensor &query, const Tensor &key, const Tensor &value,
               const Tensor *mask, bool causal, std::optional<double> scale,
               std::optional<double> softcap, Tensor &out, std::string &error) {
  int64_t batch = query.shape[0], heads = query.shape[1], sq = query.shape[2],
          d = query.shape[3];
  int64_t kvHeads = key.shape[1], skv = key.shape[2], dv = value.shape[3];
  if (key.shape[0] != batch || value.shape[0] != batch || key.shape[3] != d ||
      value.shape[1] != kvHeads || value.shape[2] != skv || kvHeads == 0 ||
      heads % kvHeads != 0) {
    error = "attention operands " + query.describe() + ", " + key.describe() + ", " +
            value.describe() + " do not fit together";
    return false;
  }
  Shape scores = {batch, heads, sq, skv};
  Shape maskStride;
  if (!maskStrides(mask, scores, maskStride, error))
    return false;
  double factor = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(d));
  out = Tensor::zeros(query.type, {batch, heads, sq, dv});
  int64_t group = heads / kvHeads;
  std::vector<double> weights(skv);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      int64_t kvh = h / group;
      const double *k = key.floats.data() + (b * kvHeads + kvh) * skv * d;
      const double *v = value.floats.data() + (b * kvHeads + kvh) * skv * dv;
      for (int64_t i = 0; i < sq; ++i) {
        const double *q = query.floats.data() + ((b * heads + h) * sq + i) * d;
        double max = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < skv; ++j) {
          double s = 0;
          for (int64_t t = 0; t < d; ++t)
            s += q[t] * k[j * d + t];
          s *= factor;
          if (softcap)
            s = *softcap * std::tanh(s / *softcap);
          if (mask)
            s += mask->floats[b * maskStride[0] + h * maskStride[1] + i * maskStride[2] +
                              j * maskStride[3]];
          if (causal && j > i + skv - sq)
            s = -std::numeric_limits<double>::infinity();
          weights[j] = s;
          max = std::max(max, s);
        }
        double *o = out.floats.data() + ((b * heads + h) * sq + i) * dv;
        if (max == -std::numeric_limits<double>::infinity())
          continue; // every key masked: the row is zeros, by definition of the op
        double sum = 0;
        for (int64_t j = 0; j < skv; ++j)
          sum += weights[j] = std::exp(weights[j] - max);
        for (int64_t j = 0; j < skv; ++j)
          for (int64_t t = 0; t < dv; ++t)
            o[t] += weights[j] / sum * v[j * dv + t];
        for (int64_t t = 0; t < dv; ++t)
          o[t] = roundTo(query.type, o[t]);
      }
    }
  }
  return true;
}

bool cacheWrite(const Tensor &cache, const Tensor &values, const Tensor &slots,
                const Tensor *scales, Tensor &out, Tensor *outScales, std::string &error) {
  int64_t blocks = cache.shape[0], blockSize = cache.shape[1],
          row = cache.shape[2] * cache.shape[3];
  out = cache;
  if (scales)
    *outScales = *scales;
  for (int64_t t = 0; t < slots.shape[0]; ++t) {
    int64_t slot = slots.ints[t];
    if (slot < 0)
      continue;
    if (slot >= blocks * blockSize) {
      error = "slot " + std::to_string(slot) + " of token " + std::to_string(t) +
              " is past the cache's " + std::to_string(blocks * blockSize) + " slots";
      return false;
    }
    if (!scales) {
      for (int64_t i = 0; i < row; ++i)
        out.floats[slot * row + i] = roundTo(cache.type, values.floats[t * row + i]);
      continue;
    }
    // 8-bit codes: each head's row over the largest magnitude (as the kernels do, in
    // f32: scale = max|x| / M, code = round(x * (1 / scale))).
    int64_t heads = cache.shape[2], width = cache.shape[3];
    bool integer = cache.type == ElementType::I8;
    for (int64_t h = 0; h < heads; ++h) {
      const double *x = values.floats.data() + (t * heads + h) * width;
      float most = 0.0f;
      for (int64_t i = 0; i < width; ++i)
        most = std::max(most, std::fabs(static_cast<float>(x[i])));
      float scale = most / (integer ? 127.0f : 448.0f);
      float inverse = most > 0.0f ? 1.0f / scale : 0.0f;
      outScales->floats[slot * heads + h] = scale;
      int64_t at = (slot * heads + h) * width;
      for (int64_t i = 0; i < width; ++i) {
        float y = static_cast<float>(x[i]) * inverse;
        if (integer)
          out.ints[at + i] = static_cast<int64_t>(
              std::clamp(std::nearbyint(y), -127.0f, 127.0f));
        else
          out.floats[at + i] = roundTo(ElementType::F8E4M3, y);
      }
    }
  }
  return true;
}

bool pagedAttention(const Tensor &query, const Tensor &keyCache, const Tensor &valueCache,
                    const Tensor &blockTables, const Tensor &contextLens,
                    const Tensor &queryStarts, const Tensor *keyScales,
                    const Tensor *valueScales, std::optional<double> scale,
                    std::optional<double> softcap, Tensor &out, std::string &error) {
  int64_t tokens = query.shape[0], heads = query.shape[1], d = query.shape[2];
  int64_t blocks = keyCache.shape[0], blockSize = keyCache.shape[1],
          kvHeads = keyCache.shape[2], dv = valueCache.shape[3];
  int64_t seqs = contextLens.shape[0], maxBlocks = blockTables.shape[1];
  if (kvHeads == 0 || heads % kvHeads) {
    error = "query heads must be a multiple of the caches' KV heads";
    return false;
  }
  double factor = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(d));
  out = Tensor::zeros(query.type, {tokens, heads, dv});
  int64_t group = heads / kvHeads;
  std::vector<double> weights;
  for (int64_t s = 0; s < seqs; ++s) {
    int64_t begin = queryStarts.ints[s];
    int64_t end = s + 1 < seqs ? queryStarts.ints[s + 1] : tokens;
    int64_t length = contextLens.ints[s], fresh = end - begin;
    if (begin < 0 || end > tokens || fresh < 0 || length < fresh ||
        (length + blockSize - 1) / blockSize > maxBlocks) {
      error = "sequence " + std::to_string(s) + " has tokens [" + std::to_string(begin) +
              ", " + std::to_string(end) + ") of " + std::to_string(tokens) +
              " and context length " + std::to_string(length) +
              ", which do not fit together or in its block table";
      return false;
    }
    // Where each position's key and value live.
    std::vector<int64_t> rows(length);
    for (int64_t j = 0; j < length; ++j) {
      int64_t block = blockTables.ints[s * maxBlocks + j / blockSize];
      if (block < 0 || block >= blocks) {
        error = "sequence " + std::to_string(s) + " maps position " + std::to_string(j) +
                " to block " + std::to_string(block) + ", outside the cache's " +
                std::to_string(blocks);
        return false;
      }
      rows[j] = block * blockSize + j % blockSize;
    }
    for (int64_t t = begin; t < end; ++t) {
      int64_t position = length - fresh + (t - begin);
      for (int64_t h = 0; h < heads; ++h) {
        int64_t kvh = h / group;
        const double *q = query.floats.data() + (t * heads + h) * d;
        weights.assign(position + 1, 0.0);
        double max = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j <= position; ++j) {
          int64_t at = (rows[j] * kvHeads + kvh) * d;
          double score = 0;
          for (int64_t i = 0; i < d; ++i)
            score += q[i] * keyCache.asDouble(at + i);
          if (keyScales)
            score *= keyScales->floats[rows[j] * kvHeads + kvh];
          score *= factor;
          if (softcap)
            score = *softcap * std::tanh(score / *softcap);
          weights[j] = score;
          max = std::max(max, score);
        }
        double sum = 0;
        for (double &w : weights)
          sum += w = std::exp(w - max);
        double *o = out.floats.data() + (t * heads + h) * dv;
        for (int64_t j = 0; j <= position; ++j) {
          int64_t at = (rows[j] * kvHeads + kvh) * dv;
          double w = weights[j] / sum;
          if (valueScales)
            w *= valueScales->floats[rows[j] * kvHeads + kvh];
          for (int64_t i = 0; i < dv; ++i)
            o[i] += w * valueCache.asDouble(at + i);
        }
        for (int64_t i = 0; i < dv; ++i)
          o[i] = roundTo(query.type, o[i]);
      }
    }
  }
  return true;
}

} // namespace loom::reference
