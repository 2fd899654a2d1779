//===- Compiler.cpp - The compiler's entry points ----------------------------===//

#include "compiler/Compiler.h"
#include "compiler/ModuleSummary.h"
#include "compiler/import/hf/HfImport.h"
#include "compiler/import/onnx/OnnxImport.h"
#include "dialects/loom/LoomDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
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
  Type cacheType = options.kvDtype.empty() ? floatType : floatNamed(options.kvDtype);
  if (!cacheType) {
    error = "unsupported --kv-dtype '" + options.kvDtype + "' (use f32, bf16 or f16)";
    return false;
  }
  if (!options.kvDtype.empty() && options.entry != "step") {
    error = "--kv-dtype applies to a serving step (--entry step), which has a KV cache";
    return false;
  }
  if (options.entry != "forward" && options.entry != "step") {
    error = "unsupported --entry '" + options.entry + "' (use forward or step)";
    return false;
  }
  if (options.kvBlockSize <= 0) {
    error = "the KV block size must be positive";
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
  if (!folder && options.entry == "step") {
    error = "cannot import " + path +
            ": a serving step is built from Hugging Face folders, not ONNX files";
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
  llvm::raw_string_ostream os(result.ir);
  module->print(os);
  result.summary = summarizeModule(*module);
  return true;
}

} // namespace loom
