//===- OnnxOps.cpp - ONNX compute operators into loom ops ------------------===//

#include "compiler/import/onnx/OnnxConverters.h"

#include <functional>

using namespace mlir;

namespace loom::onnximport {

namespace {

//===----------------------------------------------------------------------===//
// Arithmetic on known contents (shape computations)
//===----------------------------------------------------------------------===//

/// Computes `fn` elementwise over known contents (a length-1 side broadcasts); nullopt
/// when an element cannot be known at import time.
std::optional<Shape> combine(const Shape &a, const Shape &b,
                             const std::function<std::optional<Dim>(Dim, Dim)> &fn) {
  if (a.size() != b.size() && a.size() != 1 && b.size() != 1)
    return std::nullopt;
  Shape out;
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    std::optional<Dim> d = fn(a[a.size() == 1 ? 0 : i], b[b.size() == 1 ? 0 : i]);
    if (!d)
      return std::nullopt;
    out.push_back(*d);
  }
  return out;
}

/// The contents-level version of an elementwise ONNX op, where defined. Sizes are
/// expressions of named dimensions, which are non-negative.
std::optional<Dim> foldDims(const std::string &op, Dim a, Dim b, MLIRContext *context) {
  std::optional<SizeExpr> x = toExpr(a), y = toExpr(b);
  if (!x || !y)
    return std::nullopt;
  SizeExpr diff = *x - *y;
  auto truth = [](bool value) { return Dim::fixed(value); };
  if (op == "Add")
    return fromExpr(*x + *y, context);
  if (op == "Sub")
    return fromExpr(diff, context);
  if (op == "Mul")
    return fromExpr(*x * *y, context);
  if (op == "Div") {
    if (x->isConstant() && y->isConstant() && y->constantValue() != 0)
      return Dim::fixed(x->constantValue() / y->constantValue());
    if (std::optional<SizeExpr> q = x->divide(*y))
      return fromExpr(*q, context);
    return std::nullopt;
  }
  if (op == "Mod") {
    if (!x->isConstant() || !y->isConstant() || y->constantValue() == 0)
      return std::nullopt;
    int64_t r = x->constantValue() % y->constantValue();
    if (r != 0 && ((r < 0) != (y->constantValue() < 0)))
      r += y->constantValue(); // ONNX Mod (fmod=0) takes the divisor's sign
    return Dim::fixed(r);
  }
  if (op == "And" || op == "Or") {
    if (!x->isConstant() || !y->isConstant())
      return std::nullopt;
    bool p = x->constantValue() != 0, q = y->constantValue() != 0;
    return truth(op == "And" ? p && q : p || q);
  }
  if (op == "Equal" && !diff.isConstant() && diff.isNonNegative() &&
      (y->isConstant() && y->constantValue() < 0))
    return truth(false); // a size never equals a negative number
  if (!diff.isConstant())
    return std::nullopt;
  int64_t d = diff.constantValue();
  if (op == "Max")
    return d >= 0 ? a : b;
  if (op == "Min")
    return d <= 0 ? a : b;
  if (op == "Equal")
    return truth(d == 0);
  if (op == "Less")
    return truth(d < 0);
  if (op == "LessOrEqual")
    return truth(d <= 0);
  if (op == "Greater")
    return truth(d > 0);
  if (op == "GreaterOrEqual")
    return truth(d >= 0);
  return std::nullopt;
}

/// Tries the contents path of a binary op; true if it defined the output.
bool binaryOnContents(Importer &im, const onnx::NodeProto &node) {
  const Slot &a = im.slots.at(node.input(0)), &b = im.slots.at(node.input(1));
  if (!a.contents || !b.contents)
    return false;
  std::optional<Shape> out = combine(*a.contents, *b.contents, [&](Dim x, Dim y) {
    return foldDims(node.op_type(), x, y, im.g.builder().getContext());
  });
  if (!out)
    return false;
  im.define(node, 0, {}, out, a.scalar && b.scalar);
  return true;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

/// Checks that `operands` broadcast together; an ONNX model that breaks the rule gets
/// an error naming the node rather than an unverifiable op.
bool checkBroadcast(Importer &im, const onnx::NodeProto &node, ArrayRef<Value> operands) {
  Shape shape = GraphBuilder::shape(operands.front());
  for (Value operand : operands.drop_front()) {
    Shape next;
    std::string why;
    if (!broadcastShapes(shape, GraphBuilder::shape(operand), next, why))
      return im.fail(node, "operands do not broadcast: " + why);
    shape = next;
  }
  return true;
}

template <Value (GraphBuilder::*Fn)(Value, Value)>
bool convertBinary(Importer &im, const onnx::NodeProto &node) {
  if (binaryOnContents(im, node))
    return true;
  Value a = im.input(node, 0), b = im.input(node, 1);
  if (!a || !b)
    return false;
  if (!checkBroadcast(im, node, {a, b}))
    return false;
  if (elementOf(a) != elementOf(b))
    b = im.g.cast(b, elementOf(a)); // Pow takes an exponent of another type
  im.define(node, 0, (im.g.*Fn)(a, b));
  return true;
}

/// Pow of an integer base computes in f64 and truncates back, as ONNX's reference does
/// (numpy's power, then a cast to the base's type).
bool convertPow(Importer &im, const onnx::NodeProto &node) {
  Value a = im.input(node, 0), b = im.input(node, 1);
  if (!a || !b || !checkBroadcast(im, node, {a, b}))
    return false;
  Type element = elementOf(a);
  if (llvm::isa<FloatType>(element)) {
    im.define(node, 0, im.g.pow(a, elementOf(b) == element ? b : im.g.cast(b, element)));
    return true;
  }
  Type f64 = im.g.builder().getF64Type();
  im.define(node, 0, im.g.cast(im.g.pow(im.g.cast(a, f64), im.g.cast(b, f64)), element));
  return true;
}

/// Max and Min take any number of inputs.
template <Value (GraphBuilder::*Fn)(Value, Value)>
bool convertVariadic(Importer &im, const onnx::NodeProto &node) {
  if (node.input_size() == 2 && binaryOnContents(im, node))
    return true;
  Value result = im.input(node, 0);
  for (int i = 1; result && i < node.input_size(); ++i) {
    Value next = im.input(node, i);
    if (!next || !checkBroadcast(im, node, {result, next}))
      return false;
    result = (im.g.*Fn)(result, next);
  }
  if (!result)
    return false;
  im.define(node, 0, result);
  return true;
}

template <CompareKind Kind>
bool convertCompare(Importer &im, const onnx::NodeProto &node) {
  if (binaryOnContents(im, node))
    return true;
  Value a = im.input(node, 0), b = im.input(node, 1);
  if (!a || !b || !checkBroadcast(im, node, {a, b}))
    return false;
  im.define(node, 0, im.g.compare(Kind, a, b));
  return true;
}

template <typename OpTy> bool convertUnary(Importer &im, const onnx::NodeProto &node) {
  Value x = im.input(node, 0);
  if (!x)
    return false;
  if (!llvm::isa<FloatType>(elementOf(x)) && !std::is_same_v<OpTy, NegOp> &&
      !std::is_same_v<OpTy, ReluOp> && !std::is_same_v<OpTy, NotOp>)
    return im.fail(node, "needs a floating-point input");
  im.define(node, 0, im.g.unary<OpTy>(x));
  return true;
}

bool convertNeg(Importer &im, const onnx::NodeProto &node) {
  const Slot &a = im.slots.at(node.input(0));
  if (a.contents) {
    Shape out;
    for (const Dim &d : *a.contents) {
      std::optional<SizeExpr> size = toExpr(d);
      if (!size)
        return convertUnary<NegOp>(im, node);
      out.push_back(fromExpr(SizeExpr::constant(0) - *size, im.g.builder().getContext()));
    }
    im.define(node, 0, {}, out, a.scalar);
    return true;
  }
  return convertUnary<NegOp>(im, node);
}

bool convertNot(Importer &im, const onnx::NodeProto &node) {
  const Slot &a = im.slots.at(node.input(0));
  if (a.contents) {
    Shape out;
    for (const Dim &d : *a.contents) {
      if (!d.isStatic())
        return convertUnary<NotOp>(im, node);
      out.push_back(Dim::fixed(d.size == 0));
    }
    im.define(node, 0, {}, out, a.scalar);
    return true;
  }
  return convertUnary<NotOp>(im, node);
}

/// Mod on known integers (sizes); Loom has no remainder op for tensor data.
bool convertMod(Importer &im, const onnx::NodeProto &node) {
  if (im.attrInt(node, "fmod", 0) == 0 && binaryOnContents(im, node))
    return true;
  return im.fail(node, "is supported only on integers known at import time (sizes)");
}

bool convertCastLike(Importer &im, const onnx::NodeProto &node) {
  Value x = im.input(node, 0), like = im.input(node, 1);
  if (!x || !like)
    return false;
  im.define(node, 0, im.g.cast(x, elementOf(like)));
  return true;
}

bool convertIsNaN(Importer &im, const onnx::NodeProto &node) {
  Value x = im.input(node, 0);
  if (!x)
    return false;
  // NaN is the only value not equal to itself.
  im.define(node, 0, im.g.compare(CompareKind::NE, x, x));
  return true;
}

bool convertGelu(Importer &im, const onnx::NodeProto &node) {
  Value x = im.input(node, 0);
  if (!x)
    return false;
  std::string approximate = im.attrString(node, "approximate", "none");
  if (approximate != "none" && approximate != "tanh")
    return im.fail(node, "has approximate=\"" + approximate + "\"");
  im.define(node, 0,
            im.g.gelu(x, approximate == "tanh" ? GeluApproximation::Tanh
                                               : GeluApproximation::Erf));
  return true;
}

bool convertWhere(Importer &im, const onnx::NodeProto &node) {
  const Slot &c = im.slots.at(node.input(0)), &a = im.slots.at(node.input(1)),
             &b = im.slots.at(node.input(2));
  if (c.contents && a.contents && b.contents) {
    std::optional<Shape> picked = combine(*c.contents, *a.contents, [](Dim x, Dim y) {
      return std::optional<Dim>(x.isStatic() ? y : Dim::anonymous());
    });
    // Where(cond, a, b): take a where cond is 1, else b.
    Shape out;
    bool known = picked.has_value();
    size_t n = known ? picked->size() : 0;
    for (size_t i = 0; known && i < n; ++i) {
      const Dim &cond = (*c.contents)[c.contents->size() == 1 ? 0 : i];
      const Shape &from = cond.size ? *a.contents : *b.contents;
      if (!cond.isStatic() || (from.size() != 1 && from.size() != n)) {
        known = false;
        break;
      }
      out.push_back(from[from.size() == 1 ? 0 : i]);
    }
    if (known) {
      im.define(node, 0, {}, out, c.scalar && a.scalar && b.scalar);
      return true;
    }
  }
  Value cond = im.input(node, 0), x = im.input(node, 1), y = im.input(node, 2);
  if (!cond || !x || !y || !checkBroadcast(im, node, {cond, x, y}))
    return false;
  im.define(node, 0, im.g.select(cond, x, y));
  return true;
}

//===----------------------------------------------------------------------===//
// Contractions, reductions, normalizations
//===----------------------------------------------------------------------===//

bool convertMatMul(Importer &im, const onnx::NodeProto &node) {
  Value a = im.input(node, 0), b = im.input(node, 1);
  if (!a || !b)
    return false;
  Shape as = GraphBuilder::shape(a), bs = GraphBuilder::shape(b);
  // 1-D operands are promoted to matrices and the added dimension removed afterwards.
  if (as.size() == 1)
    a = im.g.reshape(a, {Dim::fixed(1), as[0]});
  if (bs.size() == 1)
    b = im.g.reshape(b, {bs[0], Dim::fixed(1)});
  Value y = im.g.matmul(a, b, /*transposeRhs=*/false);
  if (as.size() == 1 || bs.size() == 1) {
    Shape ys = GraphBuilder::shape(y);
    if (bs.size() == 1)
      ys.pop_back();
    if (as.size() == 1)
      ys.erase(ys.end() - (bs.size() == 1 ? 1 : 2));
    y = im.g.reshape(y, ys);
  }
  im.define(node, 0, y);
  return true;
}

bool convertGemm(Importer &im, const onnx::NodeProto &node) {
  Value a = im.input(node, 0), b = im.input(node, 1);
  if (!a || !b)
    return false;
  if (rankOf(a) != 2 || rankOf(b) != 2)
    return im.fail(node, "needs 2-D A and B");
  float alpha = im.attrFloat(node, "alpha", 1.0f),
        beta = im.attrFloat(node, "beta", 1.0f);
  Value y = im.g.matmul(a, b, im.attrInt(node, "transB", 0) != 0,
                        im.attrInt(node, "transA", 0) != 0);
  if (alpha != 1.0f)
    y = im.g.mul(y, im.g.cast(im.g.constant({alpha}), elementOf(y)));
  if (im.hasInput(node, 2)) {
    Value c = im.input(node, 2);
    if (!c)
      return false;
    if (beta != 1.0f)
      c = im.g.mul(c, im.g.cast(im.g.constant({beta}), elementOf(c)));
    y = im.g.add(y, c);
  }
  im.define(node, 0, y);
  return true;
}

template <ReduceKind Kind> bool convertReduce(Importer &im, const onnx::NodeProto &node) {
  Value x = im.input(node, 0);
  if (!x)
    return false;
  // Axes became an input in opset 13 for ReduceSum and in opset 18 for the others.
  bool axesInput = Kind == ReduceKind::Sum ? im.opset >= 13 : im.opset >= 18;
  std::vector<int64_t> axes;
  if (axesInput && im.hasInput(node, 1)) {
    auto given = im.staticInts(node, 1);
    if (!given)
      return im.fail(node, "axes must be constant integers");
    axes = *given;
  } else if (!axesInput) {
    axes = im.attrInts(node, "axes").value_or(std::vector<int64_t>{});
  }
  int64_t rank = rankOf(x);
  if (axes.empty()) {
    if (im.attrInt(node, "noop_with_empty_axes", 0)) {
      im.define(node, 0, x);
      return true;
    }
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
  }
  for (int64_t &axis : axes)
    if (!im.normalizeAxis(node, axis, rank))
      return false;
  llvm::sort(axes);
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  if (rank == 0) {
    im.define(node, 0, x);
    return true;
  }
  bool keepDims = im.attrInt(node, "keepdims", 1) != 0;
  if (elementOf(x).isInteger(1)) {
    // Booleans: max is "any", min is "all"; computed on 0/1 integers, so that an empty
    // set gives the identity (false for max, true for min).
    if (Kind != ReduceKind::Max && Kind != ReduceKind::Min)
      return im.fail(node, "reducing booleans needs ReduceMax or ReduceMin");
    Type i64 = im.g.builder().getI64Type();
    Value reduced = im.g.reduce(Kind, im.g.cast(x, i64), axes, keepDims);
    Value zero = im.intConstant({0}, /*scalar=*/true, i64);
    im.define(node, 0, im.g.compare(CompareKind::GT, reduced, zero));
    return true;
  }
  im.define(node, 0, im.g.reduce(Kind, x, axes, keepDims));
  return true;
}

/// Input 0 and the node's `axis` attribute (default -1) made non-negative; null after
/// recording an error.
Value inputAndAxis(Importer &im, const onnx::NodeProto &node, int64_t &axis) {
  Value x = im.input(node, 0);
  axis = im.attrInt(node, "axis", -1);
  if (!x || !im.normalizeAxis(node, axis, rankOf(x)))
    return {};
  return x;
}

bool convertSoftmax(Importer &im, const onnx::NodeProto &node) {
  int64_t axis;
  Value x = inputAndAxis(im, node, axis);
  if (!x)
    return false;
  im.define(node, 0, im.g.softmax(x, axis));
  return true;
}

/// The normalized dimensions of `x` from `axis` on, and the parameter `i` broadcast to
/// them (ONNX lets parameters broadcast; loom wants them exact).
Value normParameter(Importer &im, const onnx::NodeProto &node, int i,
                    const Shape &normalized) {
  Value p = im.input(node, i);
  return p ? im.g.broadcastTo(p, normalized) : Value();
}

bool convertLayerNorm(Importer &im, const onnx::NodeProto &node) {
  int64_t axis;
  Value x = inputAndAxis(im, node, axis);
  if (!x)
    return false;
  Shape shape = GraphBuilder::shape(x);
  Shape normalized(shape.begin() + axis, shape.end());
  Value scale = normParameter(im, node, 1, normalized);
  Value bias = im.hasInput(node, 2) ? normParameter(im, node, 2, normalized) : Value();
  if (!scale || (im.hasInput(node, 2) && !bias))
    return false;
  float epsilon = im.attrFloat(node, "epsilon", 1e-5f);
  im.define(node, 0, im.g.layerNorm(x, scale, bias, epsilon));
  // The optional statistics: mean and 1/sqrt(biased variance + epsilon), with the
  // normalized axes kept as size 1.
  if (node.output_size() > 1) {
    SmallVector<int64_t> axes;
    for (int64_t i = axis; i < rankOf(x); ++i)
      axes.push_back(i);
    Value mean = im.g.reduce(ReduceKind::Mean, x, axes, /*keepDims=*/true);
    Value centered = im.g.sub(x, mean);
    Value variance = im.g.reduce(ReduceKind::Mean, im.g.mul(centered, centered), axes,
                                 /*keepDims=*/true);
    Value eps = im.g.cast(im.g.constant({epsilon}), elementOf(x));
    im.define(node, 1, mean);
    im.define(node, 2, im.g.unary<RsqrtOp>(im.g.add(variance, eps)));
  }
  return true;
}

bool convertRmsNorm(Importer &im, const onnx::NodeProto &node) {
  int64_t axis;
  Value x = inputAndAxis(im, node, axis);
  if (!x)
    return false;
  Shape shape = GraphBuilder::shape(x);
  Value scale = normParameter(im, node, 1, Shape(shape.begin() + axis, shape.end()));
  if (!scale)
    return false;
  im.define(node, 0, im.g.rmsNorm(x, scale, im.attrFloat(node, "epsilon", 1e-5f)));
  return true;
}

bool convertLogSoftmax(Importer &im, const onnx::NodeProto &node) {
  int64_t axis;
  Value x = inputAndAxis(im, node, axis);
  if (!x)
    return false;
  // x - max - log(sum(exp(x - max))): the stable form, with no log of a rounded zero.
  Value shifted = im.g.sub(x, im.g.reduce(ReduceKind::Max, x, {axis}, true));
  Value total = im.g.reduce(ReduceKind::Sum, im.g.unary<ExpOp>(shifted), {axis}, true);
  im.define(node, 0, im.g.sub(shifted, im.g.unary<LogOp>(total)));
  return true;
}

/// Trilu keeps the elements with j - i >= k (upper) or j - i <= k (lower) of the last
/// two dimensions and zeroes the rest: a select on a mask built from two iotas.
bool convertTrilu(Importer &im, const onnx::NodeProto &node) {
  Value x = im.input(node, 0);
  if (!x)
    return false;
  int64_t k = 0;
  if (im.hasInput(node, 1)) {
    auto given = im.staticInts(node, 1);
    if (!given || given->size() != 1)
      return im.fail(node, "k must be a constant integer");
    k = (*given)[0];
  }
  int64_t rank = rankOf(x);
  if (rank < 2)
    return im.fail(node, "needs rank 2 or more");
  Type i64 = im.g.builder().getI64Type();
  Shape shape = GraphBuilder::shape(x);
  Value rows =
      im.g.reshape(im.g.iota(x, rank - 2, i64), {shape[rank - 2], Dim::fixed(1)});
  Value cols = im.g.iota(x, rank - 1, i64);
  Value diagonal = im.g.sub(cols, rows); // j - i, [rows, cols]
  Value kValue = im.intConstant({k}, true, i64);
  bool upper = im.attrInt(node, "upper", 1) != 0;
  Value keep = im.g.compare(upper ? CompareKind::GE : CompareKind::LE, diagonal, kValue);
  Value zero = llvm::isa<FloatType>(elementOf(x))
                   ? im.g.cast(im.g.constant({0.0f}), elementOf(x))
                   : im.intConstant({0}, true, elementOf(x));
  im.define(node, 0, im.g.select(keep, x, zero));
  return true;
}

//===----------------------------------------------------------------------===//
// Indexing and layout
//===----------------------------------------------------------------------===//

bool convertTranspose(Importer &im, const onnx::NodeProto &node) {
  Value x = im.input(node, 0);
  if (!x)
    return false;
  int64_t rank = rankOf(x);
  std::vector<int64_t> perm;
  if (auto given = im.attrInts(node, "perm")) {
    perm = *given;
  } else {
    for (int64_t i = rank - 1; i >= 0; --i)
      perm.push_back(i);
  }
  if (static_cast<int64_t>(perm.size()) != rank)
    return im.fail(node, "perm has " + std::to_string(perm.size()) +
                             " entries for rank " + std::to_string(rank));
  for (int64_t &p : perm)
    if (!im.normalizeAxis(node, p, rank))
      return false;
  im.define(node, 0, im.g.transpose(x, perm));
  return true;
}

bool convertCumSum(Importer &im, const onnx::NodeProto &node) {
  Value x = im.input(node, 0);
  auto axis = im.staticInts(node, 1);
  if (!x)
    return false;
  if (!axis || axis->size() != 1)
    return im.fail(node, "axis must be a constant integer");
  int64_t a = (*axis)[0];
  if (!im.normalizeAxis(node, a, rankOf(x)))
    return false;
  OpBuilder &b = im.g.builder();
  im.define(
      node, 0,
      CumsumOp::create(b, im.g.loc(), x.getType(), x, b.getI64IntegerAttr(a),
                       im.attrInt(node, "exclusive", 0) ? b.getUnitAttr() : UnitAttr(),
                       im.attrInt(node, "reverse", 0) ? b.getUnitAttr() : UnitAttr()));
  return true;
}

bool convertGatherElements(Importer &im, const onnx::NodeProto &node) {
  Value data = im.input(node, 0), indices = im.input(node, 1);
  if (!data || !indices)
    return false;
  int64_t axis = im.attrInt(node, "axis", 0);
  if (!im.normalizeAxis(node, axis, rankOf(data)))
    return false;
  auto type = makeTensorType(GraphBuilder::shape(indices), elementOf(data));
  im.define(
      node, 0,
      GatherElementsOp::create(im.g.builder(), im.g.loc(), type, data, indices, axis));
  return true;
}

bool convertGatherND(Importer &im, const onnx::NodeProto &node) {
  Value data = im.input(node, 0), indices = im.input(node, 1);
  if (!data || !indices)
    return false;
  int64_t batch = im.attrInt(node, "batch_dims", 0);
  Shape ds = GraphBuilder::shape(data), is = GraphBuilder::shape(indices);
  if (is.empty() || !is.back().isStatic())
    return im.fail(node, "the last dimension of the indices must be static");
  int64_t depth = is.back().size;
  if (batch + depth > static_cast<int64_t>(ds.size()))
    return im.fail(node, "indexes more dimensions than the data has");
  Shape result(is.begin(), is.end() - 1);
  result.append(ds.begin() + batch + depth, ds.end());
  im.define(node, 0,
            GatherNdOp::create(im.g.builder(), im.g.loc(),
                               makeTensorType(result, elementOf(data)), data, indices,
                               batch));
  return true;
}

} // namespace

const std::map<std::string, OpInfo> &converters() {
  static const std::map<std::string, OpInfo> table = {
      {"Add", {convertBinary<&GraphBuilder::add>, 7, ""}},
      {"Attention",
       {convertAttention, 23,
        "is_causal kv_num_heads left_window_size q_num_heads qk_matmul_output_mode "
        "right_window_size scale softcap "
        "softmax_precision"}},
      {"And", {convertBinary<&GraphBuilder::logicalAnd>, 7, ""}},
      // round_mode only applies to casts into FLOAT8E8M0, which convertCast refuses.
      {"Cast", {convertCast, 13, "round_mode saturate to"}},
      {"CastLike", {convertCastLike, 15, "saturate"}},
      {"Concat", {convertConcat, 11, "axis"}},
      {"Constant",
       {convertConstant, 13, "value value_float value_floats value_int value_ints"}},
      {"ConstantOfShape", {convertConstantOfShape, 9, "value"}},
      {"Cos", {convertUnary<CosOp>, 7, ""}},
      {"CumSum", {convertCumSum, 11, "exclusive reverse"}},
      {"Div", {convertBinary<&GraphBuilder::div>, 7, ""}},
      {"Equal", {convertCompare<CompareKind::EQ>, 7, ""}},
      {"Erf", {convertUnary<ErfOp>, 9, ""}},
      {"Exp", {convertUnary<ExpOp>, 6, ""}},
      {"Expand", {convertExpand, 8, ""}},
      {"Flatten", {convertFlatten, 13, "axis"}},
      {"Gather", {convertGather, 11, "axis"}},
      {"GatherElements", {convertGatherElements, 11, "axis"}},
      {"GatherND", {convertGatherND, 12, "batch_dims"}},
      {"Gelu", {convertGelu, 20, "approximate"}},
      {"Gemm", {convertGemm, 11, "alpha beta transA transB"}},
      {"Greater", {convertCompare<CompareKind::GT>, 7, ""}},
      {"GreaterOrEqual", {convertCompare<CompareKind::GE>, 12, ""}},
      {"Identity", {convertIdentity, 1, ""}},
      {"IsNaN", {convertIsNaN, 9, ""}},
      {"LayerNormalization", {convertLayerNorm, 17, "axis epsilon stash_type"}},
      {"LogSoftmax", {convertLogSoftmax, 13, "axis"}},
      {"Less", {convertCompare<CompareKind::LT>, 7, ""}},
      {"LessOrEqual", {convertCompare<CompareKind::LE>, 12, ""}},
      {"Log", {convertUnary<LogOp>, 6, ""}},
      {"MatMul", {convertMatMul, 1, ""}},
      {"Max", {convertVariadic<&GraphBuilder::maximum>, 8, ""}},
      {"Min", {convertVariadic<&GraphBuilder::minimum>, 8, ""}},
      {"Mod", {convertMod, 10, "fmod"}},
      {"Mul", {convertBinary<&GraphBuilder::mul>, 7, ""}},
      {"Neg", {convertNeg, 6, ""}},
      {"Not", {convertNot, 1, ""}},
      {"Or", {convertBinary<&GraphBuilder::logicalOr>, 7, ""}},
      {"Pad", {convertPad, 11, "mode"}},
      {"Pow", {convertPow, 7, ""}},
      {"Range", {convertRange, 11, ""}},
      {"Reciprocal", {convertUnary<ReciprocalOp>, 6, ""}},
      {"ReduceMax",
       {convertReduce<ReduceKind::Max>, 13, "axes keepdims noop_with_empty_axes"}},
      {"ReduceMean",
       {convertReduce<ReduceKind::Mean>, 13, "axes keepdims noop_with_empty_axes"}},
      {"ReduceSum",
       {convertReduce<ReduceKind::Sum>, 13, "axes keepdims noop_with_empty_axes"}},
      {"Relu", {convertUnary<ReluOp>, 6, ""}},
      {"Reshape", {convertReshape, 5, "allowzero"}},
      {"RotaryEmbedding",
       {convertRotaryEmbedding, 23, "interleaved num_heads rotary_embedding_dim"}},
      {"RMSNormalization", {convertRmsNorm, 23, "axis epsilon stash_type"}},
      {"Shape", {convertShape, 13, "start end"}},
      {"Sigmoid", {convertUnary<SigmoidOp>, 6, ""}},
      {"Sin", {convertUnary<SinOp>, 7, ""}},
      {"Slice", {convertSlice, 13, ""}},
      {"Softmax", {convertSoftmax, 13, "axis"}},
      {"Split", {convertSplit, 13, "axis num_outputs"}},
      {"Size", {convertSize, 13, ""}},
      {"Sqrt", {convertUnary<SqrtOp>, 6, ""}},
      {"Squeeze", {convertSqueeze, 13, ""}},
      {"Sub", {convertBinary<&GraphBuilder::sub>, 7, ""}},
      {"Sum", {convertVariadic<&GraphBuilder::add>, 8, ""}},
      {"Tanh", {convertUnary<TanhOp>, 6, ""}},
      {"Transpose", {convertTranspose, 1, "perm"}},
      {"Trilu", {convertTrilu, 14, "upper"}},
      {"Unsqueeze", {convertUnsqueeze, 13, ""}},
      {"Where", {convertWhere, 9, ""}},
  };
  return table;
}

} // namespace loom::onnximport
