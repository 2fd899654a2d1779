//===- Harness.cpp - Per-kernel test data for checking kernels on a GPU ---===//
//
// Each distinct kernel of a fused module becomes a one-kernel module that the
// reference executor runs on random inputs; the inputs and the outputs it computes go
// beside the CUDA source, with the launch of each kernel for the chosen sizes, so the
// GPU side (`loom kernel-check`, no MLIR) can run every kernel alone and compare.
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "compiler/codegen/cuda/CudaEmitter.h"
#include "compiler/codegen/cuda/ElementEmitter.h"
#include "compiler/reference/ElementTypes.h"
#include "compiler/reference/Reference.h"
#include "dialects/loom/Shape.h"
#include "loom/support/Safetensors.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/raw_ostream.h"

#include <fstream>
#include <random>
#include <set>
#include <sys/stat.h>

using namespace mlir;
using loom::cuda::jsonString;

namespace loom {

namespace {

using reference::ElementType;
using reference::Tensor;

/// A module whose @forward runs `kernel` alone on its inputs.
OwningOpRef<ModuleOp> isolate(KernelOp kernel) {
  OpBuilder builder(kernel.getContext());
  OwningOpRef<ModuleOp> module = ModuleOp::create(kernel.getLoc());
  builder.setInsertionPointToEnd(module->getBody());
  auto type =
      builder.getFunctionType(kernel.getInputs().getTypes(), kernel.getResultTypes());
  auto func = func::FuncOp::create(builder, kernel.getLoc(), "forward", type);
  Block *entry = func.addEntryBlock();
  builder.setInsertionPointToEnd(entry);
  IRMapping mapping;
  mapping.map(kernel.getInputs(), entry->getArguments());
  Operation *copy = builder.clone(*kernel, mapping);
  func::ReturnOp::create(builder, kernel.getLoc(), copy->getResults());
  return module;
}

/// The exclusive upper bound of random values for kernel input `index`: the indexed
/// dimension for gather indices, 2 for other integers (valid ids, masks and flags).
int64_t integerBound(KernelOp kernel, unsigned index,
                     const std::map<std::string, int64_t> &sizes) {
  Value arg = kernel.getBody().front().getArgument(index);
  for (Operation *user : arg.getUsers())
    if (auto gather = llvm::dyn_cast<GatherOp>(user);
        gather && gather.getIndices() == arg) {
      Dim dim = getShape(gather.getData().getType())[gather.getAxis()];
      std::optional<SizeExpr> expr = toExpr(dim);
      std::optional<int64_t> size = expr ? expr->evaluate(sizes) : std::nullopt;
      return size && *size > 0 ? *size : 1;
    }
  return 2;
}

} // namespace

bool writeKernelHarness(const std::string &ir, const std::string &dir,
                        const KernelHarnessOptions &options, std::string &summary,
                        std::string &error) {
  cuda::EmittedModule emitted;
  if (!cuda::parseAndEmit(ir, emitted, error))
    return false;
  OwningOpRef<ModuleOp> &module = emitted.module;
  const std::string &source = emitted.source;
  const std::vector<cuda::EmittedKernel> &kernels = emitted.kernels;

  // Sizes for every name the kernels use.
  std::set<std::string> names;
  module->walk([&](Operation *op) {
    for (Type t : op->getResultTypes())
      cuda::collectSymbols(t, names);
  });
  std::map<std::string, int64_t> sizes = options.dimSizes;
  for (const std::string &name : names)
    sizes.emplace(name, name.find("batch") != std::string::npos ? 2 : 7);

  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<TensorBytes> tensors;
  std::string json = "{\n  \"kernels\": [";
  std::set<std::string> done;
  bool ok = true;
  module->walk([&](KernelOp kernel) {
    auto name = kernel->getAttrOfType<StringAttr>("loom.cuda_name").str();
    if (!ok || !done.insert(name).second)
      return;
    const cuda::EmittedKernel &info = *llvm::find_if(
        kernels, [&](const cuda::EmittedKernel &k) { return k.name == name; });
    std::vector<Tensor> inputs;
    std::string inputNames, outputNames;
    for (auto [i, input] : llvm::enumerate(kernel.getInputs())) {
      auto type = llvm::cast<RankedTensorType>(input.getType());
      Tensor t;
      reference::elementTypeOf(type.getElementType(), t.type);
      std::vector<int64_t> shape;
      for (const Dim &dim : getShape(type)) {
        std::optional<SizeExpr> expr = toExpr(dim);
        std::optional<int64_t> size = expr ? expr->evaluate(sizes) : std::nullopt;
        if (!size) {
          error =
              name + ": input " + std::to_string(i) + " has a dimension of unknown size";
          ok = false;
          return;
        }
        shape.push_back(*size);
      }
      t = Tensor::zeros(t.type, shape);
      if (reference::isFloat(t.type)) {
        for (double &f : t.floats)
          f = reference::roundTo(t.type, uniform(rng));
      } else {
        std::uniform_int_distribution<int64_t> pick(0,
                                                    integerBound(kernel, i, sizes) - 1);
        for (int64_t &n : t.ints)
          n = reference::wrapTo(t.type, pick(rng));
      }
      std::string tensorName = name + ".in" + std::to_string(i);
      tensors.push_back({tensorName, reference::safetensorsType(t.type), t.shape,
                         reference::toBytes(t)});
      inputNames += (i ? ", " : "") + jsonString(tensorName);
      inputs.push_back(std::move(t));
    }
    OwningOpRef<ModuleOp> alone = isolate(kernel);
    std::string text;
    llvm::raw_string_ostream ts(text);
    alone->print(ts);
    std::unique_ptr<reference::Executor> executor =
        reference::Executor::create(text, nullptr, error);
    std::vector<Tensor> outputs;
    if (!executor || !executor->run(inputs, outputs, error)) {
      error = name + ": the reference executor failed: " + error;
      ok = false;
      return;
    }
    for (auto [i, t] : llvm::enumerate(outputs)) {
      std::string tensorName = name + ".out" + std::to_string(i);
      tensors.push_back({tensorName, reference::safetensorsType(t.type), t.shape,
                         reference::toBytes(t)});
      outputNames += (i ? ", " : "") + jsonString(tensorName);
    }
    std::string grid, symbols;
    for (int d = 0; d < 3; ++d)
      grid += (d ? ", " : "") + std::to_string(info.grid[d].blocks(sizes).value_or(1));
    for (const std::string &symbol : info.symbols)
      symbols += (symbols.empty() ? "" : ", ") + std::to_string(sizes[symbol]);
    json += std::string(done.size() > 1 ? "," : "") +
            "\n    {\"name\": " + jsonString(name) +
            ", \"kind\": " + jsonString(stringifyKernelKind(info.kind).str()) +
            ", \"threads\": " + std::to_string(info.threads) +
            ", \"shared\": " + std::to_string(info.sharedBytes) + ", \"grid\": [" + grid +
            "], \"sizes\": [" + symbols + "], \"inputs\": [" + inputNames +
            "], \"outputs\": [" + outputNames + "]}";
  });
  if (!ok)
    return false;
  json += "\n  ]\n}\n";

  mkdir(dir.c_str(), 0755);
  std::ofstream cu(dir + "/kernels.cu.tmp"), js(dir + "/harness.json.tmp");
  cu << source;
  js << json;
  cu.close();
  js.close();
  if (!cu || !js ||
      std::rename((dir + "/kernels.cu.tmp").c_str(), (dir + "/kernels.cu").c_str()) ||
      std::rename((dir + "/harness.json.tmp").c_str(), (dir + "/harness.json").c_str())) {
    error = "cannot write into " + dir;
    return false;
  }
  if (!writeSafetensors(dir + "/tensors.safetensors", tensors, error))
    return false;
  summary = std::to_string(done.size()) + " kernels, " + std::to_string(tensors.size()) +
            " tensors";
  return true;
}

} // namespace loom
