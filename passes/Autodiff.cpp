//===- Autodiff.cpp - Reverse-mode gradients of a scalar loss ---------------===//
//
//   func.func @f(...) -> (loss) attributes {loom.autodiff}
//     -> func.func @f(...) -> (loss, grad.<w0>, grad.<w1>, ...)
//   {loom.autodiff = ["a", "b"]}: only the weights named (the others are constants).
//
// The pass knows no op: each op's rule is its DifferentiableOpInterface. It finds the
// values that depend on a weight (the only ones a gradient flows through), seeds the
// loss's gradient with 1 and visits the ops backwards, adding up the gradients of
// values read more than once. The backward ops go before the return, after the whole
// forward, which keeps every forward value they read alive (recomputation is a later
// pass's choice).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-autodiff"

namespace loom {
#define GEN_PASS_DEF_LOOMAUTODIFF
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

bool isFloatTensor(Value value) {
  auto type = llvm::dyn_cast<RankedTensorType>(value.getType());
  return type && llvm::isa<FloatType>(type.getElementType());
}

/// The differentiation of one function.
class Differentiator {
public:
  explicit Differentiator(func::FuncOp func) : func_(func), builder_(func.getContext()) {
    if (auto names = func->getAttrOfType<ArrayAttr>("loom.autodiff"))
      for (auto name : names.getAsRange<StringAttr>())
        trained_.insert(name.getValue());
    restricted_ = isa_and_nonnull<ArrayAttr>(func->getAttr("loom.autodiff"));
  }

  LogicalResult run();

private:
  /// Marks every float value that depends on a weight; fails on a weight the pass
  /// cannot differentiate.
  LogicalResult findActiveValues(Block &body);
  /// Adds `grad` to the gradient of `value`.
  void accumulate(Value value, Value grad);
  /// Asks `op` for the gradients of its active operands.
  LogicalResult differentiate(Operation *op);

  /// Whether weight `op` is differentiated: all are, unless the attribute lists names
  /// (a LoRA adapter over a frozen base).
  bool isTrained(WeightOp op) const {
    return !restricted_ || trained_.contains(op.getName());
  }

  func::FuncOp func_;
  OpBuilder builder_;
  bool restricted_ = false;
  llvm::StringSet<> trained_;
  llvm::DenseSet<Value> active_;
  llvm::DenseMap<Value, Value> grads_;
};

LogicalResult Differentiator::findActiveValues(Block &body) {
  bool failed = false;
  for (Operation &op : body) {
    if (auto weight = dyn_cast<WeightOp>(op)) {
      if (!isFloatTensor(weight) || !isTrained(weight))
        continue;
      if (weight.getQuantAttr() || weight.getStacked()) {
        weight.emitOpError() << "is quantized or stacked; loom-autodiff differentiates "
                                "plain float weights only";
        failed = true;
      }
      active_.insert(weight);
      continue;
    }
    bool reads =
        llvm::any_of(op.getOperands(), [&](Value v) { return active_.contains(v); });
    if (!reads)
      continue;
    if (isa<KernelOp>(op)) {
      op.emitOpError() << "is a fused kernel; run loom-autodiff before loom-fuse";
      failed = true;
    }
    for (Value result : op.getResults())
      if (isFloatTensor(result))
        active_.insert(result);
  }
  return failure(failed);
}

void Differentiator::accumulate(Value value, Value grad) {
  Value &sum = grads_[value];
  sum =
      sum ? AddOp::create(builder_, grad.getLoc(), value.getType(), sum, grad).getResult()
          : grad;
}

LogicalResult Differentiator::differentiate(Operation *op) {
  SmallVector<Value> resultGrads;
  bool any = false;
  for (Value result : op->getResults()) {
    resultGrads.push_back(grads_.lookup(result));
    any = any || resultGrads.back();
  }
  if (!any)
    return success(); // nothing the loss depends on flows through this op
  SmallVector<bool> needed;
  for (Value operand : op->getOperands())
    needed.push_back(active_.contains(operand));
  if (!llvm::is_contained(needed, true))
    return success();
  auto rule = dyn_cast<DifferentiableOpInterface>(op);
  if (!rule)
    return op->emitOpError()
           << "has no gradient rule (DifferentiableOpInterface), but the "
              "loss depends on a weight through it";
  SmallVector<Value> operandGrads;
  if (failed(rule.buildGradients(builder_, resultGrads, needed, operandGrads)))
    return failure();
  LLVM_DEBUG(llvm::dbgs() << "differentiated " << op->getName() << "\n");
  for (auto [operand, grad] : llvm::zip(op->getOperands(), operandGrads))
    if (grad && active_.contains(operand))
      accumulate(operand, grad);
  return success();
}

LogicalResult Differentiator::run() {
  Block &body = func_.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  if (ret.getNumOperands() == 0 || !isFloatTensor(ret.getOperand(0)) ||
      llvm::cast<RankedTensorType>(ret.getOperand(0).getType()).getRank() != 0)
    return func_.emitOpError() << "is marked loom.autodiff but its first result is not a "
                                  "scalar float loss (a rank-0 float tensor)";
  if (failed(findActiveValues(body)))
    return failure();

  builder_.setInsertionPoint(ret);
  Value loss = ret.getOperand(0);
  auto lossType = llvm::cast<RankedTensorType>(loss.getType());
  grads_[loss] = ConstantOp::create(
      builder_, func_.getLoc(),
      DenseElementsAttr::get(lossType,
                             builder_.getFloatAttr(lossType.getElementType(), 1.0)));
  SmallVector<Operation *> forward;
  for (Operation &op : body.without_terminator())
    forward.push_back(&op);
  for (Operation *op : llvm::reverse(forward))
    if (failed(differentiate(op)))
      return failure();

  // One gradient per weight name, in the order the weights first appear; a weight
  // the loss does not depend on gets zeros.
  llvm::MapVector<StringRef, std::pair<WeightOp, Value>> byName;
  for (Operation *op : forward) {
    auto weight = dyn_cast<WeightOp>(op);
    if (!weight || !isFloatTensor(weight) || !isTrained(weight))
      continue;
    auto &[first, sum] = byName[weight.getName()];
    first = first ? first : weight;
    if (Value grad = grads_.lookup(weight))
      sum = sum ? AddOp::create(builder_, weight.getLoc(), weight.getType(), sum, grad)
                      .getResult()
                : grad;
  }
  SmallVector<Value> results(ret.getOperands());
  SmallVector<Attribute> resultAttrs;
  for (unsigned i = 0; i < ret.getNumOperands(); ++i)
    resultAttrs.push_back(func_.getResultAttrDict(i)
                              ? Attribute(func_.getResultAttrDict(i))
                              : builder_.getDictionaryAttr({}));
  for (auto &[name, entry] : byName) {
    auto [weight, grad] = entry;
    if (!grad) {
      RankedTensorType type = weight.getType();
      Value zero = ConstantOp::create(
          builder_, func_.getLoc(),
          DenseElementsAttr::get(RankedTensorType::get({}, type.getElementType()),
                                 builder_.getFloatAttr(type.getElementType(), 0.0)));
      grad = BroadcastOp::create(builder_, func_.getLoc(), type, zero);
    }
    results.push_back(grad);
    resultAttrs.push_back(builder_.getDictionaryAttr(builder_.getNamedAttr(
        "loom.name", builder_.getStringAttr("grad." + name.str()))));
  }
  ret->setOperands(results);
  SmallVector<Type> types;
  for (Value v : results)
    types.push_back(v.getType());
  func_.setType(FunctionType::get(func_.getContext(), func_.getArgumentTypes(), types));
  func_.setAllResultAttrs(resultAttrs);
  func_->removeAttr("loom.autodiff");
  return success();
}

struct LoomAutodiffPass : loom::impl::LoomAutodiffBase<LoomAutodiffPass> {
  void runOnOperation() override {
    SmallVector<func::FuncOp> marked;
    getOperation()->walk([&](func::FuncOp func) {
      if (func->hasAttr("loom.autodiff") && !func.isExternal())
        marked.push_back(func);
    });
    bool failed = false;
    for (func::FuncOp func : marked)
      failed |= mlir::failed(Differentiator(func).run());
    if (failed)
      signalPassFailure();
  }
};

} // namespace
