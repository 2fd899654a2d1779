//===- OnnxShapeOps.cpp - ONNX operators that compute or use shapes --------===//
//
// These converters first try to work on known contents (the sizes a Shape node
// produced, small constant index vectors), so that shape arithmetic is done at import
// time and leaves no ops; they fall back to loom ops on real tensors.
//
//===----------------------------------------------------------------------===//

#include "compiler/import/onnx/OnnxConverters.h"

#include <limits>

using namespace mlir;

namespace loom::onnximport {

namespace {

/// Shape contents as dims, with an error when they are not known at import time.
std::optional<Shape> requireShape(Importer &im, const onnx::NodeProto &node, int i,
                                  const char *what) {
  std::optional<Shape> shape = im.contents(node, i);
  if (!shape)
    im.fail(node, std::string(what) + " (input '" + node.input(i) +
                      "') must be computable at import time from shapes and constants");
  return shape;
}

std::optional<std::vector<int64_t>> requireInts(Importer &im, const onnx::NodeProto &node, int i,
                                                const char *what) {
  std::optional<std::vector<int64_t>> values = im.staticInts(node, i);
  if (!values)
    im.fail(node, std::string(what) + " (input '" + node.input(i) +
                      "') must be constant integers");
  return values;
}

/// Axes from the input `i` (opset >= 13 style) or the attribute `axes`.
std::optional<std::vector<int64_t>> axesOf(Importer &im, const onnx::NodeProto &node, int i) {
  if (im.hasInput(node, i))
    return requireInts(im, node, i, "axes");
  if (auto axes = im.attrInts(node, "axes"))
    return axes;
  return std::vector<int64_t>{};
}

} // namespace

bool convertShape(Importer &im, const onnx::NodeProto &node) {
  const Slot &from = im.slots.at(node.input(0));
  Shape shape;
  if (from.contents) {
    if (!from.scalar)
      shape.push_back(Dim::fixed(from.contents->size()));
  } else {
    Value x = im.input(node, 0);
    if (!x)
      return false;
    shape = GraphBuilder::shape(x);
  }
  int64_t rank = shape.size();
  int64_t start = im.attrInt(node, "start", 0), end = im.attrInt(node, "end", rank);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
  Shape contents(shape.begin() + start, shape.begin() + std::max(start, end));
  im.define(node, 0, {}, contents);
  return true;
}

bool convertConstant(Importer &im, const onnx::NodeProto &node) {
  Slot slot;
  std::string error;
  if (const onnx::AttributeProto *value = im.attr(node, "value")) {
    onnx::TensorProto tensor = value->t();
    if (tensor.name().empty())
      tensor.set_name(node.output(0));
    if (!im.materializeTensor(tensor, slot, error))
      return im.fail(node, error);
  } else if (const onnx::AttributeProto *f = im.attr(node, "value_float")) {
    slot.value = im.g.constant({f->f()});
  } else if (const onnx::AttributeProto *fs = im.attr(node, "value_floats")) {
    std::vector<float> values(fs->floats().begin(), fs->floats().end());
    slot.value = im.g.constant(values, {static_cast<int64_t>(values.size())});
  } else if (const onnx::AttributeProto *i = im.attr(node, "value_int")) {
    slot.contents = Shape{contentDim(i->i())};
    slot.scalar = true;
  } else if (const onnx::AttributeProto *is = im.attr(node, "value_ints")) {
    Shape dims;
    for (int64_t v : is->ints())
      dims.push_back(contentDim(v));
    slot.contents = dims;
  } else {
    return im.fail(node, "has no value attribute Loom supports (sparse and string "
                         "constants are not supported)");
  }
  im.slots[node.output(0)] = slot;
  return true;
}

bool convertIdentity(Importer &im, const onnx::NodeProto &node) {
  im.slots[node.output(0)] = im.slots.at(node.input(0));
  return true;
}

bool convertCast(Importer &im, const onnx::NodeProto &node) {
  int64_t to = im.attrInt(node, "to", 0);
  Type type = im.elementType(to);
  if (!type)
    return im.fail(node, "casts to ONNX element type " + std::to_string(to) +
                             ", which Loom does not support");
  const Slot &from = im.slots.at(node.input(0));
  if (from.contents && llvm::isa<IntegerType>(type)) {
    Shape contents = *from.contents;
    if (type.isInteger(1))
      for (Dim &dim : contents)
        if (dim.isStatic())
          dim = Dim::fixed(dim.size != 0);
    im.define(node, 0, {}, contents, from.scalar);
    return true;
  }
  Value x = im.input(node, 0);
  if (!x)
    return false;
  im.define(node, 0, im.g.cast(x, type),
            llvm::isa<IntegerType>(type) ? from.contents : std::nullopt, from.scalar);
  return true;
}

bool convertUnsqueeze(Importer &im, const onnx::NodeProto &node) {
  std::optional<std::vector<int64_t>> axes = axesOf(im, node, 1);
  if (!axes)
    return false;
  const Slot &from = im.slots.at(node.input(0));
  if (from.contents && from.scalar && axes->size() == 1 &&
      ((*axes)[0] == 0 || (*axes)[0] == -1)) {
    im.define(node, 0, {}, from.contents, /*scalar=*/false);
    return true;
  }
  Value x = im.input(node, 0);
  if (!x)
    return false;
  int64_t rank = rankOf(x) + axes->size();
  std::vector<bool> inserted(rank, false);
  for (int64_t axis : *axes) {
    if (!im.normalizeAxis(node, axis, rank))
      return false;
    inserted[axis] = true;
  }
  Shape from_shape = GraphBuilder::shape(x), to;
  size_t next = 0;
  for (int64_t i = 0; i < rank; ++i)
    to.push_back(inserted[i] ? Dim::fixed(1) : from_shape[next++]);
  std::optional<Shape> contents;
  if (from.contents && rank <= 1)
    contents = from.contents;
  im.define(node, 0, im.g.reshape(x, to), contents, false);
  return true;
}

bool convertSqueeze(Importer &im, const onnx::NodeProto &node) {
  std::optional<std::vector<int64_t>> axes = axesOf(im, node, 1);
  if (!axes)
    return false;
  const Slot &from = im.slots.at(node.input(0));
  if (from.contents && !from.scalar && from.contents->size() == 1) {
    im.define(node, 0, {}, from.contents, /*scalar=*/true);
    return true;
  }
  Value x = im.input(node, 0);
  if (!x)
    return false;
  Shape shape = GraphBuilder::shape(x), to;
  std::vector<bool> drop(shape.size(), false);
  for (int64_t axis : *axes) {
    if (!im.normalizeAxis(node, axis, shape.size()))
      return false;
    if (!shape[axis].isOne())
      return im.fail(node, "squeezes axis " + std::to_string(axis) + " of size " +
                               toString(shape[axis]) + "; only a static 1 can be squeezed");
    drop[axis] = true;
  }
  for (size_t i = 0; i < shape.size(); ++i)
    if (!(axes->empty() ? shape[i].isOne() : drop[i]))
      to.push_back(shape[i]);
  im.define(node, 0, im.g.reshape(x, to), from.contents, to.empty());
  return true;
}

bool convertConcat(Importer &im, const onnx::NodeProto &node) {
  int64_t axis = im.attrInt(node, "axis", 0);
  bool allContents = true;
  Shape joined;
  for (int i = 0; i < node.input_size(); ++i) {
    const Slot &slot = im.slots.at(node.input(i));
    if (!slot.contents || slot.scalar) {
      allContents = false;
      break;
    }
    llvm::append_range(joined, *slot.contents);
  }
  if (allContents) {
    im.define(node, 0, {}, joined);
    return true;
  }
  SmallVector<Value> inputs;
  for (int i = 0; i < node.input_size(); ++i) {
    Value value = im.input(node, i);
    if (!value)
      return false;
    // Exporters concatenate empty tensors; they contribute nothing.
    auto type = llvm::cast<RankedTensorType>(value.getType());
    if (type.hasStaticShape() && type.getNumElements() == 0)
      continue;
    inputs.push_back(value);
  }
  if (inputs.empty())
    return im.fail(node, "concatenates only empty tensors");
  if (!im.normalizeAxis(node, axis, rankOf(inputs.front())))
    return false;
  im.define(node, 0, inputs.size() == 1 ? inputs.front() : im.g.concat(inputs, axis));
  return true;
}

bool convertSlice(Importer &im, const onnx::NodeProto &node) {
  std::optional<Shape> starts = requireShape(im, node, 1, "starts");
  std::optional<Shape> ends = starts ? requireShape(im, node, 2, "ends") : std::nullopt;
  if (!ends)
    return false;
  std::vector<int64_t> axes, steps(starts->size(), 1);
  if (im.hasInput(node, 3)) {
    auto given = requireInts(im, node, 3, "axes");
    if (!given)
      return false;
    axes = *given;
  } else {
    for (size_t i = 0; i < starts->size(); ++i)
      axes.push_back(i);
  }
  if (im.hasInput(node, 4)) {
    auto given = requireInts(im, node, 4, "steps");
    if (!given)
      return false;
    steps = *given;
  }
  if (axes.size() != starts->size() || ends->size() != starts->size() ||
      steps.size() != starts->size())
    return im.fail(node, "starts, ends, axes and steps differ in length");
  const Slot &from = im.slots.at(node.input(0));
  if (from.contents && !from.scalar && axes.size() == 1 && steps[0] == 1 &&
      (*starts)[0].isStatic() && (*ends)[0].isStatic()) {
    int64_t n = from.contents->size();
    auto clamp = [n](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + n : v, 0, n); };
    int64_t begin = clamp((*starts)[0].size), end = clamp((*ends)[0].size);
    Shape picked(from.contents->begin() + begin,
                 from.contents->begin() + std::max(begin, end));
    im.define(node, 0, {}, picked);
    return true;
  }
  Value x = im.input(node, 0);
  if (!x)
    return false;
  // Static bounds become one loom.slice; x[0:size of a named dimension] along an axis
  // becomes a gather at iota(that dimension), which is the same elements.
  std::vector<int64_t> sAxes, sStarts, sEnds, sSteps;
  std::vector<std::pair<int64_t, Dim>> prefixes;
  for (size_t i = 0; i < axes.size(); ++i) {
    if (!im.normalizeAxis(node, axes[i], rankOf(x)))
      return false;
    if (steps[i] == 0)
      return im.fail(node, "has a zero step");
    Dim start = (*starts)[i], end = (*ends)[i];
    // A bound given as an expression of sizes becomes a static one counted from the
    // end of the axis when it differs from the axis size by a constant.
    Dim axisSize = GraphBuilder::shape(x)[axes[i]];
    auto relative = [&](Dim &bound, bool isEnd) {
      std::optional<SizeExpr> b = toExpr(bound), n = toExpr(axisSize);
      if (bound.isStatic() || !b || !n || !(*n - *b).isConstant())
        return;
      int64_t back = (*n - *b).constantValue();
      if (back >= 0)
        bound = Dim::fixed(back == 0 ? (isEnd ? std::numeric_limits<int64_t>::max()
                                              : std::numeric_limits<int64_t>::max())
                                     : -back);
    };
    relative(start, false);
    relative(end, true);
    if (start.isStatic() && end.isStatic()) {
      sAxes.push_back(axes[i]);
      sStarts.push_back(start.size);
      sEnds.push_back(end.size);
      sSteps.push_back(steps[i]);
    } else if (start.isStatic() && start.size == 0 && steps[i] == 1 && end.isNamed() &&
               im.dimSources.count(end.name.str())) {
      prefixes.emplace_back(axes[i], end);
    } else {
      return im.fail(node, "slices axis " + std::to_string(axes[i]) + " from " +
                               toString(start) + " to " + toString(end) +
                               "; bounds must be constants or [0, size of a dimension)");
    }
  }
  if (!sAxes.empty())
    x = im.g.slice(x, sAxes, sStarts, sEnds, sSteps);
  for (const auto &[axis, end] : prefixes) {
    const auto &source = im.dimSources.at(end.name.str());
    Value indices = im.g.iota(source.first, source.second, im.g.builder().getI64Type());
    x = im.g.gather(x, indices, axis);
  }
  im.define(node, 0, x);
  return true;
}

bool convertGather(Importer &im, const onnx::NodeProto &node) {
  int64_t axis = im.attrInt(node, "axis", 0);
  const Slot &data = im.slots.at(node.input(0));
  std::optional<std::vector<int64_t>> indices = im.staticInts(node, 1);
  const Slot &indexSlot = im.slots.at(node.input(1));
  if (data.contents && indices && axis == 0) {
    Shape picked;
    int64_t n = data.contents->size();
    for (int64_t index : *indices) {
      if (index < -n || index >= n)
        return im.fail(node, "index " + std::to_string(index) + " is out of range for " +
                                 std::to_string(n) + " elements");
      picked.push_back((*data.contents)[index < 0 ? index + n : index]);
    }
    im.define(node, 0, {}, picked, indexSlot.scalar);
    return true;
  }
  Value table = im.input(node, 0), index = im.input(node, 1);
  if (!table || !index)
    return false;
  if (!im.normalizeAxis(node, axis, rankOf(table)))
    return false;
  im.define(node, 0, im.g.gather(table, index, axis));
  return true;
}

/// The target of a Reshape: 0 copies the input's dimension (unless allowzero), one -1
/// takes what the element count leaves, which must be one static size or one name.
static bool reshapeTarget(Importer &im, const onnx::NodeProto &node, Value x,
                          const Shape &requested, Shape &target) {
  Shape from = GraphBuilder::shape(x);
  bool allowZero = im.attrInt(node, "allowzero", 0) != 0;
  int inferred = -1;
  target.clear();
  for (size_t i = 0; i < requested.size(); ++i) {
    Dim dim = requested[i];
    if (dim.isStatic() && dim.size == 0 && !allowZero) {
      if (i >= from.size())
        return im.fail(node, "copies dimension " + std::to_string(i) +
                                 " that the input does not have");
      dim = from[i];
    } else if (dim.isStatic() && dim.size == -1) {
      if (inferred >= 0)
        return im.fail(node, "has more than one -1 in its shape");
      inferred = i;
    } else if (dim.isStatic() && dim.size < 0) {
      return im.fail(node, "has a negative size in its shape");
    }
    target.push_back(dim);
  }
  if (inferred < 0)
    return true;
  // Divide the input's element count by the known part of the target.
  auto count = [](const Shape &shape, int skip) -> std::optional<SizeExpr> {
    SizeExpr total = SizeExpr::constant(1);
    for (size_t i = 0; i < shape.size(); ++i) {
      if (static_cast<int>(i) == skip)
        continue;
      std::optional<SizeExpr> size = toExpr(shape[i]);
      if (!size)
        return std::nullopt;
      total = total * *size;
    }
    return total;
  };
  std::optional<SizeExpr> all = count(from, -1), known = count(target, inferred);
  std::optional<SizeExpr> rest;
  if (all && known && !(known->isConstant() && known->constantValue() == 0))
    rest = all->divide(*known);
  target[inferred] = rest ? fromExpr(*rest, im.g.builder().getContext()) : Dim::anonymous();
  return true;
}

bool convertReshape(Importer &im, const onnx::NodeProto &node) {
  std::optional<Shape> requested = requireShape(im, node, 1, "the target shape");
  if (!requested)
    return false;
  const Slot &from = im.slots.at(node.input(0));
  if (from.contents && requested->size() <= 1) {
    im.define(node, 0, {}, from.contents, requested->empty());
    return true;
  }
  Value x = im.input(node, 0);
  if (!x)
    return false;
  Shape target;
  if (!reshapeTarget(im, node, x, *requested, target))
    return false;
  // Contents describe rank-0 and rank-1 values only; the early return took those.
  im.define(node, 0, im.g.reshape(x, target));
  return true;
}

bool convertExpand(Importer &im, const onnx::NodeProto &node) {
  std::optional<Shape> requested = requireShape(im, node, 1, "the target shape");
  if (!requested)
    return false;
  Value x = im.input(node, 0);
  if (!x)
    return false;
  Shape target;
  std::string why;
  if (!broadcastShapes(GraphBuilder::shape(x), *requested, target, why))
    return im.fail(node, "cannot expand to " + toString(*requested) + ": " + why);
  im.define(node, 0, im.g.broadcastTo(x, target));
  return true;
}

bool convertConstantOfShape(Importer &im, const onnx::NodeProto &node) {
  std::optional<Shape> shape = requireShape(im, node, 0, "the shape");
  if (!shape)
    return false;
  Slot fill;
  std::string error;
  if (const onnx::AttributeProto *value = im.attr(node, "value")) {
    onnx::TensorProto scalar = value->t();
    scalar.clear_dims();
    if (!im.materializeTensor(scalar, fill, error))
      return im.fail(node, error);
  } else {
    fill.value = im.g.constant({0.0f});
  }
  Value scalar = fill.value ? fill.value : im.intConstant({(*fill.contents)[0].size}, true,
                                                          im.g.builder().getI64Type());
  bool smallStatic = shape->size() == 1 && (*shape)[0].isStatic() && fill.contents;
  std::optional<Shape> contents;
  if (smallStatic)
    contents = Shape((*shape)[0].size, (*fill.contents)[0]);
  im.define(node, 0, im.g.broadcastTo(scalar, *shape), contents);
  return true;
}

/// The value of a one-element float constant, or nullopt.
static std::optional<double> constantFloat(Value value) {
  auto constant = value ? value.getDefiningOp<ConstantOp>() : nullptr;
  auto dense = constant ? llvm::dyn_cast<DenseElementsAttr>(constant.getValue()) : nullptr;
  if (!dense || dense.getNumElements() != 1 || !llvm::isa<FloatType>(dense.getElementType()))
    return std::nullopt;
  return (*dense.getValues<APFloat>().begin()).convertToDouble();
}

/// A float Range with constant bounds: ceil((limit - start) / delta) values
/// start + i * delta, rounded to the element type.
static bool convertFloatRange(Importer &im, const onnx::NodeProto &node, Type element) {
  std::optional<double> start = constantFloat(im.input(node, 0)),
                        limit = constantFloat(im.input(node, 1)),
                        delta = constantFloat(im.input(node, 2));
  if (!start || !limit || !delta)
    return im.fail(node, "a float Range needs start, limit and delta known at import time");
  if (*delta == 0.0 || !std::isfinite(*start) || !std::isfinite(*limit) ||
      !std::isfinite(*delta))
    return im.fail(node, "needs finite bounds and a nonzero delta");
  double count = std::max(std::ceil((*limit - *start) / *delta), 0.0);
  constexpr double kMaxConstant = 4096;
  if (count > kMaxConstant)
    return im.fail(node, "makes " + std::to_string(int64_t(count)) +
                             " values, more than a constant holds (4096)");
  std::vector<double> values;
  for (int64_t i = 0; i < int64_t(count); ++i)
    values.push_back(*start + double(i) * *delta);
  auto type = RankedTensorType::get({int64_t(values.size())}, element);
  im.define(node, 0,
            ConstantOp::create(im.g.builder(), im.g.builder().getUnknownLoc(),
                               GraphBuilder::floatElements(values, type)));
  return true;
}

bool convertRange(Importer &im, const onnx::NodeProto &node) {
  auto startSlot = im.slots.find(node.input(0));
  if (startSlot != im.slots.end() && startSlot->second.value &&
      llvm::isa<FloatType>(elementOf(startSlot->second.value)))
    return convertFloatRange(im, node, elementOf(startSlot->second.value));
  std::optional<Shape> start = im.contents(node, 0), limit = im.contents(node, 1),
                       delta = im.contents(node, 2);
  if (!start || !limit || !delta || start->size() != 1 || limit->size() != 1 ||
      delta->size() != 1)
    return im.fail(node, "start, limit and delta must be scalars known at import time");
  Dim first = (*start)[0], last = (*limit)[0], step = (*delta)[0];
  Type i64 = im.g.builder().getI64Type();
  // The result has the inputs' element type (an int32 range stays int32).
  Type element = startSlot->second.value ? elementOf(startSlot->second.value) : i64;
  if (first.isStatic() && last.isStatic() && step.isStatic()) {
    if (step.size == 0)
      return im.fail(node, "has a zero delta");
    std::vector<int64_t> values;
    for (int64_t v = first.size; step.size > 0 ? v < last.size : v > last.size; v += step.size)
      values.push_back(v);
    Shape contents;
    for (int64_t v : values)
      contents.push_back(Dim::fixed(v));
    im.define(node, 0, im.intConstant(values, false, element), contents);
    return true;
  }
  if (first.isStatic() && first.size == 0 && step.isStatic() && step.size == 1 &&
      last.isNamed()) {
    auto source = im.dimSources.find(last.name.str());
    if (source == im.dimSources.end())
      return im.fail(node, "counts to dimension '" + toString(last) +
                               "', which no graph input has");
    im.define(node, 0, im.g.iota(source->second.first, source->second.second, i64));
    return true;
  }
  return im.fail(node, "only Range(0, size of a dimension, 1) or constant ranges are "
                       "supported; got Range(" + toString(first) + ", " + toString(last) +
                           ", " + toString(step) + ")");
}

bool convertSplit(Importer &im, const onnx::NodeProto &node) {
  Value x = im.input(node, 0);
  if (!x)
    return false;
  int64_t axis = im.attrInt(node, "axis", 0);
  if (!im.normalizeAxis(node, axis, rankOf(x)))
    return false;
  Dim total = GraphBuilder::shape(x)[axis];
  std::vector<int64_t> sizes;
  if (im.hasInput(node, 1)) {
    auto given = requireInts(im, node, 1, "split");
    if (!given)
      return false;
    sizes = *given;
  } else if (auto given = im.attrInts(node, "split")) {
    sizes = *given;
  } else {
    if (!total.isStatic())
      return im.fail(node, "splits dynamic dimension " + toString(total) + " evenly");
    int64_t parts = im.attrInt(node, "num_outputs", node.output_size());
    int64_t chunk = (total.size + parts - 1) / parts;
    for (int64_t begin = 0; begin < total.size; begin += chunk)
      sizes.push_back(std::min(chunk, total.size - begin));
  }
  if (static_cast<int>(sizes.size()) != node.output_size())
    return im.fail(node, "has " + std::to_string(node.output_size()) + " outputs but " +
                             std::to_string(sizes.size()) + " split sizes");
  int64_t begin = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    im.define(node, i, im.g.slice(x, axis, begin, begin + sizes[i]));
    begin += sizes[i];
  }
  if (total.isStatic() && begin != total.size)
    return im.fail(node, "split sizes add up to " + std::to_string(begin) + ", not " +
                             std::to_string(total.size));
  return true;
}

} // namespace loom::onnximport

namespace loom::onnximport {

/// Product of `dims` as a size; anonymous if any is unknown.
static Dim productOf(ArrayRef<Dim> dims, MLIRContext *context) {
  SizeExpr product = SizeExpr::constant(1);
  for (const Dim &dim : dims) {
    std::optional<SizeExpr> size = toExpr(dim);
    if (!size)
      return Dim::anonymous();
    product = product * *size;
  }
  return fromExpr(product, context);
}

bool convertFlatten(Importer &im, const onnx::NodeProto &node) {
  Value x = im.input(node, 0);
  if (!x)
    return false;
  int64_t rank = rankOf(x), axis = im.attrInt(node, "axis", 1);
  if (axis < -rank || axis > rank)
    return im.fail(node, "axis " + std::to_string(axis) + " is out of range");
  if (axis < 0)
    axis += rank;
  Shape shape = GraphBuilder::shape(x);
  MLIRContext *context = im.g.builder().getContext();
  im.define(node, 0,
            im.g.reshape(x, {productOf(ArrayRef<Dim>(shape).take_front(axis), context),
                             productOf(ArrayRef<Dim>(shape).drop_front(axis), context)}));
  return true;
}

bool convertSize(Importer &im, const onnx::NodeProto &node) {
  const Slot &from = im.slots.at(node.input(0));
  Dim size;
  if (from.contents) {
    size = Dim::fixed(from.scalar ? 1 : from.contents->size());
  } else {
    Value x = im.input(node, 0);
    if (!x)
      return false;
    size = productOf(GraphBuilder::shape(x), im.g.builder().getContext());
  }
  im.define(node, 0, {}, Shape{size}, /*scalar=*/true);
  return true;
}

/// Pad in its four modes, as slices and concatenations: negative pads crop, positive
/// ones add `constant` values, copies of the edge element, the mirror image without the
/// edge (`reflect`), or the elements from the other end (`wrap`).
bool convertPad(Importer &im, const onnx::NodeProto &node) {
  Value x = im.input(node, 0);
  std::optional<std::vector<int64_t>> pads = x ? requireInts(im, node, 1, "pads") : std::nullopt;
  if (!pads)
    return false;
  int64_t rank = rankOf(x);
  std::optional<std::vector<int64_t>> given = axesOf(im, node, 3);
  if (!given)
    return false;
  std::vector<int64_t> axes = *given;
  if (axes.empty())
    for (int64_t axis = 0; axis < rank; ++axis)
      axes.push_back(axis);
  if (pads->size() != 2 * axes.size())
    return im.fail(node, "has " + std::to_string(pads->size()) + " pads for " +
                             std::to_string(axes.size()) + " axes (two per axis)");
  std::string mode = im.attrString(node, "mode", "constant");
  if (mode != "constant" && mode != "edge" && mode != "reflect" && mode != "wrap")
    return im.fail(node, "has mode=\"" + mode + "\"");
  GraphBuilder &g = im.g;
  Value fill;
  if (mode == "constant") {
    if (im.hasInput(node, 2)) {
      fill = im.input(node, 2);
      if (!fill)
        return false;
      if (GraphBuilder::shape(fill) != Shape{} && GraphBuilder::shape(fill) != Shape{Dim::fixed(1)})
        return im.fail(node, "constant_value must be a scalar or a one-element tensor");
      fill = g.reshape(fill, {});
    } else {
      fill = g.cast(g.constant({0.0f}), elementOf(x));
    }
  }
  constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t axis = axes[i];
    if (!im.normalizeAxis(node, axis, rank))
      return false;
    int64_t before = (*pads)[i], after = (*pads)[i + axes.size()];
    if (before < 0)
      x = g.slice(x, axis, -before, kEnd);
    if (after < 0)
      x = g.slice(x, axis, 0, after);
    before = std::max<int64_t>(before, 0);
    after = std::max<int64_t>(after, 0);
    if (before == 0 && after == 0)
      continue;
    Dim size = GraphBuilder::shape(x)[axis];
    int64_t longest = std::max(before, after);
    if (mode != "constant" && size.isStatic() &&
        (size.size == 0 || longest > size.size - (mode == "reflect" ? 1 : 0)))
      return im.fail(node, "pads " + std::to_string(longest) + " in mode \"" + mode +
                               "\" along an axis of " + std::to_string(size.size));
    auto block = [&](int64_t count, bool atStart) -> Value {
      Shape shape = GraphBuilder::shape(x);
      shape[axis] = Dim::fixed(count);
      if (mode == "constant")
        return g.broadcastTo(fill, shape);
      if (mode == "edge")
        return g.broadcastTo(atStart ? g.slice(x, axis, 0, 1) : g.slice(x, axis, -1, kEnd),
                             shape);
      if (mode == "wrap")
        return atStart ? g.slice(x, axis, -count, kEnd) : g.slice(x, axis, 0, count);
      return atStart ? g.slice(x, {axis}, {count}, {0}, {-1})
                     : g.slice(x, {axis}, {-2}, {-2 - count}, {-1});
    };
    SmallVector<Value> parts;
    if (before)
      parts.push_back(block(before, true));
    parts.push_back(x);
    if (after)
      parts.push_back(block(after, false));
    x = g.concat(parts, axis);
  }
  im.define(node, 0, x);
  return true;
}

} // namespace loom::onnximport
