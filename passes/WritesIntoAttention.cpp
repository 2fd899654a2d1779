//===- WritesIntoAttention.cpp - A layer's cache writes join its attention -===//
//
//   kc', vc' = kernel scatter(kc, k, slots, vc, v) { cache_write; cache_write }
//   o = kernel attention(q, kc', vc', tables, ...) { paged_attention }
//     -> o, kc', vc' = kernel attention(q, kc, ..., k, slots, vc, v) {
//          cache_write; cache_write; paged_attention }
//
// At a decode step a layer's cache writes are a few hundred bytes, and the attention
// that follows waits for them; the attention blocks compute the new rows themselves
// (they need them anyway), so the CUDA emitter lets a one-token step's attention store
// them and drops the scatter launch and its dependent round trip. Steps of more tokens
// run the writes as a phase before the attention. The merged kernel takes the
// attention's place: the scatter's inputs are all available there, and every other
// reader of the caches (the function's return) comes after it.
//
//===----------------------------------------------------------------------===//

#include "passes/KernelBuild.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-writes-into-attention"

namespace loom {
#define GEN_PASS_DEF_LOOMWRITESINTOATTENTION
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// The scatter kernel that makes both caches `attention` reads, when it can join it:
/// it makes nothing else the attention reads, and no reader of its results precedes
/// the attention.
KernelOp writerOf(KernelOp attention) {
  auto paged = llvm::dyn_cast_or_null<PagedAttentionOp>(attention.getAnchor());
  if (!paged)
    return {};
  auto outer = [&](Value inner) -> Value {
    auto arg = llvm::dyn_cast<BlockArgument>(inner);
    return arg ? attention.getInputs()[arg.getArgNumber()] : Value();
  };
  Value keys = outer(paged.getKeyCache()), values = outer(paged.getValueCache());
  auto scatter = keys ? keys.getDefiningOp<KernelOp>() : KernelOp();
  if (!scatter || scatter.getKind() != KernelKind::Scatter || !values ||
      values.getDefiningOp() != scatter.getOperation() ||
      scatter->getBlock() != attention->getBlock())
    return {};
  for (Value result : scatter.getResults())
    for (Operation *user : result.getUsers())
      if (user != attention.getOperation() && !attention->isBeforeInBlock(user))
        return {};
  // Each of the attention's inputs made by the scatter is one of the two caches.
  for (Value input : attention.getInputs())
    if (input.getDefiningOp() == scatter.getOperation() && input != keys &&
        input != values)
      return {};
  return scatter;
}

/// One attention kernel in `attention`'s place doing `scatter`'s writes and then the
/// attention; its results are the attention's, then the scatter's.
void merge(KernelOp scatter, KernelOp attention) {
  // The attention's inputs but the caches the scatter makes (-1), then the scatter's.
  SmallVector<Value> inputs;
  SmallVector<int> attentionArgs;
  for (Value input : attention.getInputs())
    attentionArgs.push_back(input.getDefiningOp() == scatter.getOperation()
                                ? -1
                                : static_cast<int>(inputIndex(inputs, input)));
  SmallVector<unsigned> scatterArgs;
  for (Value input : scatter.getInputs())
    scatterArgs.push_back(inputIndex(inputs, input));
  SmallVector<Type> resultTypes(attention.getResultTypes());
  llvm::append_range(resultTypes, scatter.getResultTypes());
  OpBuilder builder(attention);
  KernelOp merged =
      createKernel(builder, attention.getLoc(), resultTypes, KernelKind::Attention,
                   inputs, attention.getScheduleAttr());
  Block *body = &merged.getBody().front();
  // The writes, then the attention reading their results where it read the scatter's.
  IRMapping writes;
  for (BlockArgument arg : scatter.getBody().getArguments())
    writes.map(arg, body->getArgument(scatterArgs[arg.getArgNumber()]));
  for (Operation &op : scatter.getBody().front().without_terminator())
    builder.clone(op, writes);
  auto scatterYield = scatter.getBody().front().getTerminator()->getOperands();
  IRMapping reads;
  for (BlockArgument arg : attention.getBody().getArguments()) {
    int at = attentionArgs[arg.getArgNumber()];
    Value input = attention.getInputs()[arg.getArgNumber()];
    reads.map(arg,
              at >= 0 ? Value(body->getArgument(at))
                      : writes.lookup(
                            scatterYield[llvm::cast<OpResult>(input).getResultNumber()]));
  }
  for (Operation &op : attention.getBody().front().without_terminator())
    builder.clone(op, reads);
  SmallVector<Value> yielded;
  for (Value v : attention.getBody().front().getTerminator()->getOperands())
    yielded.push_back(reads.lookup(v));
  for (Value v : scatterYield)
    yielded.push_back(writes.lookup(v));
  YieldOp::create(builder, attention.getLoc(), yielded);
  replaceByMerged(attention, scatter, merged);
}

struct LoomWritesIntoAttentionPass
    : loom::impl::LoomWritesIntoAttentionBase<LoomWritesIntoAttentionPass> {
  void runOnOperation() override {
    getOperation()->walk([&](func::FuncOp func) {
      if (func.isExternal())
        return;
      SmallVector<std::pair<KernelOp, KernelOp>> pairs;
      func.walk([&](KernelOp kernel) {
        if (kernel.getKind() == KernelKind::Attention)
          if (KernelOp scatter = writerOf(kernel))
            pairs.push_back({scatter, kernel});
      });
      for (auto [scatter, attention] : pairs) {
        merge(scatter, attention);
        ++numMerged;
        LLVM_DEBUG(llvm::dbgs()
                   << DEBUG_TYPE ": numMerged " << numMerged.getValue() << "\n");
      }
    });
  }
};

} // namespace
