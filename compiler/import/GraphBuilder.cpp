//===- GraphBuilder.cpp - Builds loom ops with inferred result types -------===//

#include "compiler/import/GraphBuilder.h"

#include <cmath>

using namespace mlir;

namespace loom {

static Type elementTypeOf(Value value) {
  return llvm::cast<RankedTensorType>(value.getType()).getElementType();
}

GraphBuilder::GraphBuilder(OpBuilder &builder, Location loc, Type floatType)
    : builder_(builder), loc_(loc), floatType_(floatType) {}

Shape GraphBuilder::shape(Value value) { return shapeOf(value); }

Value GraphBuilder::weight(StringRef name, ArrayRef<int64_t> shape) {
  return WeightOp::create(builder_, loc_, RankedTensorType::get(shape, floatType_), name);
}

DenseElementsAttr GraphBuilder::floatElements(ArrayRef<double> values,
                                              RankedTensorType type) {
  SmallVector<APFloat> converted;
  const llvm::fltSemantics &semantics =
      llvm::cast<FloatType>(type.getElementType()).getFloatSemantics();
  for (double value : values) {
    APFloat element(value);
    bool lost;
    element.convert(semantics, APFloat::rmNearestTiesToEven, &lost);
    converted.push_back(element);
  }
  return DenseElementsAttr::get(type, converted);
}

Value GraphBuilder::constant(ArrayRef<float> values, ArrayRef<int64_t> shape) {
  SmallVector<double> widened(values.begin(), values.end());
  return ConstantOp::create(builder_, loc_,
                            floatElements(widened, RankedTensorType::get(shape, floatType_)));
}

Value GraphBuilder::iota(Value shapeSource, int64_t dim, Type elementType) {
  return IotaOp::create(builder_, loc_, typeOf({shape(shapeSource)[dim]}, elementType),
                        shapeSource, dim);
}

template <typename OpTy> Value GraphBuilder::binary(Value a, Value b) {
  Shape result;
  std::string why;
  // On a mismatch keep the left shape: the verifier then reports the error with context.
  if (!broadcastShapes(shape(a), shape(b), result, why))
    result = shape(a);
  return OpTy::create(builder_, loc_, typeOf(result, elementTypeOf(a)), a, b);
}

Value GraphBuilder::add(Value a, Value b) { return binary<AddOp>(a, b); }
Value GraphBuilder::sub(Value a, Value b) { return binary<SubOp>(a, b); }
Value GraphBuilder::mul(Value a, Value b) { return binary<MulOp>(a, b); }
Value GraphBuilder::div(Value a, Value b) { return binary<DivOp>(a, b); }

Value GraphBuilder::maximum(Value a, Value b) { return binary<MaxOp>(a, b); }
Value GraphBuilder::minimum(Value a, Value b) { return binary<MinOp>(a, b); }
Value GraphBuilder::pow(Value a, Value b) { return binary<PowOp>(a, b); }
Value GraphBuilder::logicalAnd(Value a, Value b) { return binary<AndOp>(a, b); }
Value GraphBuilder::logicalOr(Value a, Value b) { return binary<OrOp>(a, b); }

Value GraphBuilder::compare(CompareKind kind, Value a, Value b) {
  Shape result;
  std::string why;
  if (!broadcastShapes(shape(a), shape(b), result, why))
    result = shape(a);
  return CompareOp::create(builder_, loc_, typeOf(result, builder_.getI1Type()), kind, a, b);
}

Value GraphBuilder::select(Value condition, Value a, Value b) {
  Shape result = shape(condition), next;
  std::string why;
  for (Value operand : {a, b})
    if (broadcastShapes(result, shape(operand), next, why))
      result = next;
  return SelectOp::create(builder_, loc_, typeOf(result, elementTypeOf(a)), condition, a, b);
}

Value GraphBuilder::gelu(Value x, GeluApproximation approximation) {
  return GeluOp::create(builder_, loc_, approximation, x);
}

Value GraphBuilder::cast(Value x, Type elementType) {
  if (elementTypeOf(x) == elementType)
    return x;
  return CastOp::create(builder_, loc_, typeOf(shape(x), elementType), x);
}

Value GraphBuilder::matmul(Value a, Value b, bool transposeRhs, bool transposeLhs) {
  Shape lhs = shape(a), rhs = shape(b), batch;
  if (transposeLhs)
    std::swap(lhs[lhs.size() - 2], lhs[lhs.size() - 1]);
  std::string why;
  if (!broadcastShapes(ArrayRef<Dim>(lhs).drop_back(2), ArrayRef<Dim>(rhs).drop_back(2),
                       batch, why))
    batch.assign(lhs.begin(), lhs.end() - 2);
  batch.push_back(lhs[lhs.size() - 2]);
  batch.push_back(transposeRhs ? rhs[rhs.size() - 2] : rhs.back());
  auto op = MatmulOp::create(builder_, loc_, typeOf(batch, elementTypeOf(a)), a, b);
  op.setTransposeRhs(transposeRhs);
  op.setTransposeLhs(transposeLhs);
  return op;
}

Value GraphBuilder::reduce(ReduceKind kind, Value x, ArrayRef<int64_t> axes, bool keepDims) {
  Shape from = shape(x), to;
  for (auto [i, dim] : llvm::enumerate(from)) {
    if (!llvm::is_contained(axes, static_cast<int64_t>(i)))
      to.push_back(dim);
    else if (keepDims)
      to.push_back(Dim::fixed(1));
  }
  auto op = ReduceOp::create(builder_, loc_, typeOf(to, elementTypeOf(x)), kind, x, axes);
  op.setKeepDims(keepDims);
  return op;
}

Value GraphBuilder::softmax(Value x, int64_t axis) {
  return SoftmaxOp::create(builder_, loc_, x.getType(), x, axis);
}

Value GraphBuilder::rmsNorm(Value x, Value scale, float epsilon) {
  int64_t axis = shape(x).size() - shape(scale).size();
  return RmsNormOp::create(builder_, loc_, x.getType(), x, scale,
                           builder_.getI64IntegerAttr(axis), builder_.getF32FloatAttr(epsilon));
}

Value GraphBuilder::layerNorm(Value x, Value scale, Value bias, float epsilon) {
  int64_t axis = shape(x).size() - shape(scale).size();
  return LayerNormOp::create(builder_, loc_, x.getType(), x, scale, bias,
                             builder_.getI64IntegerAttr(axis),
                             builder_.getF32FloatAttr(epsilon));
}

Value GraphBuilder::gather(Value table, Value indices, int64_t axis) {
  Shape data = shape(table);
  Shape result(data.begin(), data.begin() + axis);
  llvm::append_range(result, shape(indices));
  result.append(data.begin() + axis + 1, data.end());
  return GatherOp::create(builder_, loc_, typeOf(result, elementTypeOf(table)), table,
                          indices, axis);
}

Value GraphBuilder::reshape(Value x, ArrayRef<Dim> to) {
  RankedTensorType type = typeOf(to, elementTypeOf(x));
  if (type == x.getType())
    return x;
  return ReshapeOp::create(builder_, loc_, type, x);
}

Value GraphBuilder::transpose(Value x, ArrayRef<int64_t> permutation) {
  Shape from = shape(x), to;
  for (int64_t p : permutation)
    to.push_back(from[p]);
  return TransposeOp::create(builder_, loc_, typeOf(to, elementTypeOf(x)), x, permutation);
}

Value GraphBuilder::slice(Value x, int64_t axis, int64_t start, int64_t end) {
  return slice(x, {axis}, {start}, {end}, {1});
}

Value GraphBuilder::slice(Value x, ArrayRef<int64_t> axes, ArrayRef<int64_t> starts,
                          ArrayRef<int64_t> ends, ArrayRef<int64_t> steps) {
  Shape to = shape(x);
  for (size_t i = 0; i < axes.size(); ++i)
    to[axes[i]] = sliceDim(to[axes[i]], starts[i], ends[i], steps[i]);
  return SliceOp::create(builder_, loc_, typeOf(to, elementTypeOf(x)), x, axes, starts, ends,
                         steps);
}

Value GraphBuilder::broadcastTo(Value x, ArrayRef<Dim> to) {
  RankedTensorType type = typeOf(to, elementTypeOf(x));
  if (type == x.getType())
    return x;
  return BroadcastOp::create(builder_, loc_, type, x);
}

Value GraphBuilder::concat(ValueRange inputs, int64_t axis) {
  Shape result = shape(inputs.front());
  for (Value input : inputs.drop_front()) {
    std::optional<SizeExpr> sum = toExpr(result[axis]), part = toExpr(shape(input)[axis]);
    result[axis] = sum && part ? fromExpr(*sum + *part, builder_.getContext())
                               : Dim::anonymous();
  }
  return ConcatOp::create(builder_, loc_, typeOf(result, elementTypeOf(inputs.front())),
                          inputs, axis);
}

Value GraphBuilder::splitHeads(Value x, int64_t heads) {
  Shape s = shape(x);
  Value r = reshape(x, {s[0], s[1], Dim::fixed(heads), Dim::fixed(s[2].size / heads)});
  return transpose(r, {0, 2, 1, 3});
}

Value GraphBuilder::mergeHeads(Value x) {
  Shape s = shape(x);
  Value t = transpose(x, {0, 2, 1, 3});
  return reshape(t, {s[0], s[2], Dim::fixed(s[1].size * s[3].size)});
}

Value GraphBuilder::rope(Value x, Value cos, Value sin) {
  return RopeOp::create(builder_, loc_, x.getType(), x, cos, sin);
}

Value GraphBuilder::attention(Value q, Value k, Value v, Value mask, bool causal,
                              std::optional<float> scale, std::optional<float> softcap) {
  Shape qs = shape(q), vs = shape(v);
  Shape result{qs[0], qs[1], qs[2], vs[3]};
  // The default scale is left implicit, so every spelling of it gives the same op.
  if (scale && qs[3].isStatic() &&
      *scale == static_cast<float>(1.0 / std::sqrt(static_cast<double>(qs[3].size))))
    scale = std::nullopt;
  return AttentionOp::create(builder_, loc_, typeOf(result, elementTypeOf(q)), q, k, v, mask,
                             causal ? builder_.getUnitAttr() : UnitAttr(),
                             scale ? builder_.getF32FloatAttr(*scale) : FloatAttr(),
                             softcap ? builder_.getF32FloatAttr(*softcap) : FloatAttr());
}

} // namespace loom
