//===- Optimize.cpp - Runs pass pipelines, checking numerics after each pass ===//
//
// With verifyEachPass, the reference executor runs the module on one set of random
// inputs before the pipeline and after every pass; the first pass that moves an output
// further than the tolerance is named in the error, with the output and the error.
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "compiler/ModuleSummary.h"
#include "compiler/reference/Reference.h"
#include "dialects/loom/LoomDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/raw_ostream.h"

#include <cctype>
#include <mutex>
#include <random>

using namespace mlir;

namespace loom {

namespace {

using reference::Executor;
using reference::Port;
using reference::Tensor;

std::string printModule(Operation *module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  return text;
}

/// One random tensor per input that has no default: floats uniform in [-1, 1),
/// integers and booleans 0 or 1 (valid token ids, mask values and type ids alike).
bool randomInputs(const Executor &executor, const OptimizeOptions &options,
                  std::map<std::string, Tensor> &inputs, std::string &error) {
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  for (const Port &port : executor.inputs()) {
    if (port.defaultValue)
      continue;
    std::vector<int64_t> shape;
    for (const std::string &dim : port.dims) {
      if (!dim.empty() && std::isdigit(static_cast<unsigned char>(dim[0]))) {
        shape.push_back(std::stoll(dim));
        continue;
      }
      bool simple = !dim.empty() && llvm::all_of(dim, [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      });
      auto given = options.dimSizes.find(dim);
      if (given != options.dimSizes.end()) {
        shape.push_back(given->second);
      } else if (simple) {
        shape.push_back(dim.find("batch") != std::string::npos ? 2 : 6);
      } else {
        error = "input " + port.describe() + " has dimension '" + dim +
                "', which needs a size given explicitly";
        return false;
      }
    }
    Tensor t = Tensor::zeros(port.type, shape);
    for (int64_t i = 0; i < t.numElements(); ++i) {
      if (t.isFloat())
        t.floats[i] = reference::roundTo(port.type, uniform(rng));
      else
        t.ints[i] = static_cast<int64_t>(rng() & 1);
    }
    inputs[port.name] = std::move(t);
  }
  return true;
}

/// An executor for `ir` with the weights of `options`.
std::unique_ptr<Executor> makeExecutor(const std::string &ir, const OptimizeOptions &options,
                                       std::string &error) {
  std::unique_ptr<reference::WeightSource> weights;
  if (!options.weights.empty() && !(weights = reference::openWeights(options.weights, error)))
    return nullptr;
  return Executor::create(ir, std::move(weights), error);
}

/// Records every pass; with verifyEachPass compares outputs after each one.
class PassChecker : public PassInstrumentation {
public:
  PassChecker(const OptimizeOptions &options, OptimizeResult &result)
      : options(options), result(result) {}

  bool prepare(const std::string &ir, std::string &error) {
    std::unique_ptr<Executor> executor = makeExecutor(ir, options, error);
    if (!executor || !randomInputs(*executor, options, inputs, error))
      return false;
    for (const Port &port : executor->outputs())
      outputNames.push_back(port.name);
    return executor->run(inputs, expected, error);
  }

  void runAfterPass(Pass *pass, Operation *op) override {
    if (!llvm::isa<ModuleOp>(op))
      return;
    PassRecord record;
    record.name = pass->getArgument().str();
    if (record.name.empty())
      record.name = pass->getName().str();
    record.summary = summarizeModule(llvm::cast<ModuleOp>(op));
    if (options.verifyEachPass && failure.empty()) {
      std::vector<Tensor> outputs;
      std::string why;
      std::unique_ptr<Executor> executor = makeExecutor(printModule(op), options, why);
      if (!executor || !executor->run(inputs, outputs, why)) {
        failure = "after pass " + record.name + " the module no longer runs: " + why;
      } else {
        record.relativeError = 0;
        for (size_t i = 0; i < outputs.size() && i < expected.size(); ++i) {
          reference::TensorDifference d = reference::compareTensors(outputs[i], expected[i]);
          double error = d.shapeDiffers ? INFINITY : d.relative;
          record.relativeError = std::max(record.relativeError, error);
          if (error > options.tolerance && failure.empty())
            failure = "pass " + record.name + " changed output '" + outputNames[i] +
                      "': " + (d.shapeDiffers ? std::string("its shape differs")
                                              : "max relative error " +
                                                    std::to_string(d.relative)) +
                      " > tolerance " + std::to_string(options.tolerance);
        }
      }
    }
    result.passes.push_back(record);
  }

  std::string failure;

private:
  const OptimizeOptions &options;
  OptimizeResult &result;
  std::map<std::string, Tensor> inputs;
  std::vector<Tensor> expected;
  std::vector<std::string> outputNames;
};

} // namespace

bool optimizeModule(const std::string &ir, const OptimizeOptions &options,
                    OptimizeResult &result, std::string &error) {
  DialectRegistry registry;
  registry.insert<LoomDialect, func::FuncDialect>();
  MLIRContext context(registry);
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    diagnostics += diag.str() + "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(ir, &context);
  if (!module) {
    error = "cannot parse the module:\n" + diagnostics;
    return false;
  }
  PassManager pm(&context);
  if (options.pipeline.empty()) {
    buildDefaultPipeline(pm, options.target);
  } else {
    // Parsing a textual pipeline looks passes up by name: register them once per process.
    static std::once_flag registered;
    std::call_once(registered, [] {
      registerLoomPasses();
      registerLoomPipelines();
      registerTransformsPasses();
    });
    std::string why;
    llvm::raw_string_ostream os(why);
    if (failed(parsePassPipeline(options.pipeline, pm, os))) {
      error = "bad pipeline '" + options.pipeline + "': " + why;
      return false;
    }
  }
  auto checker = std::make_unique<PassChecker>(options, result);
  PassChecker *check = checker.get();
  if (options.verifyEachPass && !check->prepare(ir, error)) {
    error = "cannot run the module before the passes: " + error;
    return false;
  }
  pm.addInstrumentation(std::move(checker));
  if (failed(pm.run(*module))) {
    error = "the pipeline failed:\n" + diagnostics;
    return false;
  }
  if (!check->failure.empty()) {
    error = check->failure;
    return false;
  }
  result.ir = printModule(*module);
  result.summary = summarizeModule(*module);
  return true;
}

} // namespace loom
