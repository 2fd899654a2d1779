//===- CudaEmitter.cpp - loom.kernel regions to CUDA C++ ------------------===//
//
// The module level: the device files its kernels require (DeviceLibrary.h: the helpers
// every kernel may use, kernel skeletons), one function per distinct kernel
// (KernelWriter.h writes each), the launch recipe, and parsing fused IR for the
// artifact and harness writers.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/CudaEmitter.h"

#include "compiler/codegen/cuda/DeviceLibrary.h"
#include "compiler/codegen/cuda/KernelWriter.h"
#include "compiler/codegen/cuda/QuantizedWeights.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/xxhash.h"

using namespace mlir;

namespace loom::cuda {

namespace {

/// A name that is the same for kernels identical in structure.
std::string structuralName(KernelOp kernel) {
  kernel->removeAttr("loom.cuda_name");
  std::string text;
  llvm::raw_string_ostream os(text);
  kernel->print(os, OpPrintingFlags().printGenericOpForm().useLocalScope());
  // The encodings of quantized weight inputs are (they live on the weights, outside
  // the kernel; unquantized kernels keep their names).
  for (auto [i, input] : llvm::enumerate(kernel.getInputs()))
    if (QuantAttr quant = quantOf(input))
      os << "\nquant " << i << " " << quant;
  // The op's own results and location are not part of its structure.
  size_t body = text.find('(');
  uint64_t hash =
      llvm::xxh3_64bits(StringRef(text).substr(body == std::string::npos ? 0 : body));
  std::string name;
  llvm::raw_string_ostream ns(name);
  ns << "loom_" << stringifyKernelKind(kernel.getKind()) << "_"
     << llvm::format_hex_no_prefix(hash & 0xffffffffffffULL, 12);
  return name;
}

} // namespace

std::optional<int64_t>
EmittedKernel::GridDim::blocks(const std::map<std::string, int64_t> &sizes) const {
  std::optional<SizeExpr> expr = SizeExpr::parse(work);
  std::optional<int64_t> count = expr ? expr->evaluate(sizes) : std::nullopt;
  if (!count)
    return std::nullopt;
  int64_t blocks = std::max<int64_t>(1, (*count + per - 1) / per);
  return cap ? std::min(blocks, cap) : blocks;
}

EmittedKernel::Phase EmittedKernel::asPhase() const {
  Phase main;
  main.name = name;
  main.threads = threads;
  main.waitsInside = waitsInside;
  main.sharedBytes = sharedBytes;
  std::copy(grid, grid + 3, main.grid);
  main.guard = guard;
  return main;
}

std::vector<EmittedKernel::Phase> EmittedKernel::launches() const {
  std::vector<Phase> order;
  for (const Phase &phase : phases)
    if (phase.first)
      order.push_back(phase);
  order.push_back(asPhase());
  for (const Phase &phase : phases)
    if (!phase.first)
      order.push_back(phase);
  return order;
}

bool EmittedKernel::Guard::admits(const std::map<std::string, int64_t> &sizes) const {
  if (name.empty())
    return true;
  auto it = sizes.find(name);
  int64_t size = it == sizes.end() ? 0 : it->second;
  return size >= min && (max == 0 || size <= max);
}

LogicalResult emitCuda(ModuleOp module, llvm::raw_ostream &os,
                       std::vector<EmittedKernel> *kernels) {
  // Everything outside kernels must be a source or a view.
  WalkResult outside = module.walk([&](Operation *op) {
    if (op->getParentOfType<KernelOp>() || !llvm::isa<LoomDialect>(op->getDialect()) ||
        llvm::isa<KernelOp, WeightOp, ConstantOp, ReshapeOp>(op))
      return WalkResult::advance();
    op->emitOpError("is not inside a loom.kernel; run loom-fuse before emitting CUDA");
    return WalkResult::interrupt();
  });
  if (outside.wasInterrupted())
    return failure();

  bool halves = false;
  module.walk([&](Operation *op) {
    for (Type t : op->getResultTypes())
      if (auto tensor = llvm::dyn_cast<RankedTensorType>(t))
        halves |= tensor.getElementType().isF16() || tensor.getElementType().isBF16();
  });
  std::string text;
  llvm::raw_string_ostream body(text);
  llvm::StringMap<bool> written;
  DeviceFileSet files;
  files.require("prelude.cuh");
  WalkResult result = module.walk([&](KernelOp kernel) {
    std::string name = structuralName(kernel);
    kernel->setAttr("loom.cuda_name", StringAttr::get(kernel.getContext(), name));
    if (written.count(name))
      return WalkResult::advance();
    KernelWriter writer(kernel, name);
    if (failed(writer.write(body)))
      return WalkResult::interrupt();
    written[name] = true;
    files.merge(writer.deviceFiles());
    if (kernels)
      kernels->push_back(writer.info());
    return WalkResult::advance();
  });
  if (result.wasInterrupted())
    return failure();
  // f32 kernels may use the asynchronous copies too (paged attention).
  if (halves || text.find("loom_cp_async") != std::string::npos)
    files.require("tensor_core.cuh");
  if (halves)
    files.require("wgmma.cuh");
  std::string head =
      "// CUDA C++ generated by Loom: one extern \"C\" kernel per distinct "
      "fused group.\n";
  if (files.needsFloat16Headers())
    head += "#include <cuda_fp16.h>\n#include <cuda_bf16.h>\n";
  files.write(head);
  os << head << text;
  return success();
}

std::string jsonString(StringRef text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

bool parseAndEmit(const std::string &ir, EmittedModule &out, std::string &error) {
  out.context = std::make_unique<MLIRContext>();
  out.context->loadDialect<LoomDialect, func::FuncDialect>();
  std::string diagnostics;
  ScopedDiagnosticHandler handler(out.context.get(), [&](Diagnostic &d) {
    llvm::raw_string_ostream os(diagnostics);
    os << d.getLocation() << ": " << d.str() << "\n";
    return success();
  });
  out.module = parseSourceString<ModuleOp>(ir, ParserConfig(out.context.get()));
  if (!out.module) {
    error = "the IR does not parse:\n" + diagnostics;
    return false;
  }
  llvm::raw_string_ostream os(out.source);
  if (failed(emitCuda(*out.module, os, &out.kernels))) {
    error = "the CUDA emitter failed:\n" + diagnostics;
    return false;
  }
  return true;
}

} // namespace loom::cuda
