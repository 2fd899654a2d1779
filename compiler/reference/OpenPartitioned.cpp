//===- OpenPartitioned.cpp - A tensor-parallel executor for a model file ---===//
//
// Imports the model (or reads loom IR), raises it, partitions it with
// loom-partition-tensor and runs every rank on the reference executor.
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "compiler/reference/Parallel.h"

#include "loom/support/Checkpoint.h"

namespace loom::reference {

/// Cleanup and raising as the default pipeline does them, before merge-linears: the
/// IR loom-partition-tensor takes.
static const char *kRaisePipeline =
    "loom-canonicalize,cse,loom-infer-shapes,loom-fold-index-arithmetic,"
    "loom-raise-normalization,loom-raise-activations,loom-raise-rope,"
    "loom-raise-attention,loom-raise-linear,loom-canonicalize,cse";

std::unique_ptr<ParallelExecutor> openTensorParallel(const std::string &model,
                                                     const std::string &weights,
                                                     const ImportOptions &options,
                                                     int64_t degree, std::string &ir,
                                                     std::string &error) {
  std::string imported, weightPath;
  if (!readModelIr(model, weights, options, imported, weightPath, error))
    return nullptr;
  OptimizeOptions optimize;
  optimize.pipeline = std::string(kRaisePipeline) + ",loom-partition-tensor{degree=" +
                      std::to_string(degree) + "}";
  OptimizeResult partitioned;
  if (!optimizeModule(imported, optimize, partitioned, error))
    return nullptr;
  ir = partitioned.ir;
  std::function<std::unique_ptr<WeightSource>(std::string &)> open;
  if (!weightPath.empty())
    open = [weightPath](std::string &why) { return openWeights(weightPath, why); };
  std::string entry = options.entry.empty() ? "forward" : options.entry;
  return ParallelExecutor::create(ir, open, entry, error);
}

std::unique_ptr<ParallelExecutor> openPipelineParallel(const std::string &model,
                                                       const std::string &weights,
                                                       ImportOptions options, int64_t stages,
                                                       std::string &ir, std::string &error) {
  options.pipelineStages = stages;
  std::string weightPath;
  if (!readModelIr(model, weights, options, ir, weightPath, error))
    return nullptr;
  std::function<std::unique_ptr<WeightSource>(std::string &)> open;
  if (!weightPath.empty())
    open = [weightPath](std::string &why) { return openWeights(weightPath, why); };
  std::string entry = options.entry.empty() ? "forward" : options.entry;
  return ParallelExecutor::create(ir, open, entry, error);
}

} // namespace loom::reference
