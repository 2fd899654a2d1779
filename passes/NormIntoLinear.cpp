//===- NormIntoLinear.cpp - RMS norms become their linear layers' prologue -===//
//
//   h = kernel normalization(x, s) { rms_norm }
//   y = kernel matmul(h, W) { linear }
//     -> y = kernel matmul(x, s, W) { linear(rms_norm(x, s), W) }
//
// At a decode step an RMS norm is one block over a few kilobytes: its kernel is all
// launch and memory latency, and a Llama layer has two. When every reader of a norm
// kernel's result is the input of a 16-bit linear layer with a `[N, K]` weight (the
// layers whose matrix-vector variant can compute the norm itself), the norm moves into
// each reader as a prologue: the decode variant computes each row's statistic from the
// norm's input and normalizes as it reads, and larger steps normalize into scratch in
// a phase before the tiled kernel (a SwiGLU's gate and up layers each do so).
//
//===----------------------------------------------------------------------===//

#include "passes/KernelBuild.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-norm-into-linear"

namespace loom {
#define GEN_PASS_DEF_LOOMNORMINTOLINEAR
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// The RMS norm of a normalization kernel that is nothing else (its input and scale
/// are kernel inputs, its result the one output); null otherwise.
RmsNormOp plainNorm(KernelOp kernel) {
  if (kernel.getKind() != KernelKind::Normalization || kernel.getNumResults() != 1)
    return {};
  Block &body = kernel.getBody().front();
  if (body.getOperations().size() != 2)
    return {};
  auto norm = llvm::dyn_cast<RmsNormOp>(body.front());
  if (!norm || !llvm::isa<BlockArgument>(norm.getInput()) ||
      !llvm::isa<BlockArgument>(norm.getScale()) ||
      body.getTerminator()->getOperand(0) != norm.getResult())
    return {};
  auto type = llvm::cast<RankedTensorType>(norm.getType());
  if (!type.getElementType().isBF16() && !type.getElementType().isF16())
    return {};
  if (type.getRank() != 2 || norm.getAxis() != 1 || type.isDynamicDim(1) ||
      type.getDimSize(1) % 8)
    return {};
  return norm;
}

/// The linear layer of matmul kernel `kernel` that reads its operand `index` as its
/// input and nothing else reads; null otherwise.
LinearOp readingLinear(KernelOp kernel, unsigned index) {
  if (kernel.getKind() != KernelKind::Matmul)
    return {};
  auto linear = llvm::dyn_cast_or_null<LinearOp>(kernel.getAnchor());
  BlockArgument arg = kernel.getBody().getArgument(index);
  if (!linear || !linear.getTransposeWeight() || !arg.hasOneUse() ||
      linear.getInput() != arg)
    return {};
  // Quantized layers' kernels take no prologue: they dequantize as they read.
  auto weight = llvm::dyn_cast<BlockArgument>(linear.getWeight());
  if (weight) {
    Value outer = kernel.getInputs()[weight.getArgNumber()];
    if (auto source = outer.getDefiningOp<WeightOp>(); source && source.getQuantAttr())
      return {};
  }
  return linear;
}

/// `reader` rebuilt with `norm` (of kernel `normKernel`) as the prologue of the linear
/// layer that reads its operand `index`.
void absorb(KernelOp reader, unsigned index, KernelOp normKernel, RmsNormOp norm) {
  Value x =
      normKernel.getInputs()[llvm::cast<BlockArgument>(norm.getInput()).getArgNumber()];
  Value scale =
      normKernel.getInputs()[llvm::cast<BlockArgument>(norm.getScale()).getArgNumber()];
  SmallVector<Value> inputs;
  unsigned xArg = inputIndex(inputs, x), scaleArg = inputIndex(inputs, scale);
  SmallVector<int> readerArgs;
  for (auto [i, input] : llvm::enumerate(reader.getInputs()))
    readerArgs.push_back(i == index ? -1 : static_cast<int>(inputIndex(inputs, input)));
  OpBuilder builder(reader);
  KernelOp merged = createKernel(builder, reader.getLoc(), reader.getResultTypes(),
                                 KernelKind::Matmul, inputs, reader.getScheduleAttr());
  Block *body = &merged.getBody().front();
  IRMapping mapping;
  mapping.map(norm.getInput(), body->getArgument(xArg));
  mapping.map(norm.getScale(), body->getArgument(scaleArg));
  Value normalized = builder.clone(*norm, mapping)->getResult(0);
  for (auto [i, arg] : llvm::enumerate(reader.getBody().getArguments()))
    mapping.map(arg, readerArgs[i] < 0 ? normalized : body->getArgument(readerArgs[i]));
  for (Operation &op : reader.getBody().front())
    builder.clone(op, mapping);
  reader.replaceAllUsesWith(merged.getResults());
  reader.erase();
}

struct LoomNormIntoLinearPass
    : loom::impl::LoomNormIntoLinearBase<LoomNormIntoLinearPass> {
  void runOnOperation() override {
    getOperation()->walk([&](func::FuncOp func) {
      if (func.isExternal())
        return;
      SmallVector<KernelOp> norms;
      func.walk([&](KernelOp kernel) {
        if (plainNorm(kernel))
          norms.push_back(kernel);
      });
      for (KernelOp normKernel : norms) {
        RmsNormOp norm = plainNorm(normKernel);
        Value result = normKernel.getResult(0);
        if (result.use_empty() || !llvm::all_of(result.getUses(), [](OpOperand &use) {
              auto reader = llvm::dyn_cast<KernelOp>(use.getOwner());
              return reader && readingLinear(reader, use.getOperandNumber());
            }))
          continue;
        while (!result.use_empty()) {
          OpOperand &use = *result.getUses().begin();
          absorb(llvm::cast<KernelOp>(use.getOwner()), use.getOperandNumber(), normKernel,
                 norm);
          ++numAbsorbed;
          LLVM_DEBUG(llvm::dbgs()
                     << DEBUG_TYPE ": numAbsorbed " << numAbsorbed.getValue() << "\n");
        }
        normKernel.erase();
      }
    });
  }
};

} // namespace
