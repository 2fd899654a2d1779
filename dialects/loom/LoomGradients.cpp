//===- LoomGradients.cpp - The gradient rule of each differentiable op -------===//
//
// Implementations of DifferentiableOpInterface::buildGradients (LoomInterfaces.td),
// which loom-autodiff calls op by op in reverse. Each rule writes the op's partial
// derivatives in loom ops; gradients of broadcast operands are summed over the
// broadcast axes. The formulas are the textbook ones (PyTorch's derivatives.yaml gives
// the same); where an op's backward has no good spelling in other ops it is an op of
// its own (LoomTrainingOps.td).
//
//===----------------------------------------------------------------------===//

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/Shape.h"

#include <cmath>

using namespace mlir;
using namespace loom;

namespace {

/// Creates the ops of one gradient rule, every result type given or derived from the
/// types at hand (the gradient of a value has that value's type).
class RuleBuilder {
public:
  RuleBuilder(OpBuilder &builder, Operation *op) : b(builder), loc(op->getLoc()) {}

  static RankedTensorType typeOf(Value v) {
    return llvm::cast<RankedTensorType>(v.getType());
  }

  /// A rank-0 constant of `elementType`, broadcast by the elementwise ops that read it.
  Value scalar(double value, Type elementType) {
    auto type = RankedTensorType::get({}, elementType);
    return ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(type,
                               ArrayRef<Attribute>{b.getFloatAttr(elementType, value)}));
  }
  /// Zeros of `type`.
  Value zeros(RankedTensorType type) {
    return BroadcastOp::create(b, loc, type, scalar(0.0, type.getElementType()));
  }

  /// The elementwise ops, whose result type is the broadcast of their operands'.
  template <typename OpTy> Value binary(Value x, Value y) {
    Shape shape;
    std::string why;
    bool ok = broadcastShapes(shapeOf(x), shapeOf(y), shape, why);
    assert(ok && "gradient operands must broadcast");
    (void)ok;
    return OpTy::create(b, loc, makeTensorType(shape, typeOf(x).getElementType()), x, y);
  }
  Value add(Value x, Value y) { return binary<AddOp>(x, y); }
  Value sub(Value x, Value y) { return binary<SubOp>(x, y); }
  Value mul(Value x, Value y) { return binary<MulOp>(x, y); }
  Value div(Value x, Value y) { return binary<DivOp>(x, y); }
  Value mul(Value x, double c) { return mul(x, scalar(c, typeOf(x).getElementType())); }
  template <typename OpTy> Value unary(Value x) { return OpTy::create(b, loc, x); }
  Value compare(CompareKind kind, Value x, Value y) {
    Shape shape;
    std::string why;
    broadcastShapes(shapeOf(x), shapeOf(y), shape, why);
    return CompareOp::create(b, loc, makeTensorType(shape, b.getI1Type()), kind, x, y);
  }
  /// `condition ? g : 0` (or `0 : g` when `onTrue` is false), shaped like `g`.
  Value where(Value condition, Value g, bool onTrue = true) {
    Value zero = scalar(0.0, typeOf(g).getElementType());
    Shape shape;
    std::string why;
    broadcastShapes(shapeOf(condition), shapeOf(g), shape, why);
    Type type = makeTensorType(shape, typeOf(g).getElementType());
    return onTrue ? SelectOp::create(b, loc, type, condition, g, zero).getResult()
                  : SelectOp::create(b, loc, type, condition, zero, g).getResult();
  }
  Value reshape(Value x, Type type) {
    return x.getType() == type ? x : ReshapeOp::create(b, loc, type, x).getResult();
  }

  /// Sums `x` over `axes`, keeping them as size 1 when `keepDims`.
  Value sum(Value x, ArrayRef<int64_t> axes, bool keepDims) {
    if (axes.empty())
      return x;
    Shape shape = shapeOf(x), out;
    for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
      bool reduced = llvm::is_contained(axes, d);
      if (!reduced)
        out.push_back(shape[d]);
      else if (keepDims)
        out.push_back(Dim::fixed(1));
    }
    return ReduceOp::create(b, loc, makeTensorType(out, typeOf(x).getElementType()),
                            ReduceKind::Sum, x, axes, keepDims);
  }

  /// The gradient `g` of a value that `type` was broadcast to, summed back to `type`:
  /// over the leading axes `type` lacks and the axes where it has a static 1.
  Value unbroadcast(Value g, RankedTensorType type) {
    Shape from = shapeOf(g), to = getShape(type);
    size_t lead = from.size() - to.size();
    SmallVector<int64_t> axes;
    for (size_t d = 0; d < from.size(); ++d)
      if (d < lead || (to[d - lead].isOne() && !from[d].isOne()))
        axes.push_back(static_cast<int64_t>(d));
    return reshape(sum(g, axes, /*keepDims=*/true), type);
  }

  /// `x [..., n]` as `[rows, n]`, the leading dimensions multiplied together.
  Value flattenRows(Value x) {
    Shape shape = shapeOf(x);
    SizeExpr rows = SizeExpr::constant(1);
    for (const Dim &dim : ArrayRef<Dim>(shape).drop_back())
      rows = rows * *toExpr(dim);
    Shape flat{fromExpr(rows, b.getContext()), shape.back()};
    return reshape(x, makeTensorType(flat, typeOf(x).getElementType()));
  }
  /// Whether flattenRows can name the rows (no anonymous leading dimension).
  static bool canFlattenRows(Value x) {
    Shape shape = shapeOf(x);
    return llvm::all_of(ArrayRef<Dim>(shape).drop_back(),
                        [](const Dim &d) { return !d.isAnonymous(); });
  }

  OpBuilder &b;
  Location loc;
};

/// Prepares `grads` (one null entry per operand) and tells whether the rule has work:
/// some operand needs a gradient and some gradient flows into the results.
bool start(Operation *op, ArrayRef<Value> resultGrads, ArrayRef<bool> needed,
           SmallVectorImpl<Value> &grads) {
  grads.assign(op->getNumOperands(), Value());
  return llvm::is_contained(needed, true) &&
         llvm::any_of(resultGrads, [](Value g) { return static_cast<bool>(g); });
}

/// The rule of a unary elementwise op whose derivative `derivative(x, y)` (x the
/// operand, y the result) multiplies the result's gradient.
LogicalResult unaryRule(Operation *op, OpBuilder &builder, ArrayRef<Value> resultGrads,
                        ArrayRef<bool> needed, SmallVectorImpl<Value> &grads,
                        function_ref<Value(RuleBuilder &, Value, Value)> derivative) {
  if (!start(op, resultGrads, needed, grads))
    return success();
  RuleBuilder r(builder, op);
  grads[0] = r.mul(resultGrads[0], derivative(r, op->getOperand(0), op->getResult(0)));
  return success();
}

/// A rule that builds nothing: the op's operands get no gradient.
LogicalResult noGradient(Operation *op, SmallVectorImpl<Value> &grads) {
  grads.assign(op->getNumOperands(), Value());
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Sources: no operand a gradient flows to
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::buildGradients(OpBuilder &, ArrayRef<Value>, ArrayRef<bool>,
                                       SmallVectorImpl<Value> &grads) {
  return noGradient(*this, grads);
}
LogicalResult ConstantOp::buildGradients(OpBuilder &, ArrayRef<Value>, ArrayRef<bool>,
                                         SmallVectorImpl<Value> &grads) {
  return noGradient(*this, grads);
}
LogicalResult IotaOp::buildGradients(OpBuilder &, ArrayRef<Value>, ArrayRef<bool>,
                                     SmallVectorImpl<Value> &grads) {
  return noGradient(*this, grads);
}

//===----------------------------------------------------------------------===//
// Elementwise unary
//===----------------------------------------------------------------------===//

LogicalResult NegOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  if (start(*this, gs, needed, grads))
    grads[0] = NegOp::create(b, getLoc(), gs[0]);
  return success();
}
LogicalResult ReluOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                     ArrayRef<bool> needed,
                                     SmallVectorImpl<Value> &grads) {
  if (!start(*this, gs, needed, grads))
    return success();
  RuleBuilder r(b, *this);
  Value x = getOperand();
  grads[0] = r.where(
      r.compare(CompareKind::GT, x, r.scalar(0.0, getType().getElementType())), gs[0]);
  return success();
}
LogicalResult ExpOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  return unaryRule(*this, b, gs, needed, grads,
                   [](RuleBuilder &, Value, Value y) { return y; });
}
LogicalResult LogOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  if (start(*this, gs, needed, grads))
    grads[0] = RuleBuilder(b, *this).div(gs[0], getOperand());
  return success();
}
LogicalResult SqrtOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                     ArrayRef<bool> needed,
                                     SmallVectorImpl<Value> &grads) {
  // d sqrt(x) = 1 / (2 sqrt(x))
  if (!start(*this, gs, needed, grads))
    return success();
  RuleBuilder r(b, *this);
  grads[0] = r.div(gs[0], r.mul(getResult(), 2.0));
  return success();
}
LogicalResult RsqrtOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                      ArrayRef<bool> needed,
                                      SmallVectorImpl<Value> &grads) {
  // d x^(-1/2) = -x^(-3/2) / 2 = -y^3 / 2
  return unaryRule(*this, b, gs, needed, grads, [](RuleBuilder &r, Value, Value y) {
    return r.mul(r.mul(r.mul(y, y), y), -0.5);
  });
}
LogicalResult ReciprocalOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                           ArrayRef<bool> needed,
                                           SmallVectorImpl<Value> &grads) {
  // d (1/x) = -1/x^2 = -y^2
  return unaryRule(*this, b, gs, needed, grads, [](RuleBuilder &r, Value, Value y) {
    return r.mul(r.mul(y, y), -1.0);
  });
}
LogicalResult TanhOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                     ArrayRef<bool> needed,
                                     SmallVectorImpl<Value> &grads) {
  return unaryRule(*this, b, gs, needed, grads, [](RuleBuilder &r, Value, Value y) {
    return r.sub(r.scalar(1.0, RuleBuilder::typeOf(y).getElementType()), r.mul(y, y));
  });
}
LogicalResult CosOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  return unaryRule(*this, b, gs, needed, grads, [](RuleBuilder &r, Value x, Value) {
    return r.unary<NegOp>(r.unary<SinOp>(x));
  });
}
LogicalResult SinOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  return unaryRule(*this, b, gs, needed, grads,
                   [](RuleBuilder &r, Value x, Value) { return r.unary<CosOp>(x); });
}
LogicalResult ErfOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  // d erf(x) = 2 / sqrt(pi) * exp(-x^2)
  return unaryRule(*this, b, gs, needed, grads, [](RuleBuilder &r, Value x, Value) {
    return r.mul(r.unary<ExpOp>(r.mul(r.mul(x, x), -1.0)), 2.0 / std::sqrt(M_PI));
  });
}
LogicalResult SigmoidOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                        ArrayRef<bool> needed,
                                        SmallVectorImpl<Value> &grads) {
  return unaryRule(*this, b, gs, needed, grads, [](RuleBuilder &r, Value, Value y) {
    return r.mul(y, r.sub(r.scalar(1.0, RuleBuilder::typeOf(y).getElementType()), y));
  });
}
LogicalResult SiluOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                     ArrayRef<bool> needed,
                                     SmallVectorImpl<Value> &grads) {
  // d (x s(x)) = s + x s (1 - s) = s (1 + x - x s)
  return unaryRule(*this, b, gs, needed, grads, [](RuleBuilder &r, Value x, Value) {
    Value s = r.unary<SigmoidOp>(x);
    Value one = r.scalar(1.0, RuleBuilder::typeOf(x).getElementType());
    return r.mul(s, r.sub(r.add(one, x), r.mul(x, s)));
  });
}
LogicalResult NotOp::buildGradients(OpBuilder &, ArrayRef<Value>, ArrayRef<bool>,
                                    SmallVectorImpl<Value> &grads) {
  return noGradient(*this, grads);
}

//===----------------------------------------------------------------------===//
// Elementwise binary, select, cast
//===----------------------------------------------------------------------===//

namespace {

/// The rule of a binary elementwise op: `dx(g)` and `dy(g)` are the gradients of the
/// broadcast operands, summed back to each operand's shape.
LogicalResult binaryRule(Operation *op, OpBuilder &builder, ArrayRef<Value> gs,
                         ArrayRef<bool> needed, SmallVectorImpl<Value> &grads,
                         function_ref<Value(RuleBuilder &, Value)> dx,
                         function_ref<Value(RuleBuilder &, Value)> dy) {
  if (!start(op, gs, needed, grads))
    return success();
  RuleBuilder r(builder, op);
  for (unsigned i = 0; i < 2; ++i)
    if (needed[i])
      grads[i] = r.unbroadcast(i == 0 ? dx(r, gs[0]) : dy(r, gs[0]),
                               RuleBuilder::typeOf(op->getOperand(i)));
  return success();
}

Value identity(RuleBuilder &, Value g) { return g; }

} // namespace

LogicalResult AddOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  return binaryRule(*this, b, gs, needed, grads, identity, identity);
}
LogicalResult SubOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  return binaryRule(*this, b, gs, needed, grads, identity,
                    [](RuleBuilder &r, Value g) { return r.unary<NegOp>(g); });
}
LogicalResult MulOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  Value x = getLhs(), y = getRhs();
  return binaryRule(
      *this, b, gs, needed, grads, [&](RuleBuilder &r, Value g) { return r.mul(g, y); },
      [&](RuleBuilder &r, Value g) { return r.mul(g, x); });
}
LogicalResult DivOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  // d(x/y)/dy = -(x/y)/y
  Value y = getRhs(), out = getResult();
  return binaryRule(
      *this, b, gs, needed, grads, [&](RuleBuilder &r, Value g) { return r.div(g, y); },
      [&](RuleBuilder &r, Value g) { return r.unary<NegOp>(r.div(r.mul(g, out), y)); });
}
LogicalResult PowOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  // d x^y = y x^(y-1) dx + x^y log(x) dy
  Value x = getLhs(), y = getRhs(), out = getResult();
  return binaryRule(
      *this, b, gs, needed, grads,
      [&](RuleBuilder &r, Value g) {
        Value one = r.scalar(1.0, getType().getElementType());
        return r.mul(g, r.mul(y, r.binary<PowOp>(x, r.sub(y, one))));
      },
      [&](RuleBuilder &r, Value g) { return r.mul(g, r.mul(out, r.unary<LogOp>(x))); });
}
LogicalResult MaxOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  // Ties go to the left operand.
  Value x = getLhs(), y = getRhs();
  return binaryRule(
      *this, b, gs, needed, grads,
      [&](RuleBuilder &r, Value g) {
        return r.where(r.compare(CompareKind::GE, x, y), g);
      },
      [&](RuleBuilder &r, Value g) {
        return r.where(r.compare(CompareKind::GE, x, y), g, /*onTrue=*/false);
      });
}
LogicalResult MinOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  Value x = getLhs(), y = getRhs();
  return binaryRule(
      *this, b, gs, needed, grads,
      [&](RuleBuilder &r, Value g) {
        return r.where(r.compare(CompareKind::LE, x, y), g);
      },
      [&](RuleBuilder &r, Value g) {
        return r.where(r.compare(CompareKind::LE, x, y), g, /*onTrue=*/false);
      });
}
LogicalResult AndOp::buildGradients(OpBuilder &, ArrayRef<Value>, ArrayRef<bool>,
                                    SmallVectorImpl<Value> &grads) {
  return noGradient(*this, grads);
}
LogicalResult OrOp::buildGradients(OpBuilder &, ArrayRef<Value>, ArrayRef<bool>,
                                   SmallVectorImpl<Value> &grads) {
  return noGradient(*this, grads);
}

LogicalResult SelectOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                       ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  if (!start(*this, gs, needed, grads))
    return success();
  RuleBuilder r(b, *this);
  if (needed[1])
    grads[1] = r.unbroadcast(r.where(getCondition(), gs[0]),
                             RuleBuilder::typeOf(getTrueValue()));
  if (needed[2])
    grads[2] = r.unbroadcast(r.where(getCondition(), gs[0], /*onTrue=*/false),
                             RuleBuilder::typeOf(getFalseValue()));
  return success();
}

LogicalResult CastOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                     ArrayRef<bool> needed,
                                     SmallVectorImpl<Value> &grads) {
  if (start(*this, gs, needed, grads))
    grads[0] = CastOp::create(b, getLoc(), getOperand().getType(), gs[0]);
  return success();
}

//===----------------------------------------------------------------------===//
// Contractions, reductions, normalizations
//===----------------------------------------------------------------------===//

namespace {

/// The type of a matmul of `lhs` and `rhs` as stored, with the given transposes: the
/// operands' batch dimensions broadcast, then [M, N].
RankedTensorType matmulType(Value lhs, Value rhs, bool transposeLhs, bool transposeRhs) {
  Shape l = shapeOf(lhs), r = shapeOf(rhs), out;
  std::string why;
  broadcastShapes(ArrayRef<Dim>(l).drop_back(2), ArrayRef<Dim>(r).drop_back(2), out, why);
  out.push_back(transposeLhs ? l.back() : l[l.size() - 2]);
  out.push_back(transposeRhs ? r[r.size() - 2] : r.back());
  return makeTensorType(out, RuleBuilder::typeOf(lhs).getElementType());
}

} // namespace

LogicalResult MatmulOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                       ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  if (!start(*this, gs, needed, grads))
    return success();
  RuleBuilder r(b, *this);
  Value g = gs[0], a = getLhs(), w = getRhs();
  bool ta = getTransposeLhs(), tw = getTransposeRhs();
  auto product = [&](Value x, Value y, bool tx, bool ty) -> Value {
    return MatmulOp::create(b, getLoc(), matmulType(x, y, tx, ty), x, y, tx, ty);
  };
  if (needed[0]) {
    // dA = g op(B)^T, stored transposed when A is: op(B) g^T.
    Value da = ta ? product(w, g, tw, true) : product(g, w, false, !tw);
    grads[0] = r.unbroadcast(da, RuleBuilder::typeOf(a));
  }
  if (needed[1]) {
    // dB = op(A)^T g, stored transposed when B is: g^T op(A). A 2-D B read by rows of
    // a batched A (a weight) takes one GEMM over all the rows.
    RankedTensorType type = RuleBuilder::typeOf(w);
    if (type.getRank() == 2 && a.getType() != type && !ta &&
        RuleBuilder::canFlattenRows(a)) {
      Value a2 = r.flattenRows(a), g2 = r.flattenRows(g);
      grads[1] = tw ? product(g2, a2, true, false) : product(a2, g2, true, false);
    } else {
      Value dw = tw ? product(g, a, true, ta) : product(a, g, !ta, false);
      grads[1] = r.unbroadcast(dw, type);
    }
  }
  return success();
}

LogicalResult LinearOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                       ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  if (!start(*this, gs, needed, grads))
    return success();
  RuleBuilder r(b, *this);
  Value g = gs[0], x = getInput(), w = getWeight();
  bool tw = getTransposeWeight();
  if (needed[0])
    grads[0] = LinearOp::create(b, getLoc(), x.getType(), g, w, Value(), !tw);
  if (needed[1]) {
    if (!RuleBuilder::canFlattenRows(x))
      return emitOpError()
             << "has an input with anonymous leading dimensions; its weight's "
                "gradient cannot name the rows";
    Value x2 = r.flattenRows(x), g2 = r.flattenRows(g);
    grads[1] = tw ? MatmulOp::create(b, getLoc(), w.getType(), g2, x2, true, false)
                  : MatmulOp::create(b, getLoc(), w.getType(), x2, g2, true, false);
  }
  if (getBias() && needed[2]) {
    SmallVector<int64_t> rows =
        llvm::to_vector(llvm::seq<int64_t>(0, shapeOf(g).size() - 1));
    grads[2] = r.sum(g, rows, /*keepDims=*/false);
  }
  return success();
}

LogicalResult ReduceOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                       ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  if (!start(*this, gs, needed, grads))
    return success();
  RuleBuilder r(b, *this);
  Value x = getOperand();
  RankedTensorType xType = RuleBuilder::typeOf(x);
  // The result and its gradient with the reduced axes kept as 1s.
  Shape kept = shapeOf(x);
  for (int64_t axis : getAxes())
    kept[axis] = Dim::fixed(1);
  RankedTensorType keptType = makeTensorType(kept, xType.getElementType());
  Value g = r.reshape(gs[0], keptType);
  switch (getKind()) {
  case ReduceKind::Sum:
    grads[0] = BroadcastOp::create(b, getLoc(), xType, g);
    break;
  case ReduceKind::Mean: {
    Value ones =
        BroadcastOp::create(b, getLoc(), xType, r.scalar(1.0, xType.getElementType()));
    Value n = r.sum(ones, getAxes(), /*keepDims=*/true);
    grads[0] = BroadcastOp::create(b, getLoc(), xType, r.div(g, n));
    break;
  }
  case ReduceKind::Max:
  case ReduceKind::Min: {
    // Ties share the gradient equally, as PyTorch's amax/amin do.
    Value y = r.reshape(getResult(), keptType);
    Value hit = r.compare(CompareKind::EQ, x, y);
    Value hits =
        r.sum(CastOp::create(b, getLoc(),
                             makeTensorType(shapeOf(x), xType.getElementType()), hit),
              getAxes(), /*keepDims=*/true);
    grads[0] = r.where(hit, r.div(g, hits));
    break;
  }
  }
  return success();
}

LogicalResult CumsumOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                       ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  // Each element feeds the sums after it (before it, reversed).
  if (start(*this, gs, needed, grads))
    grads[0] =
        CumsumOp::create(b, getLoc(), getType(), gs[0], getAxisAttr(), getExclusiveAttr(),
                         getReverse() ? UnitAttr() : b.getUnitAttr());
  return success();
}

LogicalResult SoftmaxOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                        ArrayRef<bool> needed,
                                        SmallVectorImpl<Value> &grads) {
  // dx = y * (g - sum(g * y))
  if (!start(*this, gs, needed, grads))
    return success();
  RuleBuilder r(b, *this);
  Value y = getResult(), g = gs[0];
  Value dot = r.sum(r.mul(g, y), {static_cast<int64_t>(getAxis())}, /*keepDims=*/true);
  grads[0] = r.mul(y, r.sub(g, dot));
  return success();
}

LogicalResult RmsNormOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                        ArrayRef<bool> needed,
                                        SmallVectorImpl<Value> &grads) {
  // y = x * r * w with r = 1 / sqrt(mean(x^2) + eps) over the normalized axes:
  // dx = r * (g w - x r^2 mean(g w x)),  dw = sum over rows of g x r.
  if (!start(*this, gs, needed, grads))
    return success();
  RuleBuilder r(b, *this);
  Value x = getInput(), w = getScale(), g = gs[0];
  int64_t rank = RuleBuilder::typeOf(x).getRank(), axis = getAxis();
  Type element = RuleBuilder::typeOf(x).getElementType();
  SmallVector<int64_t> normalized = llvm::to_vector(llvm::seq<int64_t>(axis, rank));
  Shape kept = shapeOf(x);
  for (int64_t d : normalized)
    kept[d] = Dim::fixed(1);
  RankedTensorType keptType = makeTensorType(kept, element);
  Value meanSquare = ReduceOp::create(b, getLoc(), keptType, ReduceKind::Mean,
                                      r.mul(x, x), normalized, /*keep_dims=*/true);
  Value eps = r.scalar(getEpsilon().convertToDouble(), element);
  Value inv = r.unary<RsqrtOp>(r.add(meanSquare, eps));
  if (needed[0]) {
    Value gw = r.mul(g, w);
    Value proj = ReduceOp::create(b, getLoc(), keptType, ReduceKind::Mean, r.mul(gw, x),
                                  normalized, /*keep_dims=*/true);
    Value correction = r.mul(x, r.mul(r.mul(inv, inv), proj));
    grads[0] = r.mul(inv, r.sub(gw, correction));
  }
  if (needed[1]) {
    SmallVector<int64_t> rows = llvm::to_vector(llvm::seq<int64_t>(0, axis));
    grads[1] =
        r.reshape(r.sum(r.mul(g, r.mul(x, inv)), rows, /*keepDims=*/false), w.getType());
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Indexing and layout
//===----------------------------------------------------------------------===//

LogicalResult GatherOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                       ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  if (!start(*this, gs, needed, grads) || !needed[0])
    return success();
  auto type = RuleBuilder::typeOf(getData());
  if (type.isDynamicDim(getAxis()))
    return emitOpError() << "gathers along a dynamic axis; its gradient (a scatter-add) "
                            "needs the axis's size to be static";
  grads[0] = ScatterAddOp::create(b, getLoc(), type, gs[0], getIndices(), getAxisAttr());
  return success();
}

LogicalResult ReshapeOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                        ArrayRef<bool> needed,
                                        SmallVectorImpl<Value> &grads) {
  if (start(*this, gs, needed, grads))
    grads[0] = RuleBuilder(b, *this).reshape(gs[0], getOperand().getType());
  return success();
}

LogicalResult TransposeOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                          ArrayRef<bool> needed,
                                          SmallVectorImpl<Value> &grads) {
  if (!start(*this, gs, needed, grads))
    return success();
  ArrayRef<int64_t> permutation = getPermutation();
  SmallVector<int64_t> inverse(permutation.size());
  for (auto [i, p] : llvm::enumerate(permutation))
    inverse[p] = static_cast<int64_t>(i);
  grads[0] = TransposeOp::create(b, getLoc(), getOperand().getType(), gs[0], inverse);
  return success();
}

LogicalResult BroadcastOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                          ArrayRef<bool> needed,
                                          SmallVectorImpl<Value> &grads) {
  if (start(*this, gs, needed, grads))
    grads[0] =
        RuleBuilder(b, *this).unbroadcast(gs[0], RuleBuilder::typeOf(getOperand()));
  return success();
}

LogicalResult ConcatOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                       ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  // Each input's gradient is its window of g, found from the front while the sizes
  // before it are static, else from the back.
  if (!start(*this, gs, needed, grads))
    return success();
  int64_t axis = getAxis();
  SmallVector<int64_t> sizes;
  for (Value input : getInputs())
    sizes.push_back(RuleBuilder::typeOf(input).getDimSize(axis));
  auto staticSum = [&](size_t from, size_t to) -> std::optional<int64_t> {
    int64_t total = 0;
    for (size_t i = from; i < to; ++i) {
      if (ShapedType::isDynamic(sizes[i]))
        return std::nullopt;
      total += sizes[i];
    }
    return total;
  };
  constexpr int64_t toEnd = std::numeric_limits<int64_t>::max();
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (!needed[i])
      continue;
    std::optional<int64_t> before = staticSum(0, i),
                           after = staticSum(i + 1, sizes.size());
    bool isStatic = !ShapedType::isDynamic(sizes[i]);
    int64_t start, end;
    if (before && (isStatic || after)) {
      start = *before;
      end = isStatic ? start + sizes[i] : (*after ? -*after : toEnd);
    } else if (after && isStatic) {
      start = -(*after + sizes[i]);
      end = *after ? -*after : toEnd;
    } else {
      return emitOpError() << "cannot place input " << i
                           << " in its gradient: dynamic sizes on both sides of it";
    }
    grads[i] = SliceOp::create(b, getLoc(), getInputs()[i].getType(), gs[0],
                               ArrayRef<int64_t>{axis}, ArrayRef<int64_t>{start},
                               ArrayRef<int64_t>{end}, ArrayRef<int64_t>{1});
  }
  return success();
}

LogicalResult SliceOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                      ArrayRef<bool> needed,
                                      SmallVectorImpl<Value> &grads) {
  // g padded with zeros back to the operand's shape, one axis at a time.
  if (!start(*this, gs, needed, grads))
    return success();
  RuleBuilder r(b, *this);
  Value g = gs[0];
  RankedTensorType operand = RuleBuilder::typeOf(getOperand());
  for (auto [i, axis] : llvm::enumerate(getAxes())) {
    int64_t n = operand.getDimSize(axis), step = getSteps()[i];
    if (ShapedType::isDynamic(n) || step != 1)
      return emitOpError() << "has no gradient rule for axis " << axis
                           << " (a dynamic axis or a step other than 1)";
    auto clamp = [n](int64_t bound) {
      bound = bound < 0 ? bound + n : bound;
      return std::clamp<int64_t>(bound, 0, n);
    };
    int64_t start = clamp(getStarts()[i]), end = std::max(start, clamp(getEnds()[i]));
    SmallVector<Value> pieces;
    Shape shape = shapeOf(g);
    Type element = operand.getElementType();
    if (start > 0) {
      shape[axis] = Dim::fixed(start);
      pieces.push_back(r.zeros(makeTensorType(shape, element)));
    }
    pieces.push_back(g);
    if (end < n) {
      shape[axis] = Dim::fixed(n - end);
      pieces.push_back(r.zeros(makeTensorType(shape, element)));
    }
    shape[axis] = Dim::fixed(n);
    if (pieces.size() > 1)
      g = ConcatOp::create(b, getLoc(), makeTensorType(shape, element), pieces,
                           static_cast<uint64_t>(axis));
  }
  grads[0] = r.reshape(g, operand);
  return success();
}

//===----------------------------------------------------------------------===//
// Transformer blocks, losses
//===----------------------------------------------------------------------===//

LogicalResult RopeOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                     ArrayRef<bool> needed,
                                     SmallVectorImpl<Value> &grads) {
  // A rotation by angle a; its gradient rotates back by -a: sin negated.
  if (!start(*this, gs, needed, grads))
    return success();
  if (needed[1] || needed[2])
    return emitOpError() << "has cos/sin tables that depend on what is differentiated; "
                            "only the rotated input has a gradient rule";
  Value sin = NegOp::create(b, getLoc(), getSin());
  grads[0] = RopeOp::create(b, getLoc(), gs[0], getCos(), sin, getInterleavedAttr());
  return success();
}

LogicalResult AttentionOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                          ArrayRef<bool> needed,
                                          SmallVectorImpl<Value> &grads) {
  if (!start(*this, gs, needed, grads))
    return success();
  if (getMask() && needed[3])
    return emitOpError() << "has a mask that depends on what is differentiated; the mask "
                            "has no gradient rule";
  auto backward = AttentionGradOp::create(b, getLoc(), getQuery(), getKey(), getValue(),
                                          gs[0], getMask(), getCausalAttr(),
                                          getScaleAttr(), getSoftcapAttr());
  for (unsigned i = 0; i < 3; ++i)
    if (needed[i])
      grads[i] = backward->getResult(i);
  return success();
}

LogicalResult CrossEntropyOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                             ArrayRef<bool> needed,
                                             SmallVectorImpl<Value> &grads) {
  if (start(*this, gs, needed, grads) && needed[0])
    grads[0] = CrossEntropyGradOp::create(b, getLoc(), getLogits().getType(), getLogits(),
                                          getLabels(), gs[0], getShiftLabelsAttr(),
                                          getIgnoreIndexAttr());
  return success();
}

LogicalResult ScatterAddOp::buildGradients(OpBuilder &b, ArrayRef<Value> gs,
                                           ArrayRef<bool> needed,
                                           SmallVectorImpl<Value> &grads) {
  if (start(*this, gs, needed, grads) && needed[0])
    grads[0] = GatherOp::create(b, getLoc(), getUpdates().getType(), gs[0], getIndices(),
                                getAxisAttr());
  return success();
}
