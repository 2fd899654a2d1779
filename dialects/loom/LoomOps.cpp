//===- LoomOps.cpp - Verifiers of the loom ops ------------------------------===//
//
// Element types are checked by ODS constraints; the shape rules live here. Every message
// names the rule it enforces so that a user can tell which input was wrong.
//
//===----------------------------------------------------------------------===//

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/Schedule.h"
#include "dialects/loom/Shape.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/SmallSet.h"

using namespace mlir;
using namespace loom;

#define GET_OP_CLASSES
#include "dialects/loom/LoomOps.cpp.inc"

/// Checks that `result` has `expected` shape (dimension by dimension, under the naming
/// rules); `rule` says where the expectation came from.
static LogicalResult verifyResultShape(Operation *op, Value result, ArrayRef<Dim> expected,
                                       StringRef rule) {
  Shape actual = shapeOf(result);
  if (areCompatible(actual, expected))
    return success();
  return op->emitOpError() << "result shape " << toString(actual) << " does not match "
                           << toString(expected) << ", the shape " << rule;
}

/// Checks that `axis` indexes a tensor of `rank` dimensions.
static LogicalResult verifyAxis(Operation *op, StringRef what, int64_t axis, int64_t rank) {
  if (axis >= 0 && axis < rank)
    return success();
  return op->emitOpError() << what << " " << axis << " is out of range [0, " << rank
                           << ") for a tensor of rank " << rank;
}

/// Broadcasts the shapes of `operands` together and checks the result against it.
static LogicalResult verifyBroadcastOp(Operation *op, ValueRange operands, Value result) {
  Shape shape = shapeOf(operands.front());
  for (Value operand : operands.drop_front()) {
    Shape next;
    std::string why;
    if (!broadcastShapes(shape, shapeOf(operand), next, why))
      return op->emitOpError() << "operands do not broadcast: " << why;
    shape = std::move(next);
  }
  return verifyResultShape(op, result, shape, "the operands broadcast to");
}

//===----------------------------------------------------------------------===//
// Sources
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  if (getName().empty())
    return emitOpError("needs a non-empty name to bind the external tensor by");
  if (!getType().hasStaticShape())
    return emitOpError("has a dynamic shape; a weight's shape is static");
  if (failed(verifyWeightShard(*this)))
    return failure();
  if (QuantAttr quant = getQuantAttr()) {
    if (getType().getRank() != 2 || !llvm::isa<FloatType>(getType().getElementType()))
      return emitOpError() << "is quantized but " << getType()
                           << " is not a float matrix [N, K]";
    int64_t k = getType().getDimSize(1);
    if (quant.getGroup() && k % quant.getGroup())
      return emitOpError() << "is quantized in groups of " << quant.getGroup()
                           << ", which do not divide its " << k << " inputs";
    if (quant.getCode() == QuantCode::Int4 && k % 2)
      return emitOpError() << "holds int4 codes, two to a byte, but has an odd number of "
                              "inputs ("
                           << k << ")";
    if (quant.getPermuted() && getStacked())
      return emitOpError("is permuted (act-order) and stacked; each part orders its inputs "
                         "differently, so permuted weights are never stacked");
  }
  if (!getStacked() && !getRows())
    return success();
  if (!getStacked() || !getRows())
    return emitOpError("needs both 'stacked' and 'rows', or neither");
  if (getType().getRank() == 0)
    return emitOpError("is a scalar; only weights of rank 1 or more can be stacked");
  ArrayRef<int64_t> rows = *getRows();
  if (rows.size() != getStacked()->size() + 1)
    return emitOpError() << "stacks " << getStacked()->size() + 1 << " tensors but gives "
                         << rows.size() << " row counts";
  int64_t total = 0;
  for (int64_t r : rows) {
    if (r <= 0)
      return emitOpError() << "has a stacked part of " << r << " rows";
    total += r;
  }
  if (total != getType().getDimSize(0))
    return emitOpError() << "stacks " << total << " rows into a weight of "
                         << getType().getDimSize(0);
  // Held by value: a range-for over `*getStacked()` reads a dead optional.
  ArrayAttr stacked = *getStacked();
  for (Attribute part : stacked)
    if (llvm::cast<StringAttr>(part).getValue().empty())
      return emitOpError("stacks a part with an empty name");
  return success();
}

SmallVector<std::pair<StringRef, int64_t>> WeightOp::getParts() {
  SmallVector<std::pair<StringRef, int64_t>> parts;
  if (!getStacked()) {
    parts.emplace_back(getName(), getType().getRank() ? getType().getDimSize(0) : 1);
    return parts;
  }
  ArrayRef<int64_t> rows = *getRows();
  parts.emplace_back(getName(), rows[0]);
  ArrayAttr stacked = *getStacked();
  for (auto [part, count] : llvm::zip(stacked, rows.drop_front()))
    parts.emplace_back(llvm::cast<StringAttr>(part).getValue(), count);
  return parts;
}

/// Constants above this many elements (unless splat) belong in a loom.weight.
static constexpr int64_t kMaxConstantElements = 4096;

LogicalResult ConstantOp::verify() {
  auto elements = getValue();
  if (!elements.isSplat() && elements.getNumElements() > kMaxConstantElements)
    return emitOpError() << "holds " << elements.getNumElements()
                         << " distinct elements; constants hold at most "
                         << kMaxConstantElements << " (use loom.weight for larger data)";
  return success();
}

LogicalResult IotaOp::verify() {
  Shape source = shapeOf(getShapeSource());
  if (failed(verifyAxis(*this, "iota dimension", getDim(), source.size())))
    return failure();
  return verifyResultShape(*this, getResult(), Shape{source[getDim()]},
                           "[size of the counted dimension]");
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

#define LOOM_BROADCAST_VERIFIER(OP)                                                      \
  LogicalResult OP::verify() {                                                          \
    return verifyBroadcastOp(*this, getOperation()->getOperands(), getResult());        \
  }
LOOM_BROADCAST_VERIFIER(AddOp)
LOOM_BROADCAST_VERIFIER(SubOp)
LOOM_BROADCAST_VERIFIER(MulOp)
LOOM_BROADCAST_VERIFIER(DivOp)
LOOM_BROADCAST_VERIFIER(PowOp)
LOOM_BROADCAST_VERIFIER(MaxOp)
LOOM_BROADCAST_VERIFIER(MinOp)
LOOM_BROADCAST_VERIFIER(AndOp)
LOOM_BROADCAST_VERIFIER(OrOp)
LOOM_BROADCAST_VERIFIER(CompareOp)
LOOM_BROADCAST_VERIFIER(SelectOp)
#undef LOOM_BROADCAST_VERIFIER

LogicalResult CastOp::verify() {
  return verifyResultShape(*this, getResult(), shapeOf(getOperand()),
                           "of the operand (a cast keeps the shape)");
}

//===----------------------------------------------------------------------===//
// Contractions, reductions, normalizations
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::verify() {
  Shape lhs = shapeOf(getLhs()), rhs = shapeOf(getRhs());
  if (lhs.size() < 2 || rhs.size() < 2)
    return emitOpError() << "operands have rank " << lhs.size() << " and " << rhs.size()
                         << "; both need rank 2 or more";
  if (getTransposeLhs())
    std::swap(lhs[lhs.size() - 2], lhs[lhs.size() - 1]);
  if (getTransposeRhs())
    std::swap(rhs[rhs.size() - 2], rhs[rhs.size() - 1]);
  Dim m = lhs[lhs.size() - 2], k = lhs.back(), k2 = rhs[rhs.size() - 2], n = rhs.back();
  if (!areCompatible(k, k2))
    return emitOpError() << "contracted dimensions differ: " << toString(k)
                         << " in the left operand and " << toString(k2)
                         << " in the right (after transposes)";
  Shape batch;
  std::string why;
  if (!broadcastShapes(ArrayRef<Dim>(lhs).drop_back(2), ArrayRef<Dim>(rhs).drop_back(2),
                       batch, why))
    return emitOpError() << "batch dimensions do not broadcast: " << why;
  batch.push_back(m);
  batch.push_back(n);
  return verifyResultShape(*this, getResult(), batch, "[batch..., M, N] of the product");
}

LogicalResult LinearOp::verify() {
  Shape input = shapeOf(getInput()), weight = shapeOf(getWeight());
  if (input.empty())
    return emitOpError("input needs rank 1 or more");
  if (weight.size() != 2 || !weight[0].isStatic() || !weight[1].isStatic())
    return emitOpError() << "weight " << toString(weight) << " must be a static matrix";
  Dim k = getTransposeWeight() ? weight[1] : weight[0];
  Dim n = getTransposeWeight() ? weight[0] : weight[1];
  if (!areCompatible(input.back(), k))
    return emitOpError() << "input features " << toString(input.back())
                         << " differ from the weight's " << k.size
                         << (getTransposeWeight() ? " (weight is [N, K])" : " (weight is [K, N])");
  if (Value bias = getBias()) {
    Shape biasShape = shapeOf(bias);
    if (biasShape.size() != 1 || biasShape[0] != n)
      return emitOpError() << "bias " << toString(biasShape) << " must be [" << n.size
                           << "], one value per output feature";
  }
  Shape expected = input;
  expected.back() = n;
  return verifyResultShape(*this, getResult(), expected, "[..., N] of the layer");
}

LogicalResult QuantizeRowsOp::verify() {
  if (getInput().getType().getRank() == 0)
    return emitOpError("needs rank 1 or more: rows are along the last axis");
  if (getCode() == QuantCode::Int4)
    return emitOpError("rounds rows to fp8e4m3 or int8, not int4");
  return success();
}

LogicalResult ReduceOp::verify() {
  Shape input = shapeOf(getOperand());
  ArrayRef<int64_t> axes = getAxes();
  if (axes.empty())
    return emitOpError("needs at least one axis to reduce");
  llvm::SmallSet<int64_t, 4> seen;
  for (int64_t axis : axes) {
    if (failed(verifyAxis(*this, "reduction axis", axis, input.size())))
      return failure();
    if (!seen.insert(axis).second)
      return emitOpError() << "reduction axis " << axis << " is listed twice";
  }
  if (getKind() == ReduceKind::Mean &&
      !llvm::isa<FloatType>(getOperand().getType().getElementType()))
    return emitOpError("mean needs a floating-point element type");
  Shape expected;
  for (auto [i, dim] : llvm::enumerate(input)) {
    if (!seen.contains(i))
      expected.push_back(dim);
    else if (getKeepDims())
      expected.push_back(Dim::fixed(1));
  }
  return verifyResultShape(*this, getResult(), expected, "left after the reduction");
}

LogicalResult CumsumOp::verify() {
  return verifyAxis(*this, "cumsum axis", getAxis(), getType().getRank());
}

LogicalResult SoftmaxOp::verify() {
  return verifyAxis(*this, "softmax axis", getAxis(), getType().getRank());
}

/// Shared rules of layer_norm and rms_norm: the axis, a static normalized shape, the
/// parameter shapes and a positive epsilon.
static LogicalResult verifyNormalization(Operation *op, Value input, uint64_t axis,
                                         ValueRange params, float epsilon) {
  Shape shape = shapeOf(input);
  if (failed(verifyAxis(op, "normalization axis", axis, shape.size())))
    return failure();
  ArrayRef<Dim> normalized = ArrayRef<Dim>(shape).drop_front(axis);
  if (!llvm::all_of(normalized, [](const Dim &d) { return d.isStatic(); }))
    return op->emitOpError() << "normalized dimensions " << toString(normalized)
                             << " must be static";
  for (Value param : params) {
    Shape paramShape = shapeOf(param);
    if (ArrayRef<Dim>(paramShape) != normalized)
      return op->emitOpError() << "parameter shape " << toString(paramShape)
                               << " differs from the normalized dimensions "
                               << toString(normalized);
  }
  if (!(epsilon > 0.0f))
    return op->emitOpError() << "epsilon " << epsilon << " must be positive";
  return success();
}

LogicalResult LayerNormOp::verify() {
  SmallVector<Value, 2> params{getScale()};
  if (getBias())
    params.push_back(getBias());
  return verifyNormalization(*this, getInput(), getAxis(), params,
                             getEpsilon().convertToFloat());
}

LogicalResult RmsNormOp::verify() {
  return verifyNormalization(*this, getInput(), getAxis(), getScale(),
                             getEpsilon().convertToFloat());
}

//===----------------------------------------------------------------------===//
// Indexing and layout
//===----------------------------------------------------------------------===//

LogicalResult GatherOp::verify() {
  Shape data = shapeOf(getData());
  if (failed(verifyAxis(*this, "gather axis", getAxis(), data.size())))
    return failure();
  Shape expected(data.begin(), data.begin() + getAxis());
  llvm::append_range(expected, shapeOf(getIndices()));
  expected.append(data.begin() + getAxis() + 1, data.end());
  return verifyResultShape(*this, getResult(), expected,
                           "data[:axis] + indices + data[axis+1:]");
}

LogicalResult GatherElementsOp::verify() {
  Shape data = shapeOf(getData()), indices = shapeOf(getIndices());
  if (data.size() != indices.size())
    return emitOpError() << "indices have rank " << indices.size() << " but data has rank "
                         << data.size() << "; they need the same rank";
  if (failed(verifyAxis(*this, "gather axis", getAxis(), data.size())))
    return failure();
  for (size_t d = 0; d < data.size(); ++d)
    if (d != getAxis() && data[d].isStatic() && indices[d].isStatic() &&
        indices[d].size > data[d].size)
      return emitOpError() << "indices dimension " << d << " (" << indices[d].size
                           << ") is larger than the data's (" << data[d].size << ")";
  return verifyResultShape(*this, getResult(), indices, "of the indices");
}

LogicalResult GatherNdOp::verify() {
  Shape data = shapeOf(getData()), indices = shapeOf(getIndices());
  int64_t batch = getBatchDims();
  if (indices.empty() || !indices.back().isStatic())
    return emitOpError("indices need rank 1 or more and a static last dimension");
  int64_t depth = indices.back().size;
  if (batch < 0 || batch >= static_cast<int64_t>(indices.size()) ||
      batch + depth > static_cast<int64_t>(data.size()))
    return emitOpError() << "batch_dims " << batch << " and index depth " << depth
                         << " do not fit data of rank " << data.size()
                         << " and indices of rank " << indices.size();
  for (int64_t d = 0; d < batch; ++d)
    if (!areCompatible(data[d], indices[d]))
      return emitOpError() << "batch dimension " << d << " is " << toString(data[d])
                           << " in data and " << toString(indices[d]) << " in indices";
  Shape expected(indices.begin(), indices.end() - 1);
  expected.append(data.begin() + batch + depth, data.end());
  return verifyResultShape(*this, getResult(), expected,
                           "indices.shape[:-1] + data.shape[batch_dims + K:]");
}

LogicalResult ReshapeOp::verify() {
  Shape from = shapeOf(getOperand()), to = shapeOf(getResult());
  std::optional<SizeExpr> fromCount = elementCount(from), toCount = elementCount(to);
  if (!fromCount || !toCount || *fromCount == *toCount)
    return success();
  return emitOpError() << "changes the element count: " << toString(from) << " -> "
                       << toString(to) << " (" << fromCount->str() << " vs "
                       << toCount->str() << " elements)";
}

LogicalResult TransposeOp::verify() {
  Shape input = shapeOf(getOperand());
  ArrayRef<int64_t> perm = getPermutation();
  if (perm.size() != input.size())
    return emitOpError() << "permutation has " << perm.size()
                         << " entries for a tensor of rank " << input.size();
  SmallVector<bool> used(perm.size(), false);
  Shape expected;
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(perm.size()) || used[p])
      return emitOpError() << "permutation is not a permutation of [0, " << perm.size()
                           << ")";
    used[p] = true;
    expected.push_back(input[p]);
  }
  return verifyResultShape(*this, getResult(), expected, "permuted from the operand");
}

LogicalResult ConcatOp::verify() {
  // SameOperandsAndResultElementType has already required at least one input.
  Shape expected = shapeOf(getInputs().front());
  if (failed(verifyAxis(*this, "concat axis", getAxis(), expected.size())))
    return failure();
  for (auto [index, input] : llvm::enumerate(getInputs().drop_front())) {
    Shape shape = shapeOf(input);
    if (shape.size() != expected.size())
      return emitOpError() << "input " << index + 1 << " has rank " << shape.size()
                           << " but input 0 has rank " << expected.size();
    for (size_t d = 0; d < shape.size(); ++d) {
      if (d == getAxis())
        continue;
      if (!areCompatible(shape[d], expected[d]))
        return emitOpError() << "input " << index + 1 << " has " << toString(shape[d])
                             << " in dimension " << d << " where input 0 has "
                             << toString(expected[d])
                             << "; inputs agree outside the concat axis";
    }
    Dim &total = expected[getAxis()];
    std::optional<SizeExpr> sum = toExpr(total), part = toExpr(shape[getAxis()]);
    total = sum && part ? fromExpr(*sum + *part, getContext()) : Dim::anonymous();
  }
  return verifyResultShape(*this, getResult(), expected, "of the joined inputs");
}

LogicalResult SliceOp::verify() {
  Shape input = shapeOf(getOperand());
  ArrayRef<int64_t> axes = getAxes(), starts = getStarts(), ends = getEnds(),
                    steps = getSteps();
  if (starts.size() != axes.size() || ends.size() != axes.size() ||
      steps.size() != axes.size())
    return emitOpError() << "axes, starts, ends and steps have " << axes.size() << ", "
                         << starts.size() << ", " << ends.size() << " and " << steps.size()
                         << " entries; they need one entry per sliced axis";
  Shape expected = input;
  SmallVector<bool> seen(input.size(), false);
  for (size_t i = 0; i < axes.size(); ++i) {
    if (failed(verifyAxis(*this, "slice axis", axes[i], input.size())))
      return failure();
    if (seen[axes[i]])
      return emitOpError() << "slice axis " << axes[i] << " is listed twice";
    seen[axes[i]] = true;
    if (steps[i] == 0)
      return emitOpError() << "step for axis " << axes[i] << " is zero";
    expected[axes[i]] = sliceDim(input[axes[i]], starts[i], ends[i], steps[i]);
  }
  return verifyResultShape(*this, getResult(), expected, "of the sliced window");
}

std::optional<int64_t> SliceOp::getWindowStart(size_t i) {
  Dim axis = shapeOf(getOperand())[getAxes()[i]];
  if (getSteps()[i] != 1 || !axis.isStatic())
    return std::nullopt;
  int64_t start = getStarts()[i];
  return start < 0 ? std::max<int64_t>(axis.size + start, 0) : std::min(start, axis.size);
}

LogicalResult BroadcastOp::verify() {
  Shape input = shapeOf(getOperand()), output = shapeOf(getResult());
  if (input.size() > output.size())
    return emitOpError() << "result rank " << output.size()
                         << " is below the operand rank " << input.size();
  size_t lead = output.size() - input.size();
  for (size_t i = 0; i < input.size(); ++i) {
    const Dim &from = input[i], &to = output[lead + i];
    if (!from.isOne() && !areCompatible(from, to))
      return emitOpError() << "operand dimension " << i << " (" << toString(from)
                           << ") can only broadcast to itself, not to " << toString(to)
                           << "; only a static 1 stretches";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Transformer blocks
//===----------------------------------------------------------------------===//

LogicalResult RopeOp::verify() {
  Shape input = shapeOf(getInput()), table = shapeOf(getCos());
  if (input.size() < 2)
    return emitOpError() << "input has rank " << input.size() << "; it needs rank 2 or more";
  if (table.empty() || table.size() > input.size())
    return emitOpError() << "cos/sin tables have rank " << table.size()
                         << "; they need rank 1 to " << input.size() << " (the input's)";
  const Dim &features = input.back(), &half = table.back();
  if (!features.isStatic() || !half.isStatic())
    return emitOpError("the last dimension of the input and of the tables must be static");
  if (half.size == 0 || 2 * half.size > features.size)
    return emitOpError() << "tables rotate " << 2 * half.size
                         << " features (twice their last dimension) but the input has "
                         << features.size;
  size_t lead = input.size() - table.size();
  for (size_t i = 0; i + 1 < table.size(); ++i) {
    const Dim &from = table[i], &to = input[lead + i];
    if (!from.isOne() && !areCompatible(from, to))
      return emitOpError() << "table dimension " << i << " (" << toString(from)
                           << ") does not broadcast to input dimension " << lead + i << " ("
                           << toString(to) << ")";
  }
  return success();
}

LogicalResult AttentionOp::verify() {
  Shape q = shapeOf(getQuery()), k = shapeOf(getKey()), v = shapeOf(getValue());
  if (q.size() != 4 || k.size() != 4 || v.size() != 4)
    return emitOpError() << "query, key and value have ranks " << q.size() << ", "
                         << k.size() << " and " << v.size()
                         << "; each needs rank 4 [batch, heads, seq, head_dim]";
  if (!areCompatible(q[0], k[0]) || !areCompatible(k[0], v[0]))
    return emitOpError() << "batch sizes differ: query " << toString(q[0]) << ", key "
                         << toString(k[0]) << ", value " << toString(v[0]);
  if (!areCompatible(k[1], v[1]) || !areCompatible(k[2], v[2]))
    return emitOpError() << "key " << toString(k) << " and value " << toString(v)
                         << " need the same KV heads and KV length";
  if (!areCompatible(q[3], k[3]))
    return emitOpError() << "query head_dim " << toString(q[3]) << " differs from key head_dim "
                         << toString(k[3]);
  if (q[1].isStatic() && k[1].isStatic() && (k[1].size == 0 || q[1].size % k[1].size))
    return emitOpError() << "query heads (" << q[1].size
                         << ") must be a multiple of KV heads (" << k[1].size << ")";
  if (FloatAttr scale = getScaleAttr(); scale && !(scale.getValueAsDouble() > 0.0))
    return emitOpError() << "scale " << scale.getValueAsDouble() << " must be positive";
  if (FloatAttr cap = getSoftcapAttr(); cap && !(cap.getValueAsDouble() > 0.0))
    return emitOpError() << "softcap " << cap.getValueAsDouble() << " must be positive";
  if (Value mask = getMask()) {
    Shape maskShape = shapeOf(mask);
    Shape scores{q[0], q[1], q[2], k[2]}, joined;
    std::string why;
    if (maskShape.size() > 4 || !broadcastShapes(maskShape, scores, joined, why) ||
        !areCompatible(joined, scores))
      return emitOpError() << "mask " << toString(maskShape)
                           << " does not broadcast to the scores [batch, heads, seq, kv_seq] "
                           << toString(scores);
  }
  return verifyResultShape(*this, getResult(), Shape{q[0], q[1], q[2], v[3]},
                           "[batch, heads, seq, value head_dim] of the attention output");
}

//===----------------------------------------------------------------------===//
// Paged KV cache
//===----------------------------------------------------------------------===//

/// Whether `type` is the element of a cache of 8-bit codes (int8, FP8 e4m3).
static bool isCodeElement(Type type) {
  return type.isInteger(8) || isa<Float8E4M3FNType>(type);
}

/// The rules of a cache's scales: a cache of 8-bit codes `[blocks, block_size, heads,
/// head_dim]` has them, `[blocks, block_size, heads]` of f32; a float cache has none.
static LogicalResult verifyCacheScales(Operation *op, Value cache, Value scales,
                                       StringRef what) {
  bool codes = isCodeElement(cast<ShapedType>(cache.getType()).getElementType());
  if (codes != static_cast<bool>(scales))
    return op->emitOpError() << (codes ? "a cache of 8-bit codes needs its " + what.str()
                                       : "a float cache takes no " + what.str());
  if (!scales)
    return success();
  Shape c = shapeOf(cache), s = shapeOf(scales);
  if (!cast<ShapedType>(scales.getType()).getElementType().isF32())
    return op->emitOpError() << what << " must be f32";
  if (s.size() != 3 || !areCompatible(ArrayRef<Dim>(c).take_front(3), ArrayRef<Dim>(s)))
    return op->emitOpError() << what << " " << toString(s)
                             << " must be [blocks, block_size, heads] of the cache "
                             << toString(c);
  return success();
}

LogicalResult CacheWriteOp::verify() {
  if (static_cast<bool>(getScales()) != static_cast<bool>(getNewScales()))
    return emitOpError() << "a quantized cache write returns its scales (two results)";
  if (getScales() && getScales().getType() != getNewScales().getType())
    return emitOpError() << "the scales result must have the scales' type";
  Shape cache = shapeOf(getCache()), values = shapeOf(getValues()),
        slots = shapeOf(getSlots());
  if (cache.size() != 4 || values.size() != 3 || slots.size() != 1)
    return emitOpError() << "cache, values and slots have ranks " << cache.size() << ", "
                         << values.size() << " and " << slots.size()
                         << "; they need [blocks, block_size, heads, head_dim], "
                            "[tokens, heads, head_dim] and [tokens]";
  if (!areCompatible(cache[2], values[1]) || !areCompatible(cache[3], values[2]))
    return emitOpError() << "values " << toString(values)
                         << " do not match the cache's [heads, head_dim] "
                         << toString(ArrayRef<Dim>(cache).drop_front(2));
  if (!areCompatible(values[0], slots[0]))
    return emitOpError() << "values have " << toString(values[0]) << " tokens but slots "
                         << toString(slots[0]);
  return verifyCacheScales(*this, getCache(), getScales(), "scales");
}

LogicalResult PagedAttentionOp::verify() {
  Shape q = shapeOf(getQuery()), k = shapeOf(getKeyCache()), v = shapeOf(getValueCache());
  Shape tables = shapeOf(getBlockTables()), lens = shapeOf(getContextLens()),
        starts = shapeOf(getQueryStarts());
  if (q.size() != 3 || k.size() != 4 || v.size() != 4)
    return emitOpError() << "query and caches have ranks " << q.size() << ", " << k.size()
                         << " and " << v.size()
                         << "; they need [tokens, heads, head_dim] and [blocks, "
                            "block_size, kv_heads, head_dim]";
  if (tables.size() != 2 || lens.size() != 1 || starts.size() != 1 ||
      !areCompatible(tables[0], lens[0]) || !areCompatible(lens[0], starts[0]))
    return emitOpError() << "block_tables " << toString(tables) << ", context_lens "
                         << toString(lens) << " and query_starts " << toString(starts)
                         << " need shapes [seqs, max_blocks], [seqs] and [seqs]";
  if (!areCompatible(ArrayRef<Dim>(k).take_front(3), ArrayRef<Dim>(v).take_front(3)))
    return emitOpError() << "key cache " << toString(k) << " and value cache "
                         << toString(v) << " need the same blocks, block size and heads";
  if (!getCacheScales().empty() && getCacheScales().size() != 2)
    return emitOpError() << "quantized caches take two scales (keys', values'), not "
                         << getCacheScales().size();
  if (failed(verifyCacheScales(*this, getKeyCache(), getKeyScales(), "key scales")) ||
      failed(verifyCacheScales(*this, getValueCache(), getValueScales(), "value scales")))
    return failure();
  if (!areCompatible(q[2], k[3]))
    return emitOpError() << "query head_dim " << toString(q[2])
                         << " differs from the key cache's " << toString(k[3]);
  if (q[1].isStatic() && k[2].isStatic() && (k[2].size == 0 || q[1].size % k[2].size))
    return emitOpError() << "query heads (" << q[1].size
                         << ") must be a multiple of KV heads (" << k[2].size << ")";
  if (FloatAttr scale = getScaleAttr(); scale && !(scale.getValueAsDouble() > 0.0))
    return emitOpError() << "scale " << scale.getValueAsDouble() << " must be positive";
  if (FloatAttr cap = getSoftcapAttr(); cap && !(cap.getValueAsDouble() > 0.0))
    return emitOpError() << "softcap " << cap.getValueAsDouble() << " must be positive";
  return verifyResultShape(*this, getResult(), Shape{q[0], q[1], v[3]},
                           "[tokens, heads, value head_dim] of the attention output");
}

//===----------------------------------------------------------------------===//
// Fusion
//===----------------------------------------------------------------------===//

std::optional<KernelKind> KernelOp::anchorKindOf(Operation *op) {
  if (isa<MatmulOp, LinearOp>(op))
    return KernelKind::Matmul;
  if (isa<AttentionOp, PagedAttentionOp, AttentionGradOp>(op))
    return KernelKind::Attention;
  if (isa<CacheWriteOp, ScatterAddOp>(op))
    return KernelKind::Scatter;
  if (isa<RmsNormOp, LayerNormOp, QuantizeRowsOp, CrossEntropyGradOp>(op))
    return KernelKind::Normalization;
  if (isa<ReduceOp, SoftmaxOp, CumsumOp, CrossEntropyOp>(op))
    return KernelKind::Reduction;
  return std::nullopt;
}

Operation *KernelOp::getAnchor() {
  for (Operation &op : getBody().front())
    if (anchorKindOf(&op) == getKind())
      return &op;
  return nullptr;
}

/// Whether `op` is an RMS norm whose only reader is the input of a linear layer in
/// the same body: a matmul kernel may compute it as its prologue.
static bool isNormPrologue(Operation &op) {
  auto norm = dyn_cast<RmsNormOp>(op);
  if (!norm || !norm->hasOneUse())
    return false;
  auto linear = dyn_cast<LinearOp>(*norm->getUsers().begin());
  return linear && linear.getInput() == norm.getResult();
}

/// Whether `op` is a cache write whose cache a paged attention in the same body reads
/// (and the kernel may output): an attention kernel may do the writes first.
static bool isWriteBeforeAttention(Operation &op) {
  auto write = dyn_cast<CacheWriteOp>(op);
  return write &&
         llvm::any_of(write->getUsers(),
                      [&](Operation *user) { return isa<PagedAttentionOp>(user); }) &&
         llvm::all_of(write->getUsers(), [&](Operation *user) {
           return isa<PagedAttentionOp, YieldOp>(user);
         });
}

LogicalResult KernelOp::verify() {
  Block &body = getBody().front();
  if (body.getNumArguments() != getInputs().size())
    return emitOpError() << "body has " << body.getNumArguments() << " arguments for "
                         << getInputs().size() << " inputs";
  for (auto [i, arg, input] : llvm::enumerate(body.getArguments(), getInputs()))
    if (arg.getType() != input.getType())
      return emitOpError() << "body argument " << i << " has type " << arg.getType()
                           << " but input " << i << " has type " << input.getType();
  auto yield = cast<YieldOp>(body.getTerminator());
  if (yield.getValues().getTypes() != getResultTypes())
    return emitOpError() << "yields " << yield.getValues().size()
                         << " value(s) whose types differ from the kernel's results";
  if (getNumResults() == 0)
    return emitOpError("has no outputs; a kernel whose results are unused is dead code");
  int anchors = 0;
  for (Operation &op : body.without_terminator()) {
    if (isa<KernelOp>(op))
      return emitOpError("contains another kernel");
    if (isa<WeightOp>(op))
      return emitOpError("reads a weight inside its body; weights are kernel inputs");
    std::optional<KernelKind> kind = anchorKindOf(&op);
    if (!kind || (getKind() == KernelKind::Matmul && isNormPrologue(op)) ||
        (getKind() == KernelKind::Attention && isWriteBeforeAttention(op)))
      continue;
    ++anchors;
    if (*kind != getKind())
      return emitOpError() << "of kind " << stringifyKernelKind(getKind()) << " contains '"
                           << op.getName() << "', which anchors a "
                           << stringifyKernelKind(*kind) << " kernel";
  }
  bool anchorsFit = getKind() == KernelKind::Pointwise ? anchors == 0
                    : getKind() == KernelKind::Scatter ? anchors >= 1
                                                       : anchors == 1;
  if (!anchorsFit)
    return emitOpError()
           << "of kind " << stringifyKernelKind(getKind()) << " has " << anchors
           << " anchor op(s); a pointwise kernel has none, a scatter kernel one "
              "or more, others exactly one";
  if (std::optional<DictionaryAttr> schedule = getSchedule()) {
    std::string why;
    if (!KernelSchedule::fromAttr(*schedule, getKind(), why))
      return emitOpError() << why;
  }
  return success();
}
