//===- LayoutKernels.cpp - Reshape, transpose, slices, gathers -------------===//

#include "compiler/reference/Indexing.h"

#include <algorithm>

namespace loom::reference {

namespace {

/// Copies element `from` of `x` to element `to` of `out` (same element type).
inline void copyElement(const Tensor &x, int64_t from, Tensor &out, int64_t to) {
  if (x.isFloat())
    out.floats[to] = x.floats[from];
  else
    out.ints[to] = x.ints[from];
}

/// Copies the elements of `x` at `offsets` (relative to `base`) into a new tensor of
/// `shape`, walking `shape` with `strides`.
Tensor gatherStrided(const Tensor &x, const Shape &shape, const Shape &strides,
                     int64_t base) {
  Tensor out = Tensor::zeros(x.type, shape);
  forEachElement<1>(shape, {strides}, [&](int64_t i, const std::array<int64_t, 1> &at) {
    copyElement(x, base + at[0], out, i);
  });
  return out;
}

/// Resolves an index in [-n, n) to [0, n); false when out of range.
bool resolveIndex(int64_t index, int64_t n, int64_t &out, std::string &error) {
  out = index < 0 ? index + n : index;
  if (out >= 0 && out < n)
    return true;
  error = "index " + std::to_string(index) + " is out of range for a dimension of size " +
          std::to_string(n);
  return false;
}

} // namespace

Tensor reshape(const Tensor &x, const Shape &shape) {
  Tensor out = x;
  out.shape = shape;
  return out;
}

Tensor transpose(const Tensor &x, const std::vector<int64_t> &permutation) {
  Shape own = stridesOf(x.shape), shape, strides;
  for (int64_t p : permutation) {
    shape.push_back(x.shape[p]);
    strides.push_back(own[p]);
  }
  return gatherStrided(x, shape, strides, 0);
}

Tensor concat(const std::vector<const Tensor *> &inputs, int64_t axis) {
  Shape shape = inputs.front()->shape;
  shape[axis] = 0;
  for (const Tensor *input : inputs)
    shape[axis] += input->shape[axis];
  Tensor out = Tensor::zeros(inputs.front()->type, shape);
  AxisSplit whole = splitAt(shape, axis);
  int64_t position = 0; // along the axis, where the current input starts
  for (const Tensor *input : inputs) {
    AxisSplit part = splitAt(input->shape, axis);
    for (int64_t o = 0; o < part.outer; ++o)
      for (int64_t a = 0; a < part.size; ++a)
        for (int64_t i = 0; i < part.inner; ++i)
          copyElement(*input, (o * part.size + a) * part.inner + i, out,
                      (o * whole.size + position + a) * whole.inner + i);
    position += part.size;
  }
  return out;
}

Tensor slice(const Tensor &x, const std::vector<int64_t> &axes,
             const std::vector<int64_t> &starts, const std::vector<int64_t> &ends,
             const std::vector<int64_t> &steps) {
  Shape own = stridesOf(x.shape), shape = x.shape, strides = own;
  int64_t base = 0;
  for (size_t k = 0; k < axes.size(); ++k) {
    int64_t axis = axes[k], n = x.shape[axis], step = steps[k];
    // Python's slice.indices(n): negative bounds count from the end, then clamp.
    int64_t start = starts[k] < 0 ? starts[k] + n : starts[k];
    int64_t end = ends[k] < 0 ? ends[k] + n : ends[k];
    int64_t count;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, n);
      end = std::clamp<int64_t>(end, 0, n);
      count = end > start ? (end - start + step - 1) / step : 0;
    } else {
      start = std::clamp<int64_t>(start, -1, n - 1);
      end = std::clamp<int64_t>(end, -1, n - 1);
      count = start > end ? (start - end - step - 1) / -step : 0;
    }
    shape[axis] = count;
    strides[axis] = own[axis] * step;
    if (count > 0)
      base += start * own[axis];
  }
  return gatherStrided(x, shape, strides, base);
}

bool broadcastTo(const Tensor &x, const Shape &shape, Tensor &out, std::string &error) {
  bool fits = x.shape.size() <= shape.size();
  for (size_t d = 0; fits && d < x.shape.size(); ++d) {
    int64_t size = x.shape[d], target = shape[shape.size() - x.shape.size() + d];
    fits = size == target || size == 1;
  }
  if (!fits) {
    error = x.describe() + " does not broadcast to the requested shape";
    return false;
  }
  out = gatherStrided(x, shape, broadcastStrides(x.shape, shape), 0);
  return true;
}

Tensor iota(int64_t count, ElementType type) {
  Tensor out = Tensor::zeros(type, {count});
  for (int64_t i = 0; i < count; ++i) {
    if (out.isFloat())
      out.floats[i] = roundTo(type, static_cast<double>(i));
    else
      out.ints[i] = wrapTo(type, i);
  }
  return out;
}

bool gather(const Tensor &data, const Tensor &indices, int64_t axis, Tensor &out,
            std::string &error) {
  AxisSplit s = splitAt(data.shape, axis);
  Shape shape(data.shape.begin(), data.shape.begin() + axis);
  shape.insert(shape.end(), indices.shape.begin(), indices.shape.end());
  shape.insert(shape.end(), data.shape.begin() + axis + 1, data.shape.end());
  out = Tensor::zeros(data.type, shape);
  int64_t count = indices.numElements();
  for (int64_t j = 0; j < count; ++j) {
    int64_t index;
    if (!resolveIndex(indices.ints[j], s.size, index, error))
      return false;
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t i = 0; i < s.inner; ++i)
        copyElement(data, (o * s.size + index) * s.inner + i, out,
                    (o * count + j) * s.inner + i);
  }
  return true;
}

bool gatherElements(const Tensor &data, const Tensor &indices, int64_t axis, Tensor &out,
                    std::string &error) {
  Shape own = stridesOf(data.shape), strides = own;
  strides[axis] = 0; // the index replaces the position along the axis
  out = Tensor::zeros(data.type, indices.shape);
  bool ok = true;
  forEachElement<1>(indices.shape, {strides}, [&](int64_t i, const std::array<int64_t, 1> &at) {
    int64_t index;
    if (!ok || !(ok = resolveIndex(indices.ints[i], data.shape[axis], index, error)))
      return;
    copyElement(data, at[0] + index * own[axis], out, i);
  });
  return ok;
}

bool gatherNd(const Tensor &data, const Tensor &indices, int64_t batchDims, Tensor &out,
              std::string &error) {
  int64_t depth = indices.shape.back(); // K: how many data dimensions an index names
  Shape shape(indices.shape.begin(), indices.shape.end() - 1);
  shape.insert(shape.end(), data.shape.begin() + batchDims + depth, data.shape.end());
  out = Tensor::zeros(data.type, shape);
  Shape own = stridesOf(data.shape);
  int64_t batches = 1, sliceSize = 1, rows = 1;
  for (int64_t d = 0; d < batchDims; ++d)
    batches *= data.shape[d];
  for (size_t d = batchDims + depth; d < data.shape.size(); ++d)
    sliceSize *= data.shape[d];
  for (size_t d = 0; d + 1 < indices.shape.size(); ++d)
    rows *= indices.shape[d];
  int64_t perBatch = batches > 0 ? rows / batches : 0;
  int64_t batchStride = batchDims > 0 ? own[batchDims - 1] : 0;
  for (int64_t b = 0; b < batches; ++b) {
    for (int64_t m = 0; m < perBatch; ++m) {
      int64_t row = b * perBatch + m, offset = b * batchStride;
      for (int64_t k = 0; k < depth; ++k) {
        int64_t index;
        if (!resolveIndex(indices.ints[row * depth + k], data.shape[batchDims + k], index,
                          error))
          return false;
        offset += index * own[batchDims + k];
      }
      for (int64_t i = 0; i < sliceSize; ++i)
        copyElement(data, offset + i, out, row * sliceSize + i);
    }
  }
  return true;
}

} // namespace loom::reference
