//===- OpenModel.cpp - A reference executor for a model file ---------------===//

#include "compiler/Compiler.h"
#include "compiler/reference/Reference.h"

#include "loom/support/Checkpoint.h"

namespace loom::reference {

bool readModelIr(const std::string &model, const std::string &weights,
                 const ImportOptions &options, std::string &ir, std::string &weightPath,
                 std::string &error) {
  weightPath = weights;
  bool isIr = model.size() > 5 && model.compare(model.size() - 5, 5, ".mlir") == 0;
  if (isIr)
    return readTextFile(model, ir, error, kSourceFileLimit);
  ImportResult result;
  if (!importModel(model, options, result, error))
    return false;
  ir = std::move(result.ir);
  if (weightPath.empty())
    weightPath = model;
  return true;
}

std::unique_ptr<Executor> openModel(const std::string &model, const std::string &weights,
                                    const ImportOptions &options, std::string &error) {
  std::string ir, weightPath;
  if (!readModelIr(model, weights, options, ir, weightPath, error))
    return nullptr;
  std::unique_ptr<WeightSource> source;
  if (!weightPath.empty() && !(source = openWeights(weightPath, error)))
    return nullptr;
  return Executor::create(ir, std::move(source), error);
}

} // namespace loom::reference
