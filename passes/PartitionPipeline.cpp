//===- PartitionPipeline.cpp - One function per pipeline stage -------------===//
//
// Pipeline parallelism (see Passes.td): each function becomes one per stage, the
// layers (named by their ops' locations) split into contiguous runs, the values that
// cross a stage boundary sent with loom.send and received with loom.recv, and every
// stage returning the whole outputs (the stage that computes one sends it to the
// others).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-partition-pipeline"

namespace loom {
#define GEN_PASS_DEF_LOOMPARTITIONPIPELINE
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// The layer index of an op whose location names "<prefix>.<n>" (the Hugging Face
/// importer's "model.layers.3"), or -1.
int64_t layerOf(Operation *op) {
  auto indexOf = [](NameLoc named) -> int64_t {
    StringRef name = named.getName().getValue();
    size_t dot = name.find_last_of('.');
    int64_t index;
    if (dot == StringRef::npos || name.drop_front(dot + 1).getAsInteger(10, index))
      return -1;
    return index;
  };
  Location loc = op->getLoc();
  if (auto named = dyn_cast<NameLoc>(loc))
    return indexOf(named);
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location part : fused.getLocations())
      if (auto named = dyn_cast<NameLoc>(part))
        return indexOf(named);
  return -1;
}

/// Where each op of a function runs: a stage, or kFree for ops that read no layer's
/// value (the embedding, the rope tables, the mask), which every stage that needs them
/// computes itself.
constexpr int64_t kFree = -1;

class PartitionPipeline
    : public loom::impl::LoomPartitionPipelineBase<PartitionPipeline> {
public:
  using LoomPartitionPipelineBase::LoomPartitionPipelineBase;

  void runOnOperation() override {
    if (stages < 1) {
      getOperation().emitError() << "loom-partition-pipeline: stages "
                                 << stages.getValue() << " is below 1";
      return signalPassFailure();
    }
    if (stages == 1)
      return;
    SmallVector<func::FuncOp> funcs;
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal() && !func->hasAttr("loom.rank"))
        funcs.push_back(func);
    for (func::FuncOp func : funcs)
      if (failed(partition(func)))
        return signalPassFailure();
  }

private:
  LogicalResult partition(func::FuncOp func) {
    int64_t stages = this->stages;
    Block &body = func.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    // Layers over stages in contiguous runs, the first stages taking one more layer
    // when they do not divide.
    int64_t layers = 0;
    for (Operation &op : body.without_terminator())
      layers = std::max(layers, layerOf(&op) + 1);
    if (layers < stages)
      return func.emitError() << "has " << layers << " layers (ops located at "
                              << "\"<name>.<layer>\"), fewer than the "
                              << stages << " pipeline stages";
    auto stageOfLayer = [&](int64_t layer) {
      int64_t base = layers / stages, extra = layers % stages;
      int64_t cut = extra * (base + 1);
      return layer < cut ? layer / (base + 1) : extra + (layer - cut) / base;
    };
    // Each op's stage: its layer's, else the latest stage of what it reads (the final
    // norm and the LM head follow the last layer), else free.
    DenseMap<Operation *, int64_t> stageOf;
    for (Operation &op : body.without_terminator()) {
      if (isa<SendOp, RecvOp>(op))
        return op.emitOpError() << "is a point-to-point op already; pipeline "
                                   "partitioning runs on an unpartitioned function";
      int64_t stage = kFree;
      if (int64_t layer = layerOf(&op); layer >= 0)
        stage = stageOfLayer(layer);
      for (Value operand : op.getOperands())
        if (Operation *def = operand.getDefiningOp())
          stage = std::max(stage, stageOf.lookup(def));
      stageOf[&op] = stage;
    }
    // The free ops each stage needs (for its own ops, or for an output it computes).
    std::vector<DenseSet<Operation *>> freeNeeded(stages);
    for (Operation &op : llvm::reverse(body.without_terminator())) {
      for (int64_t s = 0; s < stages; ++s) {
        bool needed = stageOf[&op] == s || freeNeeded[s].contains(&op);
        if (!needed)
          continue;
        for (Value operand : op.getOperands())
          if (Operation *def = operand.getDefiningOp(); def && stageOf[def] == kFree)
            freeNeeded[s].insert(def);
      }
    }
    for (Value output : ret.getOperands())
      if (Operation *def = output.getDefiningOp(); def && stageOf[def] == kFree)
        freeNeeded[0].insert(def); // an output no layer makes: stage 0 sends it

    OpBuilder b(func);
    b.setInsertionPointAfter(func);
    int64_t tag = 0;
    DenseMap<Value, int64_t> tags;
    auto tagOf = [&](Value v) {
      auto [it, inserted] = tags.try_emplace(v, tag);
      tag += inserted;
      return it->second;
    };
    // Where an output is computed (free outputs: stage 0).
    auto homeOf = [&](Value v) -> int64_t {
      Operation *def = v.getDefiningOp();
      return def && stageOf[def] != kFree ? stageOf[def] : 0;
    };
    for (int64_t s = 0; s < stages; ++s) {
      auto copy = cast<func::FuncOp>(func->cloneWithoutRegions());
      b.insert(copy);
      b.setInsertionPointAfter(copy);
      copy.setName((func.getName() + "_rank" + Twine(s)).str());
      copy->setAttr("loom.rank", b.getI64IntegerAttr(s));
      copy->setAttr("loom.world", b.getI64IntegerAttr(stages));
      Block *entry = copy.addEntryBlock();
      OpBuilder builder = OpBuilder::atBlockEnd(entry);
      IRMapping mapping;
      mapping.map(body.getArguments(), entry->getArguments());
      // A value this stage reads or returns that another stage makes: received where
      // it was made, in the function's order (so every stage receives in the order
      // its peers send).
      auto readHere = [&](Value v) {
        for (Operation *user : v.getUsers())
          if (user != ret && stageOf[user] == s)
            return true;
          else if (user != ret && stageOf[user] == kFree && freeNeeded[s].contains(user))
            return true;
        return llvm::is_contained(ret.getOperands(), v);
      };
      for (Operation &op : body.without_terminator()) {
        int64_t stage = stageOf[&op];
        bool here = stage == s || (stage == kFree && freeNeeded[s].contains(&op));
        if (here) {
          Operation *clone = builder.clone(op, mapping);
          // Send what later stages read (and outputs) to them.
          if (stage == kFree && !(s == 0))
            continue;
          for (auto [result, cloned] : llvm::zip(op.getResults(), clone->getResults())) {
            for (int64_t t = 0; t < stages; ++t) {
              if (t == s)
                continue;
              bool wanted = llvm::any_of(result.getUsers(), [&](Operation *user) {
                return user != ret && stageOf[user] == t;
              });
              bool output = llvm::is_contained(ret.getOperands(), result) &&
                            homeOf(result) == s;
              if (stage == kFree && (!output || freeNeeded[t].contains(&op)))
                continue; // a free value: stage t computes it itself
              if (wanted || output)
                SendOp::create(builder, op.getLoc(), cloned, t, tagOf(result));
            }
          }
          continue;
        }
        if (stage == kFree)
          continue;
        for (Value result : op.getResults())
          if (readHere(result))
            mapping.map(result, RecvOp::create(builder, op.getLoc(), result.getType(),
                                               stage, tagOf(result))
                                    .getResult());
      }
      // A free output that stage 0 computes and sends.
      SmallVector<Value> outputs;
      for (Value output : ret.getOperands()) {
        if (!mapping.contains(output)) {
          if (auto arg = dyn_cast<BlockArgument>(output)) {
            outputs.push_back(entry->getArgument(arg.getArgNumber()));
            continue;
          }
          mapping.map(output, RecvOp::create(builder, ret.getLoc(), output.getType(),
                                             homeOf(output), tagOf(output))
                                  .getResult());
        }
        outputs.push_back(mapping.lookup(output));
      }
      func::ReturnOp::create(builder, ret.getLoc(), outputs);
    }
    LLVM_DEBUG(llvm::dbgs() << "@" << func.getName() << ": " << layers << " layers over "
                            << stages << " stages, " << tag
                            << " values sent\n");
    func.erase();
    return success();
  }
};

} // namespace
