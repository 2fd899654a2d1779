//===- ParallelExecutor.cpp - Runs the ranks of a partitioned program ------===//
//
// One Executor per rank, each with its own MLIR context and weight source, each run on
// its own thread; their collectives meet in one Communicator. A rank that fails aborts
// the communicator, so the others stop waiting and the first failure is reported.
//
//===----------------------------------------------------------------------===//

#include "compiler/reference/Kernels.h"
#include "compiler/reference/ParallelOps.h"

#include "dialects/loom/LoomDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/TypeSwitch.h"

#include <thread>

using namespace mlir;

namespace loom::reference {

bool executeCollective(Operation *op, int64_t rank, Communicator &communicator,
                       const std::vector<const Tensor *> &operands, Tensor &result,
                       std::string &error) {
  auto group = [](ArrayRef<int64_t> g) { return std::vector<int64_t>(g.begin(), g.end()); };
  return llvm::TypeSwitch<Operation *, bool>(op)
      .Case<AllReduceOp>([&](AllReduceOp c) {
        return communicator.allReduce(rank, group(c.getGroup()), *operands[0], result,
                                      error);
      })
      .Case<AllGatherOp>([&](AllGatherOp c) {
        return communicator.allGather(rank, group(c.getGroup()), c.getAxis(), *operands[0],
                                      result, error);
      })
      .Case<ReduceScatterOp>([&](ReduceScatterOp c) {
        return communicator.reduceScatter(rank, group(c.getGroup()), c.getAxis(),
                                          *operands[0], result, error);
      })
      .Case<BroadcastFromOp>([&](BroadcastFromOp c) {
        return communicator.broadcastFrom(rank, group(c.getGroup()), c.getRoot(),
                                          *operands[0], result, error);
      })
      .Case<SendOp>([&](SendOp c) {
        return communicator.send(rank, c.getPeer(), c.getTag(), *operands[0], error);
      })
      .Case<RecvOp>([&](RecvOp c) {
        return communicator.recv(rank, c.getPeer(), c.getTag(), result, error);
      })
      .Default([&](Operation *) {
        error = "not a collective";
        return false;
      });
}

bool loadShard(WeightSource &weights, const std::string &name, ElementType type,
               const Shape &shape, int64_t axis, int64_t index, int64_t count, Tensor &out,
               std::string &error) {
  // The reference reads the whole tensor and keeps its part; the runtime will read
  // only the part's bytes.
  Shape whole = shape;
  whole[axis] *= count;
  Tensor full;
  if (!weights.load(name, type, whole, full, error))
    return false;
  int64_t start = index * shape[axis];
  out = slice(full, {axis}, {start}, {start + shape[axis]}, {1});
  return true;
}

ParallelExecutor::~ParallelExecutor() = default;

std::unique_ptr<ParallelExecutor> ParallelExecutor::create(
    const std::string &ir,
    const std::function<std::unique_ptr<WeightSource>(std::string &)> &openWeights,
    const std::string &entry, std::string &error) {
  // Find the rank functions first; each rank's executor parses the IR again.
  int64_t world = 0;
  {
    MLIRContext context;
    context.loadDialect<LoomDialect, func::FuncDialect>();
    context.allowUnregisteredDialects(false);
    ScopedDiagnosticHandler quiet(&context, [](Diagnostic &) { return success(); });
    OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(ir, ParserConfig(&context));
    if (!module) {
      error = "the IR does not parse";
      return nullptr;
    }
    if (auto first = module->lookupSymbol<func::FuncOp>(entry + "_rank0"))
      if (auto attr = first->getAttrOfType<IntegerAttr>("loom.world"))
        world = attr.getInt();
  }
  if (world < 1) {
    error = "the IR has no @" + entry + "_rank0 with a loom.world attribute (partition it "
            "with loom-partition-tensor)";
    return nullptr;
  }
  std::unique_ptr<ParallelExecutor> parallel(new ParallelExecutor());
  parallel->communicator_ = std::make_unique<Communicator>(world);
  for (int64_t rank = 0; rank < world; ++rank) {
    std::unique_ptr<WeightSource> weights;
    if (openWeights && !(weights = openWeights(error)))
      return nullptr;
    std::string function = entry + "_rank" + std::to_string(rank);
    std::unique_ptr<Executor> executor = Executor::create(
        ir, std::move(weights), error, function, parallel->communicator_.get());
    if (!executor)
      return nullptr;
    parallel->ranks_.push_back(std::move(executor));
  }
  return parallel;
}

bool ParallelExecutor::run(const std::map<std::string, Tensor> &inputs,
                           std::vector<std::vector<Tensor>> &outputs, std::string &error) {
  int64_t world = this->world();
  // An aborted run leaves nothing behind for the next.
  communicator_->reset();
  std::vector<std::string> errors(world);
  std::vector<char> ok(world, 0);
  outputs.assign(world, {});
  std::vector<std::thread> threads;
  for (int64_t rank = 0; rank < world; ++rank)
    threads.emplace_back([&, rank] {
      ok[rank] = ranks_[rank]->run(inputs, outputs[rank], errors[rank]);
      if (!ok[rank])
        communicator_->abort(rank, errors[rank]);
    });
  for (std::thread &thread : threads)
    thread.join();
  // The first rank to abort failed on its own; the others learned it from it.
  if (int64_t first = communicator_->abortedBy(); first >= 0) {
    error = "rank " + std::to_string(first) + ": " + errors[first];
    return false;
  }
  for (int64_t rank = 0; rank < world; ++rank)
    if (!ok[rank]) {
      error = "rank " + std::to_string(rank) + ": " + errors[rank];
      return false;
    }
  return true;
}

} // namespace loom::reference
