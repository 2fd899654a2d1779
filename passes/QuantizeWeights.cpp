//===- QuantizeWeights.cpp - Float weights of linear layers get an encoding -===//
//
//   %w = loom.weight "up" : tensor<512x256xbf16>
//     -> %w = loom.weight "up" quant <code = int4, group = 128, ...,
//                                                source = rtn> : tensor<512x256xbf16>
//
// The weight's type and every reader stay as they are: the encoding tells the runtime
// (and the reference executor) to quantize the checkpoint's float weight by round to
// nearest when it loads, and the CUDA emitter to read codes and scales. Only weights
// whose every reader takes them as the [N, K] matrix of a linear layer qualify, so a
// tied embedding (gathered and multiplied) keeps its float form.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-quantize-weights"

namespace loom {
#define GEN_PASS_DEF_LOOMQUANTIZEWEIGHTS
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// Whether `user` reads `weight` as the [N, K] matrix of a linear layer.
bool readsAsLinearMatrix(Operation *user, Value weight) {
  if (auto linear = dyn_cast<LinearOp>(user))
    return linear.getWeight() == weight && linear.getInput() != weight &&
           linear.getBias() != weight && linear.getTransposeWeight();
  if (auto matmul = dyn_cast<MatmulOp>(user))
    return matmul.getRhs() == weight && matmul.getLhs() != weight &&
           matmul.getTransposeRhs() && !matmul.getTransposeLhs() &&
           llvm::cast<RankedTensorType>(matmul.getType()).getRank() >= 1;
  return false;
}

/// Whether `value` reaches a return through casts and reshapes only (the LM head's
/// logits).
bool returnedDirectly(Value value) {
  for (Operation *user : value.getUsers()) {
    if (isa<func::ReturnOp>(user))
      return true;
    if (isa<CastOp, ReshapeOp>(user) && returnedDirectly(user->getResult(0)))
      return true;
  }
  return false;
}

struct LoomQuantizeWeightsPass
    : loom::impl::LoomQuantizeWeightsBase<LoomQuantizeWeightsPass> {
  using LoomQuantizeWeightsBase::LoomQuantizeWeightsBase;

  void runOnOperation() override {
    QuantEncoding encoding;
    encoding.source = QuantSource::Rtn;
    if (scheme == "int8") {
      encoding.element = QuantElement::Int8;
      encoding.groupSize = 0;
      encoding.scaleType = DType::F16;
    } else if (scheme == "int4") {
      encoding.element = QuantElement::Int4;
      encoding.groupSize = groupSize;
      encoding.scaleType = DType::F16;
      encoding.offset = symmetric ? QuantOffset::None : QuantOffset::Zero;
    } else if (scheme == "fp8") {
      encoding.element = QuantElement::Fp8E4M3;
      encoding.groupSize = 0;
      encoding.scaleType = DType::F32;
    } else {
      getOperation()->emitError()
          << "loom-quantize-weights: scheme '" << scheme << "' is not int8, int4 or fp8";
      return signalPassFailure();
    }
    std::string why = checkQuantEncoding(encoding);
    if (!why.empty()) {
      getOperation()->emitError() << "loom-quantize-weights: " << why;
      return signalPassFailure();
    }
    QuantAttr attr = QuantAttr::get(&getContext(), encoding);
    getOperation()->walk([&](WeightOp weight) {
      auto type = llvm::cast<RankedTensorType>(weight.getType());
      if (weight.getQuantAttr() || type.getRank() != 2 ||
          !llvm::isa<FloatType>(type.getElementType()) || weight->use_empty())
        return;
      Value value = weight.getResult();
      if (!llvm::all_of(weight->getUsers(), [&](Operation *user) {
            return readsAsLinearMatrix(user, value);
          }))
        return;
      int64_t k = type.getDimSize(1);
      if ((encoding.groupSize && k % encoding.groupSize) ||
          (encoding.element == QuantElement::Int4 && k % 2)) {
        LLVM_DEBUG(llvm::dbgs() << "keeping " << weight.getName() << ": groups of "
                                << encoding.groupSize << " do not divide " << k << "\n");
        return;
      }
      if (!lmHead && llvm::any_of(weight->getUsers(), [](Operation *user) {
            return returnedDirectly(user->getResult(0));
          }))
        return;
      weight.setQuantAttr(attr);
      ++numQuantized;
    });
  }
};

} // namespace
