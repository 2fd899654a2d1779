//===- Executor.cpp - Interprets loom IR, op by op --------------------------===//
//
// Walks the entry function in order. Each op's operands are host tensors; its result
// is computed by the kernel of Kernels.h and then checked against the op's result type:
// static sizes must match, named sizes must agree with the sizes the inputs bound (a
// name seen for the first time is bound), anonymous sizes are taken as computed.
//
//===----------------------------------------------------------------------===//

#include "compiler/reference/Kernels.h"
#include "compiler/reference/ElementTypes.h"
#include "compiler/reference/ParallelOps.h"
#include "compiler/reference/Reference.h"

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/Shape.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <map>

using namespace mlir;

namespace loom::reference {

std::string Port::describe() const {
  std::string text = name + ": " + elementTypeName(type) + "[";
  for (size_t i = 0; i < dims.size(); ++i)
    text += (i ? ", " : "") + dims[i];
  return text + "]";
}

bool elementTypeOf(Type type, ElementType &out) {
  if (type.isF16())
    out = ElementType::F16;
  else if (type.isBF16())
    out = ElementType::BF16;
  else if (type.isF32())
    out = ElementType::F32;
  else if (type.isF64())
    out = ElementType::F64;
  else if (type.isInteger(1))
    out = ElementType::I1;
  else if (type.isInteger(8))
    out = ElementType::I8;
  else if (type.isInteger(16))
    out = ElementType::I16;
  else if (type.isInteger(32))
    out = ElementType::I32;
  else if (type.isInteger(64))
    out = ElementType::I64;
  else if (isa<Float8E4M3FNType>(type))
    out = ElementType::F8E4M3;
  else
    return false;
  return true;
}

namespace {

/// Per dimension of a tensor type: the static size, else the dimension's name, else "?".
std::vector<std::string> dimTexts(RankedTensorType type) {
  std::vector<std::string> texts;
  for (const loom::Dim &dim : loom::getShape(type))
    texts.push_back(dim.isStatic() ? std::to_string(dim.size)
                    : dim.isNamed() ? dim.name.str()
                                    : "?");
  return texts;
}

std::string opName(Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << op->getName() << " at " << op->getLoc();
  return text;
}

} // namespace

struct Executor::Impl {
  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  func::FuncOp entry;
  std::unique_ptr<WeightSource> weights;
  std::vector<Port> inputs, outputs;
  /// Weights already loaded, by op (a weight's type is part of its op).
  llvm::DenseMap<Operation *, Tensor> weightCache;
  /// Sizes of the named dimensions in the current run.
  std::map<std::string, int64_t> sizes;
  /// For a rank of a partitioned program: its collectives' transport and its rank.
  Communicator *communicator = nullptr;
  int64_t rank = 0;
  std::string error;

  bool fail(Operation *op, const std::string &why) {
    error = opName(op) + ": " + why;
    return false;
  }

  /// The runtime size of a named dimension, binding it when it is a plain name not
  /// bound yet and `bindTo` is given. nullopt when it cannot be known.
  std::optional<int64_t> sizeOf(StringRef name, std::optional<int64_t> bindTo) {
    std::optional<SizeExpr> expr = SizeExpr::parse(name);
    if (!expr)
      return std::nullopt;
    if (std::optional<int64_t> value = expr->evaluate(sizes))
      return value;
    if (bindTo && *expr == SizeExpr::symbol(name)) {
      sizes[name.str()] = *bindTo;
      return bindTo;
    }
    return std::nullopt;
  }

  /// Checks a computed shape against a type: rank, static sizes, named sizes.
  bool checkShape(Operation *op, const std::string &what, RankedTensorType type,
                  const Shape &shape) {
    if (static_cast<int64_t>(shape.size()) != type.getRank())
      return fail(op, what + " has rank " + std::to_string(shape.size()) + ", its type " +
                          std::to_string(type.getRank()));
    for (auto [axis, dim] : llvm::enumerate(loom::getShape(type))) {
      std::optional<int64_t> size;
      if (dim.isStatic())
        size = dim.size;
      else if (dim.isNamed())
        size = sizeOf(dim.name.getValue(), shape[axis]);
      if (size && *size != shape[axis])
        return fail(op, what + " dimension " + std::to_string(axis) + " is " +
                            std::to_string(shape[axis]) + " but its type says " +
                            (dim.isNamed() ? "'" + dim.name.str() + "' = " : "") +
                            std::to_string(*size));
    }
    return true;
  }

  /// The shape a reshape or broadcast produces: sizes from the type, anonymous ones
  /// (and names not yet bound) from `infer`.
  bool targetShape(Operation *op, RankedTensorType type, Shape &out,
                   const std::function<bool(size_t axis, int64_t &size)> &infer) {
    out.clear();
    std::vector<size_t> unknown;
    for (auto [axis, dim] : llvm::enumerate(loom::getShape(type))) {
      std::optional<int64_t> size;
      if (dim.isStatic())
        size = dim.size;
      else if (dim.isNamed())
        size = sizeOf(dim.name.getValue(), std::nullopt);
      out.push_back(size.value_or(-1));
      if (!size)
        unknown.push_back(axis);
    }
    for (size_t axis : unknown)
      if (!infer(axis, out[axis]))
        return fail(op, "cannot tell the size of result dimension " + std::to_string(axis));
    return true;
  }

  bool loadConstant(ConstantOp op, Tensor &out) {
    auto type = llvm::cast<RankedTensorType>(op.getType());
    auto dense = llvm::dyn_cast<DenseElementsAttr>(op.getValue());
    if (!dense)
      return fail(op, "only dense constants are supported");
    elementTypeOf(type.getElementType(), out.type);
    out = Tensor::zeros(out.type, Shape(type.getShape().begin(), type.getShape().end()));
    int64_t i = 0;
    if (out.isFloat()) {
      for (APFloat value : dense.getValues<APFloat>()) {
        bool lost;
        value.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
        out.floats[i++] = value.convertToDouble();
      }
    } else {
      bool isBool = out.type == ElementType::I1;
      for (const APInt &value : dense.getValues<APInt>())
        out.ints[i++] = isBool ? static_cast<int64_t>(value.getZExtValue()) : value.getSExtValue();
    }
    return true;
  }

  bool loadWeight(WeightOp op, Tensor &out) {
    auto it = weightCache.find(op);
    if (it != weightCache.end()) {
      out = it->second;
      return true;
    }
    if (!weights)
      return fail(op, "the model has weights but no weight source was given");
    auto type = llvm::cast<RankedTensorType>(op.getType());
    ElementType element;
    elementTypeOf(type.getElementType(), element);
    // A stacked weight is its parts' rows one after the other.
    Shape shape(type.getShape().begin(), type.getShape().end());
    out = Tensor::zeros(element, shape);
    size_t at = 0;
    for (auto [name, rows] : op.getParts()) {
      Shape partShape = shape;
      if (!partShape.empty())
        partShape[0] = rows;
      Tensor part;
      std::string why;
      if (QuantAttr quant = op.getQuantAttr()) {
        // Dequantized exactly in float32, then rounded to the weight's type.
        QuantizedWeight packed;
        if (!weights->loadQuantized(name.str(), quant.getEncoding(), rows, shape[1], packed,
                                    why))
          return fail(op, why);
        std::vector<float> values = dequantize(packed);
        part = Tensor::zeros(element, partShape);
        for (size_t i = 0; i < values.size(); ++i)
          part.floats[i] = roundTo(element, values[i]);
      } else if (ShardAttr shard = op.getShardAttr()) {
        if (!loadShard(*weights, name.str(), element, partShape, shard.getAxis(),
                       shard.getIndex(), shard.getCount(), part, why))
          return fail(op, why);
      } else if (!weights->load(name.str(), element, partShape, part, why)) {
        return fail(op, why);
      }
      if (part.isFloat())
        std::copy(part.floats.begin(), part.floats.end(), out.floats.begin() + at);
      else
        std::copy(part.ints.begin(), part.ints.end(), out.ints.begin() + at);
      at += static_cast<size_t>(part.numElements());
    }
    weightCache[op] = out;
    return true;
  }

  std::string describeInputs() const {
    std::string text;
    for (const Port &port : inputs)
      text += (text.empty() ? "" : ", ") + port.describe();
    return text;
  }

  bool execute(Operation *op, llvm::DenseMap<Value, Tensor> &values);
  /// The one op with several results: its three gradients join `values`.
  bool executeAttentionGrad(AttentionGradOp op, llvm::DenseMap<Value, Tensor> &values);
  /// Runs a kernel's body on its inputs; its outputs join `values`.
  bool executeKernel(KernelOp kernel, llvm::DenseMap<Value, Tensor> &values);
  bool run(const std::vector<const Tensor *> &inputs, std::vector<Tensor> &outputs);
};

namespace {

UnaryKind unaryKindOf(Operation *op) {
  return llvm::TypeSwitch<Operation *, UnaryKind>(op)
      .Case<NegOp>([](auto) { return UnaryKind::Neg; })
      .Case<ReluOp>([](auto) { return UnaryKind::Relu; })
      .Case<ExpOp>([](auto) { return UnaryKind::Exp; })
      .Case<LogOp>([](auto) { return UnaryKind::Log; })
      .Case<SqrtOp>([](auto) { return UnaryKind::Sqrt; })
      .Case<RsqrtOp>([](auto) { return UnaryKind::Rsqrt; })
      .Case<ReciprocalOp>([](auto) { return UnaryKind::Reciprocal; })
      .Case<TanhOp>([](auto) { return UnaryKind::Tanh; })
      .Case<CosOp>([](auto) { return UnaryKind::Cos; })
      .Case<SinOp>([](auto) { return UnaryKind::Sin; })
      .Case<ErfOp>([](auto) { return UnaryKind::Erf; })
      .Case<SigmoidOp>([](auto) { return UnaryKind::Sigmoid; })
      .Case<SiluOp>([](auto) { return UnaryKind::Silu; })
      .Default([](auto) { return UnaryKind::Not; });
}

std::optional<BinaryKind> binaryKindOf(Operation *op) {
  return llvm::TypeSwitch<Operation *, std::optional<BinaryKind>>(op)
      .Case<AddOp>([](auto) { return BinaryKind::Add; })
      .Case<SubOp>([](auto) { return BinaryKind::Sub; })
      .Case<MulOp>([](auto) { return BinaryKind::Mul; })
      .Case<DivOp>([](auto) { return BinaryKind::Div; })
      .Case<PowOp>([](auto) { return BinaryKind::Pow; })
      .Case<MaxOp>([](auto) { return BinaryKind::Max; })
      .Case<MinOp>([](auto) { return BinaryKind::Min; })
      .Case<AndOp>([](auto) { return BinaryKind::And; })
      .Case<OrOp>([](auto) { return BinaryKind::Or; })
      .Default([](auto) { return std::nullopt; });
}

std::vector<int64_t> toVector(ArrayRef<int64_t> values) {
  return std::vector<int64_t>(values.begin(), values.end());
}

} // namespace

bool Executor::Impl::executeKernel(KernelOp kernel, llvm::DenseMap<Value, Tensor> &values) {
  llvm::DenseMap<Value, Tensor> local;
  Block &body = kernel.getBody().front();
  for (auto [arg, input] : llvm::zip(body.getArguments(), kernel.getInputs()))
    local[arg] = values.find(input)->second;
  for (Operation &op : body.without_terminator())
    if (!execute(&op, local))
      return false;
  for (auto [result, yielded] : llvm::zip(kernel.getResults(), body.getTerminator()->getOperands()))
    values[result] = local.find(yielded)->second;
  return true;
}

bool Executor::Impl::executeAttentionGrad(AttentionGradOp op,
                                          llvm::DenseMap<Value, Tensor> &values) {
  auto in = [&](Value v) -> const Tensor & { return values.find(v)->second; };
  const Tensor *mask = op.getMask() ? &in(op.getMask()) : nullptr;
  std::optional<double> scale, softcap;
  if (std::optional<APFloat> s = op.getScale())
    scale = s->convertToFloat();
  if (std::optional<APFloat> c = op.getSoftcap())
    softcap = c->convertToFloat();
  Tensor grads[3];
  std::string why;
  if (!attentionGrad(in(op.getQuery()), in(op.getKey()), in(op.getValue()),
                     in(op.getResultGrad()), mask, op.getCausal(), scale, softcap,
                     grads[0], grads[1], grads[2], why))
    return fail(op, why);
  for (unsigned i = 0; i < 3; ++i) {
    auto type = llvm::cast<RankedTensorType>(op->getResult(i).getType());
    if (!checkShape(op, "result " + std::to_string(i), type, grads[i].shape))
      return false;
    values[op->getResult(i)] = std::move(grads[i]);
  }
  return true;
}

bool Executor::Impl::execute(Operation *op, llvm::DenseMap<Value, Tensor> &values) {
  if (auto kernel = dyn_cast<KernelOp>(op))
    return executeKernel(kernel, values);
  auto in = [&](unsigned i) -> const Tensor & { return values.find(op->getOperand(i))->second; };
  Tensor result;
  std::string why;
  bool ok = true;
  if (isa<NegOp, ReluOp, ExpOp, LogOp, SqrtOp, RsqrtOp, ReciprocalOp, TanhOp, CosOp, SinOp,
          ErfOp, SigmoidOp, SiluOp, NotOp>(op)) {
    result = unary(unaryKindOf(op), in(0));
  } else if (auto gelu = dyn_cast<GeluOp>(op)) {
    result = unary(gelu.getApproximation() == GeluApproximation::Erf ? UnaryKind::GeluErf
                                                                     : UnaryKind::GeluTanh,
                   in(0));
  } else if (std::optional<BinaryKind> kind = binaryKindOf(op)) {
    ok = binary(*kind, in(0), in(1), result, why);
  } else if (auto cmp = dyn_cast<CompareOp>(op)) {
    ok = compare(static_cast<reference::CompareKind>(cmp.getPredicate()), in(0), in(1),
                 result, why);
  } else if (isa<SelectOp>(op)) {
    ok = select(in(0), in(1), in(2), result, why);
  } else if (auto c = dyn_cast<CastOp>(op)) {
    ElementType type;
    elementTypeOf(c.getType().getElementType(), type);
    result = cast(in(0), type);
  } else if (auto c = dyn_cast<ConstantOp>(op)) {
    ok = loadConstant(c, result);
    if (!ok)
      return false;
  } else if (auto w = dyn_cast<WeightOp>(op)) {
    if (!loadWeight(w, result))
      return false;
  } else if (auto iotaOp = dyn_cast<IotaOp>(op)) {
    ElementType type;
    elementTypeOf(iotaOp.getType().getElementType(), type);
    result = iota(in(0).shape[iotaOp.getDim()], type);
  } else if (auto m = dyn_cast<MatmulOp>(op)) {
    ok = matmul(in(0), in(1), m.getTransposeLhs(), m.getTransposeRhs(), result, why);
  } else if (auto l = dyn_cast<LinearOp>(op)) {
    const Tensor *bias = l.getBias() ? &values.find(l.getBias())->second : nullptr;
    ok = linear(in(0), in(1), bias, l.getTransposeWeight(), result, why);
  } else if (auto q = dyn_cast<QuantizeRowsOp>(op)) {
    result = quantizeRows(in(0), q.getCode() == QuantCode::Fp8E4M3);
  } else if (auto r = dyn_cast<ReduceOp>(op)) {
    result = reduce(static_cast<reference::ReduceKind>(r.getKind()), in(0),
                    toVector(r.getAxes()), r.getKeepDims());
  } else if (auto c = dyn_cast<CumsumOp>(op)) {
    result = cumsum(in(0), c.getAxis(), c.getExclusive(), c.getReverse());
  } else if (auto s = dyn_cast<SoftmaxOp>(op)) {
    result = softmax(in(0), s.getAxis());
  } else if (auto n = dyn_cast<LayerNormOp>(op)) {
    const Tensor *bias = n.getBias() ? &values.find(n.getBias())->second : nullptr;
    result = layerNorm(in(0), in(1), bias, n.getAxis(), n.getEpsilon().convertToFloat());
  } else if (auto n = dyn_cast<RmsNormOp>(op)) {
    result = rmsNorm(in(0), in(1), n.getAxis(), n.getEpsilon().convertToFloat());
  } else if (auto g = dyn_cast<GatherOp>(op)) {
    ok = gather(in(0), in(1), g.getAxis(), result, why);
  } else if (auto g = dyn_cast<GatherElementsOp>(op)) {
    ok = gatherElements(in(0), in(1), g.getAxis(), result, why);
  } else if (auto g = dyn_cast<GatherNdOp>(op)) {
    ok = gatherNd(in(0), in(1), g.getBatchDims(), result, why);
  } else if (isa<RecomputeOp>(op)) {
    result = in(0); // the value itself: a marker for the compiler
    ok = true;
  } else if (auto r = dyn_cast<ReshapeOp>(op)) {
    const Tensor &x = in(0);
    Shape shape;
    int64_t count = x.numElements();
    auto type = llvm::cast<RankedTensorType>(r.getType());
    bool onlyOneUnknown = true;
    if (!targetShape(op, type, shape, [&](size_t axis, int64_t &size) {
          int64_t known = 1;
          for (size_t d = 0; d < shape.size(); ++d)
            if (d != axis) {
              onlyOneUnknown = onlyOneUnknown && shape[d] >= 0;
              known *= shape[d];
            }
          if (!onlyOneUnknown || known == 0 || count % known != 0)
            return false;
          size = count / known;
          return true;
        }))
      return false;
    int64_t total = 1;
    for (int64_t d : shape)
      total *= d;
    if (total != count)
      return fail(op, "cannot reshape " + x.describe() + " to " + std::to_string(total) +
                          " elements");
    result = reshape(x, shape);
  } else if (auto t = dyn_cast<TransposeOp>(op)) {
    result = transpose(in(0), toVector(t.getPermutation()));
  } else if (auto c = dyn_cast<ConcatOp>(op)) {
    std::vector<const Tensor *> inputs;
    for (Value v : c.getInputs())
      inputs.push_back(&values.find(v)->second);
    for (const Tensor *t : inputs)
      for (size_t d = 0; d < t->shape.size(); ++d)
        if (static_cast<int64_t>(d) != static_cast<int64_t>(c.getAxis()) &&
            t->shape[d] != inputs.front()->shape[d])
          return fail(op, "inputs differ in size outside the concatenated axis");
    result = concat(inputs, c.getAxis());
  } else if (auto s = dyn_cast<SliceOp>(op)) {
    result = slice(in(0), toVector(s.getAxes()), toVector(s.getStarts()),
                   toVector(s.getEnds()), toVector(s.getSteps()));
  } else if (auto b = dyn_cast<BroadcastOp>(op)) {
    const Tensor &x = in(0);
    Shape shape;
    auto type = llvm::cast<RankedTensorType>(b.getType());
    size_t lead = type.getRank() - x.shape.size();
    if (!targetShape(op, type, shape, [&](size_t axis, int64_t &size) {
          if (axis < lead || x.shape[axis - lead] == 1)
            return false;
          size = x.shape[axis - lead];
          return true;
        }))
      return false;
    ok = broadcastTo(x, shape, result, why);
  } else if (auto r = dyn_cast<RopeOp>(op)) {
    ok = rope(in(0), in(1), in(2), r.getInterleaved(), result, why);
  } else if (auto a = dyn_cast<AttentionOp>(op)) {
    const Tensor *mask = a.getMask() ? &values.find(a.getMask())->second : nullptr;
    std::optional<double> scale;
    if (std::optional<APFloat> s = a.getScale())
      scale = s->convertToFloat();
    std::optional<double> softcap;
    if (std::optional<APFloat> c = a.getSoftcap())
      softcap = c->convertToFloat();
    ok = attention(in(0), in(1), in(2), mask, a.getCausal(), scale, softcap, result, why);
  } else if (auto c = dyn_cast<CrossEntropyOp>(op)) {
    ok = crossEntropy(in(0), in(1), c.getShiftLabels(), c.getIgnoreIndex(), result, why);
  } else if (auto c = dyn_cast<CrossEntropyGradOp>(op)) {
    ok = crossEntropyGrad(in(0), in(1), in(2), c.getShiftLabels(), c.getIgnoreIndex(),
                          result, why);
  } else if (auto s = dyn_cast<ScatterAddOp>(op)) {
    // The result's shape: its type's sizes, the others those of the updates.
    const Tensor &updates = in(0);
    int64_t axis = s.getAxis(), indexRank = static_cast<int64_t>(in(1).shape.size());
    Shape shape;
    if (!targetShape(op, s.getType(), shape, [&](size_t d, int64_t &size) {
          int64_t at = static_cast<int64_t>(d) < axis ? d : d - 1 + indexRank;
          if (static_cast<int64_t>(d) == axis ||
              at >= static_cast<int64_t>(updates.shape.size()))
            return false;
          size = updates.shape[at];
          return true;
        }))
      return false;
    ok = scatterAdd(updates, in(1), axis, shape, result, why);
  } else if (auto a = dyn_cast<AttentionGradOp>(op)) {
    return executeAttentionGrad(a, values);
  } else if (auto w = dyn_cast<CacheWriteOp>(op)) {
    if (w.isQuantized()) {
      Tensor scales;
      if (!cacheWrite(in(0), in(1), in(2), &in(3), result, &scales, why))
        return fail(op, why);
      values[w.getNewScales()] = std::move(scales);
      ok = true;
    } else {
      ok = cacheWrite(in(0), in(1), in(2), nullptr, result, nullptr, why);
    }
  } else if (auto p = dyn_cast<PagedAttentionOp>(op)) {
    std::optional<double> scale, softcap;
    if (std::optional<APFloat> s = p.getScale())
      scale = s->convertToFloat();
    if (std::optional<APFloat> c = p.getSoftcap())
      softcap = c->convertToFloat();
    bool quantized = p.isQuantized();
    ok = pagedAttention(in(0), in(1), in(2), in(3), in(4), in(5),
                        quantized ? &in(6) : nullptr, quantized ? &in(7) : nullptr, scale,
                        softcap, result, why);
  } else if (isa<AllReduceOp, AllGatherOp, ReduceScatterOp, BroadcastFromOp, SendOp,
                 RecvOp>(op)) {
    std::vector<const Tensor *> operands;
    for (Value v : op->getOperands())
      operands.push_back(&values.find(v)->second);
    if (!communicator)
      return fail(op, "a collective runs only in a rank of a partitioned program "
                      "(ParallelExecutor)");
    if (!executeCollective(op, rank, *communicator, operands, result, why))
      return fail(op, why);
    if (op->getNumResults() == 0)
      return true;
  } else {
    return fail(op, "the reference executor does not know this op");
  }
  if (!ok)
    return fail(op, why);
  auto type = llvm::cast<RankedTensorType>(op->getResult(0).getType());
  if (!checkShape(op, "the result", type, result.shape))
    return false;
  values[op->getResult(0)] = std::move(result);
  return true;
}

bool Executor::Impl::run(const std::vector<const Tensor *> &inputTensors,
                         std::vector<Tensor> &outputTensors) {
  sizes.clear();
  if (inputTensors.size() != inputs.size()) {
    error = "the model takes " + std::to_string(inputs.size()) + " input(s), " +
            std::to_string(inputTensors.size()) + " were given";
    return false;
  }
  llvm::DenseMap<Value, Tensor> values;
  Block &body = entry.getBody().front();
  for (auto [i, tensor] : llvm::enumerate(inputTensors)) {
    const Port &port = inputs[i];
    if (!tensor)
      continue;
    if (tensor->type != port.type) {
      error = "input '" + port.name + "' must be " + elementTypeName(port.type) + ", not " +
              elementTypeName(tensor->type);
      return false;
    }
    auto type = llvm::cast<RankedTensorType>(body.getArgument(i).getType());
    if (!checkShape(entry, "input '" + port.name + "'", type, tensor->shape))
      return false;
    values[body.getArgument(i)] = *tensor;
  }
  // Inputs left out take their default, shaped by the sizes the others bound.
  for (auto [i, tensor] : llvm::enumerate(inputTensors)) {
    const Port &port = inputs[i];
    if (tensor)
      continue;
    if (!port.defaultValue) {
      error = "input '" + port.name + "' is missing (the model takes " +
              describeInputs() + ")";
      return false;
    }
    Shape shape;
    auto type = llvm::cast<RankedTensorType>(body.getArgument(i).getType());
    if (!targetShape(entry, type, shape, [](size_t, int64_t &) { return false; }))
      return false;
    Tensor filled = Tensor::zeros(port.type, shape);
    for (double &f : filled.floats)
      f = roundTo(port.type, *port.defaultValue);
    for (int64_t &n : filled.ints)
      n = wrapTo(port.type, static_cast<int64_t>(*port.defaultValue));
    values[body.getArgument(i)] = std::move(filled);
  }
  // Free each value after its last use: a model's activations need not all be alive.
  llvm::DenseMap<Value, Operation *> lastUse;
  for (Operation &op : body)
    for (Value operand : op.getOperands())
      lastUse[operand] = &op;
  for (Operation &op : body) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      outputTensors.clear();
      for (Value v : ret.getOperands())
        outputTensors.push_back(values.find(v)->second);
      return true;
    }
    if (!execute(&op, values))
      return false;
    for (Value operand : op.getOperands())
      if (lastUse.lookup(operand) == &op && !llvm::isa<BlockArgument>(operand))
        values.erase(operand);
  }
  error = "the entry function has no return";
  return false;
}

Executor::Executor() : impl_(std::make_unique<Impl>()) {}
Executor::~Executor() = default;

std::unique_ptr<Executor> Executor::create(const std::string &ir,
                                           std::unique_ptr<WeightSource> weights,
                                           std::string &error, const std::string &function,
                                           Communicator *communicator) {
  std::unique_ptr<Executor> executor(new Executor());
  Impl &impl = *executor->impl_;
  impl.context.loadDialect<LoomDialect, func::FuncDialect>();
  std::string diagnostics;
  {
    ScopedDiagnosticHandler handler(&impl.context, [&](Diagnostic &d) {
      llvm::raw_string_ostream os(diagnostics);
      os << d.getLocation() << ": " << d.str() << "\n";
      return success();
    });
    ParserConfig config(&impl.context);
    impl.module = parseSourceString<ModuleOp>(ir, config);
    if (impl.module && failed(verify(*impl.module)))
      impl.module = nullptr;
  }
  if (!impl.module) {
    error = "the IR does not parse or verify:\n" + diagnostics;
    return nullptr;
  }
  for (auto func : impl.module->getOps<func::FuncOp>())
    if (function.empty() ? func.getName() == "forward" || !impl.entry
                         : func.getName() == function)
      impl.entry = func;
  if (!impl.entry || impl.entry.isExternal()) {
    error = function.empty() ? "the IR has no function to run"
                             : "the IR has no function @" + function;
    return nullptr;
  }
  impl.communicator = communicator;
  if (auto rank = impl.entry->getAttrOfType<IntegerAttr>("loom.rank"))
    impl.rank = rank.getInt();
  auto describe = [&](Type type, StringAttr name, std::string fallback, Port &port) {
    auto tensor = llvm::dyn_cast<RankedTensorType>(type);
    if (!tensor || !elementTypeOf(tensor.getElementType(), port.type)) {
      error = "the entry point's '" + fallback + "' is not a loom tensor";
      return false;
    }
    port.name = name ? name.str() : fallback;
    port.dims = dimTexts(tensor);
    return true;
  };
  FunctionType signature = impl.entry.getFunctionType();
  for (unsigned i = 0; i < signature.getNumInputs(); ++i) {
    Port port;
    if (!describe(signature.getInput(i), impl.entry.getArgAttrOfType<StringAttr>(i, "loom.name"),
                  "arg" + std::to_string(i), port))
      return nullptr;
    if (auto fill = impl.entry.getArgAttrOfType<IntegerAttr>(i, "loom.default"))
      port.defaultValue = static_cast<double>(fill.getInt());
    impl.inputs.push_back(port);
  }
  for (unsigned i = 0; i < signature.getNumResults(); ++i) {
    Port port;
    if (!describe(signature.getResult(i),
                  impl.entry.getResultAttrOfType<StringAttr>(i, "loom.name"),
                  "result" + std::to_string(i), port))
      return nullptr;
    impl.outputs.push_back(port);
  }
  impl.weights = std::move(weights);
  return executor;
}

void Executor::forgetWeights() { impl_->weightCache.clear(); }

const std::vector<Port> &Executor::inputs() const { return impl_->inputs; }
const std::vector<Port> &Executor::outputs() const { return impl_->outputs; }

bool Executor::run(const std::vector<Tensor> &inputs, std::vector<Tensor> &outputs,
                   std::string &error) {
  std::vector<const Tensor *> pointers;
  for (const Tensor &t : inputs)
    pointers.push_back(&t);
  if (impl_->run(pointers, outputs))
    return true;
  error = impl_->error;
  return false;
}

bool Executor::run(const std::map<std::string, Tensor> &inputs,
                   std::vector<Tensor> &outputs, std::string &error) {
  std::vector<const Tensor *> pointers;
  for (const Port &port : impl_->inputs) {
    auto it = inputs.find(port.name);
    pointers.push_back(it == inputs.end() ? nullptr : &it->second);
  }
  for (const auto &[name, tensor] : inputs)
    if (std::none_of(impl_->inputs.begin(), impl_->inputs.end(),
                     [&](const Port &p) { return p.name == name; })) {
      error = "the model has no input '" + name + "' (it takes " + impl_->describeInputs() +
              ")";
      return false;
    }
  // Ids index tables (embeddings, token types): a negative one would silently count
  // from the table's end as a gather index does, where PyTorch raises an error.
  for (const auto &[name, tensor] : inputs) {
    bool ids = name.size() >= 4 && name.compare(name.size() - 4, 4, "_ids") == 0;
    for (size_t i = 0; ids && !tensor.isFloat() && i < tensor.ints.size(); ++i)
      if (tensor.ints[i] < 0) {
        error = "input '" + name + "' holds " + std::to_string(tensor.ints[i]) +
                " at element " + std::to_string(i) + "; ids must not be negative";
        return false;
      }
  }
  if (impl_->run(pointers, outputs))
    return true;
  error = impl_->error;
  return false;
}

} // namespace loom::reference
