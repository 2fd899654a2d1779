//===- AppendAdamW.cpp - A training step: gradients, then AdamW ------------===//
//
// Rewrites a differentiated function (loss, grad.<w>...) into a training step whose
// parameters and AdamW moments are inputs and outputs (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-append-adamw"

namespace loom {
#define GEN_PASS_DEF_LOOMAPPENDADAMW
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

class AppendAdamW : public loom::impl::LoomAppendAdamWBase<AppendAdamW> {
public:
  using LoomAppendAdamWBase::LoomAppendAdamWBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    Block &body = func.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    // The gradients: results named grad.<w>.
    struct Trained {
      std::string name;
      Value grad;
      RankedTensorType type;
    };
    SmallVector<Trained> trained;
    for (unsigned i = 1; i < ret.getNumOperands(); ++i) {
      auto name = func.getResultAttrOfType<StringAttr>(i, "loom.name");
      if (!name || !name.getValue().starts_with("grad."))
        continue;
      Value grad = ret.getOperand(i);
      trained.push_back({name.getValue().drop_front(5).str(), grad,
                         cast<RankedTensorType>(grad.getType())});
    }
    if (trained.empty())
      return;
    MLIRContext *context = &getContext();
    OpBuilder b(context);
    Location loc = func.getLoc();
    Type f32 = b.getF32Type();
    auto scalarType = RankedTensorType::get({}, f32);

    // The inputs: param, adam_m, adam_v of each weight, then step and lr.
    unsigned firstNew = body.getNumArguments();
    SmallVector<std::string> names;
    for (const char *prefix : {"param.", "adam_m.", "adam_v."})
      for (const Trained &t : trained) {
        body.addArgument(t.type, loc);
        names.push_back(prefix + t.name);
      }
    // The step's scalars, which the caller computes in double precision (as PyTorch
    // does in Python): 1 - beta^t in float32 loses the digits the bias correction needs.
    Value lr = body.addArgument(scalarType, loc), stepSize = body.addArgument(scalarType, loc),
          bc2Root = body.addArgument(scalarType, loc);
    names.push_back("lr");
    names.push_back("step_size");
    names.push_back("bias2_root");
    size_t n = trained.size();
    auto param = [&](size_t i) { return body.getArgument(firstNew + i); };
    auto moment = [&](size_t i, bool second) {
      return body.getArgument(firstNew + (second ? 2 : 1) * n + i);
    };
    // Every read of a trained weight reads its parameter input instead.
    llvm::StringMap<size_t> index;
    for (auto [i, t] : llvm::enumerate(trained))
      index[t.name] = i;
    for (Operation &op : llvm::make_early_inc_range(body.without_terminator()))
      if (auto weight = dyn_cast<WeightOp>(op))
        if (auto it = index.find(weight.getName()); it != index.end()) {
          if (weight.getType() != trained[it->second].type) {
            weight.emitOpError() << "has another type than its gradient";
            return signalPassFailure();
          }
          weight.getResult().replaceAllUsesWith(param(it->second));
          weight.erase();
        }

    // The update, before the return.
    b.setInsertionPoint(ret);
    auto constant = [&](double value) {
      return ConstantOp::create(
                 b, loc, DenseElementsAttr::get(scalarType, b.getF32FloatAttr(value)))
          .getResult();
    };
    auto binary = [&](auto tag, Value x, Value y) {
      using OpTy = decltype(tag);
      Type type = cast<RankedTensorType>(x.getType()).getRank() >=
                          cast<RankedTensorType>(y.getType()).getRank()
                      ? x.getType()
                      : y.getType();
      return OpTy::create(b, loc, type, x, y).getResult();
    };
    Value one = constant(1.0);
    Value decay = binary(SubOp(), one, binary(MulOp(), lr, constant(weightDecay)));
    SmallVector<Value> params, firsts, seconds;
    for (auto [i, t] : llvm::enumerate(trained)) {
      Value g = t.grad;
      Value p = binary(MulOp(), param(i), decay);
      Value m = binary(AddOp(), binary(MulOp(), moment(i, false), constant(beta1)),
                       binary(MulOp(), g, constant(1.0 - beta1)));
      Value v = binary(AddOp(), binary(MulOp(), moment(i, true), constant(beta2)),
                       binary(MulOp(), binary(MulOp(), g, g), constant(1.0 - beta2)));
      Value root = SqrtOp::create(b, loc, t.type, v).getResult();
      Value denominator = binary(AddOp(), binary(DivOp(), root, bc2Root), constant(eps));
      p = binary(SubOp(), p, binary(MulOp(), binary(DivOp(), m, denominator), stepSize));
      params.push_back(p);
      firsts.push_back(m);
      seconds.push_back(v);
    }
    SmallVector<Value> outputs = {ret.getOperand(0)};
    llvm::append_range(outputs, params);
    llvm::append_range(outputs, firsts);
    llvm::append_range(outputs, seconds);
    Attribute lossAttrs = func.getResultAttrDict(0);
    ret->setOperands(outputs);

    SmallVector<Type> inputTypes(body.getArgumentTypes()), outputTypes;
    for (Value v : outputs)
      outputTypes.push_back(v.getType());
    func.setType(FunctionType::get(context, inputTypes, outputTypes));
    for (auto [i, name] : llvm::enumerate(names))
      func.setArgAttr(firstNew + i, "loom.name", b.getStringAttr(name));
    SmallVector<Attribute> resultAttrs = {lossAttrs ? lossAttrs : b.getDictionaryAttr({})};
    for (size_t i = 0; i < 3 * n; ++i)
      resultAttrs.push_back(b.getDictionaryAttr(
          b.getNamedAttr("loom.name", b.getStringAttr(names[i]))));
    func.setAllResultAttrs(resultAttrs);
    LLVM_DEBUG(llvm::dbgs() << "@" << func.getName() << ": AdamW over " << n
                            << " tensors\n");
  }
};

} // namespace
