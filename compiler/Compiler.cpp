//===- Compiler.cpp - The compiler's entry points ----------------------------===//

#include "compiler/Compiler.h"
#include "compiler/ModuleSummary.h"
#include "compiler/import/hf/HfImport.h"
#include "compiler/import/onnx/OnnxImport.h"
#include "dialects/loom/LoomDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <set>
#include <sys/stat.h>

using namespace mlir;

namespace loom {

std::string summarizeModule(ModuleOp module) {
  std::map<std::string, int> ops;
  std::set<std::string> dims;
  int64_t weights = 0;
  double weightBytes = 0;
  auto noteType = [&](Type type) {
    if (auto tensor = llvm::dyn_cast<RankedTensorType>(type))
      if (auto names = llvm::dyn_cast_or_null<DimsAttr>(tensor.getEncoding()))
        for (StringAttr name : names.getNames())
          dims.insert(name.str());
  };
  module.walk([&](Operation *op) {
    if (!llvm::isa<LoomDialect>(op->getDialect()) || llvm::isa<YieldOp>(op))
      return;
    if (auto kernel = llvm::dyn_cast<KernelOp>(op))
      ++ops[stringifyKernelKind(kernel.getKind()).str() + " kernel"];
    else
      ++ops[op->getName().stripDialect().str()];
    for (Type type : op->getResultTypes())
      noteType(type);
    if (auto weight = llvm::dyn_cast<WeightOp>(op)) {
      ++weights;
      RankedTensorType type = weight.getType();
      if (QuantAttr quant = weight.getQuantAttr())
        weightBytes += static_cast<double>(quantizedWeightBytes(
            quant.getEncoding(), type.getDimSize(0), type.getDimSize(1)));
      else
        weightBytes += static_cast<double>(type.getNumElements()) *
                       type.getElementTypeBitWidth() / 8.0;
    }
  });
  std::vector<std::pair<int, std::string>> sorted;
  for (const auto &[name, count] : ops)
    sorted.emplace_back(-count, name);
  std::sort(sorted.begin(), sorted.end());
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "ops:";
  for (size_t i = 0; i < sorted.size(); ++i)
    os << (i ? ", " : " ") << -sorted[i].first << " " << sorted[i].second;
  os << "; " << weights << " weights, " << llvm::format("%.1f", weightBytes / (1 << 20))
     << " MiB; dynamic dims: ";
  size_t i = 0;
  for (const std::string &dim : dims)
    os << (i++ ? ", " : "") << dim;
  if (dims.empty())
    os << "none";
  return text;
}

namespace {

bool isDirectory(const std::string &path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

std::string joinLines(const std::vector<std::string> &lines) {
  std::string text;
  for (const std::string &line : lines)
    text += (text.empty() ? "" : "\n") + line;
  return text;
}

/// Runs `pm` on `module`; on failure `error` is `what` and every diagnostic, a line
/// each.
bool runPasses(PassManager &pm, ModuleOp module, const std::string &what,
               std::string &error) {
  std::string diagnostics;
  ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &diag) {
    diagnostics += diag.str() + "\n";
    return success();
  });
  if (succeeded(pm.run(module)))
    return true;
  error = what + ": " + diagnostics;
  return false;
}

/// Runs loom-quantize-weights as `--quantize <spec>` asks: "int8", "fp8", "int4",
/// "int4:g<size>", "int4:g<size>:asym", any of them followed by ":lm_head".
bool quantizeWeights(ModuleOp module, const std::string &spec, std::string &error) {
  LoomQuantizeWeightsOptions options;
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t colon = spec.find(':', start);
    parts.push_back(spec.substr(start, colon - start));
    if (colon == std::string::npos)
      break;
    start = colon + 1;
  }
  options.scheme = parts[0];
  bool understood = parts[0] == "int8" || parts[0] == "int4" || parts[0] == "fp8";
  for (size_t i = 1; i < parts.size() && understood; ++i) {
    const std::string &part = parts[i];
    if (part == "lm_head") {
      options.lmHead = true;
    } else if (parts[0] == "int4" && part == "asym") {
      options.symmetric = false;
    } else if (parts[0] == "int4" && part.size() > 1 && part[0] == 'g' &&
               part.find_first_not_of("0123456789", 1) == std::string::npos &&
               part.size() < 6) {
      options.groupSize = std::stoll(part.substr(1));
      understood = options.groupSize == 16 || options.groupSize == 32 ||
                   options.groupSize == 64 || options.groupSize == 128 ||
                   options.groupSize == 256;
    } else {
      understood = false;
    }
  }
  if (!understood) {
    error = "unsupported --quantize '" + spec +
            "' (use int8, fp8, int4, int4:g<16|32|64|128|256>, int4:g<size>:asym; add "
            ":lm_head to quantize the LM head too)";
    return false;
  }
  PassManager pm(module.getContext());
  pm.addPass(createLoomQuantizeWeights(options));
  return runPasses(pm, module, "--quantize " + spec, error);
}

/// Runs loom-autodiff (then loom-canonicalize, which drops what the rules built and
/// nothing reads) on the grad entry, then activation checkpointing as `checkpoint`
/// says.
bool differentiate(ModuleOp module, const std::string &checkpoint, std::string &error) {
  PassManager pm(module.getContext());
  pm.addPass(createLoomAutodiff());
  pm.addPass(createLoomCanonicalize());
  if (checkpoint != "none")
    pm.addNestedPass<func::FuncOp>(
        createLoomCheckpointActivations(LoomCheckpointActivationsOptions{checkpoint}));
  return runPasses(pm, module, "cannot differentiate the model", error);
}

/// Turns the differentiated grad entry into `train_step`: parameters and AdamW
/// moments in and out (loom-append-adamw with `options`' hyper-parameters).
bool appendOptimizer(ModuleOp module, const ImportOptions &options, std::string &error) {
  LoomAppendAdamWOptions adamw;
  adamw.beta1 = options.adamw.beta1;
  adamw.beta2 = options.adamw.beta2;
  adamw.eps = options.adamw.eps;
  adamw.weightDecay = options.adamw.weightDecay;
  PassManager pm(module.getContext());
  pm.addNestedPass<func::FuncOp>(createLoomAppendAdamW(adamw));
  if (!runPasses(pm, module, "cannot build the training step", error))
    return false;
  for (auto func : module.getOps<func::FuncOp>())
    if (func.getName() == "grad")
      func.setName("train_step");
  return true;
}

} // namespace

bool importModel(const std::string &path, const ImportOptions &options, ImportResult &result,
                 std::string &error) {
  MLIRContext context;
  context.loadDialect<LoomDialect, func::FuncDialect>();
  auto floatNamed = [&](const std::string &name) {
    return name == "f32"    ? Type(Float32Type::get(&context))
           : name == "bf16" ? Type(BFloat16Type::get(&context))
           : name == "f16"  ? Type(Float16Type::get(&context))
                            : Type();
  };
  Type floatType = floatNamed(options.dtype);
  if (!floatType) {
    error = "unsupported --dtype '" + options.dtype + "' (use f32, bf16 or f16)";
    return false;
  }
  // A KV cache of floats, or of 8-bit codes with a scale per (slot, head).
  Type cacheType = options.kvDtype.empty()     ? floatType
                   : options.kvDtype == "int8" ? Type(IntegerType::get(&context, 8))
                   : options.kvDtype == "fp8"  ? Type(Float8E4M3FNType::get(&context))
                                               : floatNamed(options.kvDtype);
  if (!cacheType) {
    error = "unsupported --kv-dtype '" + options.kvDtype +
            "' (use f32, bf16, f16, int8 or fp8)";
    return false;
  }
  if (!options.kvDtype.empty() && options.entry != "step") {
    error = "--kv-dtype applies to a serving step (--entry step), which has a KV cache";
    return false;
  }
  bool training = options.entry == "grad" || options.entry == "train_step";
  if (options.entry != "forward" && options.entry != "step" && !training) {
    error = "unsupported --entry '" + options.entry +
            "' (use forward, step, grad or train_step)";
    return false;
  }
  if (options.kvBlockSize <= 0) {
    error = "the KV block size must be positive";
    return false;
  }
  if (options.fp8Activations != "auto" && options.fp8Activations != "none") {
    error = "unsupported --fp8-activations '" + options.fp8Activations +
            "' (use auto or none)";
    return false;
  }
  if (options.ropeFrequencies != "stored" && options.ropeFrequencies != "f32") {
    error = "unsupported --rope-frequencies '" + options.ropeFrequencies +
            "' (use stored or f32)";
    return false;
  }
  OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&context));
  std::vector<std::string> errors;
  bool folder = isDirectory(path);
  if (!folder && options.entry != "forward") {
    error = "cannot import " + path + ": a " +
            (options.entry == "step" ? "serving step" : "grad entry") +
            " is built from Hugging Face folders, not ONNX files";
    return false;
  }
  if (options.lora.enabled() && (options.entry == "step" || !folder)) {
    error = "a LoRA adapter is built into a forward or grad entry of a Hugging Face folder";
    return false;
  }
  if (training && !options.quantize.empty()) {
    error = "--quantize does not apply to a grad entry (quantized weights have no "
            "gradient)";
    return false;
  }
  bool imported = folder
                      ? importHfFolder(path, *module, floatType, cacheType, options,
                                       errors, result.warnings)
                      : importOnnxFile(path, *module, floatType, errors, result.warnings);
  if (!imported) {
    // Every line of every error, indented under the heading.
    error = "cannot import " + path + ":\n  " + joinLines(errors);
    for (size_t at = error.find('\n'); at != std::string::npos; at = error.find('\n', at + 3))
      error.replace(at, 1, "\n  ");
    return false;
  }

  // The importers build only verifiable IR; a failure here is a bug in Loom.
  std::string diagnostics;
  {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      diagnostics += diag.str() + "\n";
      return success();
    });
    if (failed(verify(*module))) {
      error = "internal error: the imported IR does not verify:\n" + diagnostics;
      return false;
    }
  }
  if (!options.quantize.empty() && !quantizeWeights(*module, options.quantize, error))
    return false;
  if (options.checkpoint != "none" && options.checkpoint != "layers") {
    error = "unsupported --checkpoint '" + options.checkpoint + "' (use layers or none)";
    return false;
  }
  if (options.checkpoint != "none" && !training) {
    error = "--checkpoint applies to a grad entry (it decides what the backward "
            "recomputes)";
    return false;
  }
  if (training && !differentiate(*module, options.checkpoint, error))
    return false;
  if (options.entry == "train_step" && !appendOptimizer(*module, options, error))
    return false;
  if (options.pipelineStages > 1) {
    PassManager pm(&context);
    pm.addPass(createLoomPartitionPipeline(
        LoomPartitionPipelineOptions{options.pipelineStages}));
    if (!runPasses(pm, *module,
                   "cannot split the model into " + std::to_string(options.pipelineStages) +
                       " pipeline stages",
                   error))
      return false;
  }
  llvm::raw_string_ostream os(result.ir);
  module->print(os);
  result.summary = summarizeModule(*module);
  return true;
}

} // namespace loom
