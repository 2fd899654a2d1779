//===- CudaEmitter.cpp - loom.kernel regions to CUDA C++ ------------------===//
//
// The module level: the helpers every kernel may use, one function per distinct kernel
// (KernelWriter.h writes each), the launch recipe, and parsing fused IR for the
// artifact and harness writers.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/CudaEmitter.h"

#include "compiler/codegen/cuda/KernelWriter.h"

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

/// Helpers every kernel may use; 16-bit float headers only when a kernel needs them.
const char *kPrelude = R"(
__device__ __forceinline__ long long loom_min(long long a, long long b) { return a < b ? a : b; }
__device__ __forceinline__ long long loom_max(long long a, long long b) { return a > b ? a : b; }

/// Combining functions of reductions; max and min propagate NaN like the reference.
struct LoomSum {
  template <typename T> __device__ T operator()(T a, T b) const { return a + b; }
};
struct LoomMax {
  template <typename T> __device__ T operator()(T a, T b) const {
    return (a != a || b != b) ? a + b : (a > b ? a : b);
  }
};
struct LoomMin {
  template <typename T> __device__ T operator()(T a, T b) const {
    return (a != a || b != b) ? a + b : (a < b ? a : b);
  }
};

/// `op` over `v` of every thread of the block, returned to every thread.
template <typename T, typename Op> __device__ T loom_block_reduce(T v, Op op, T identity) {
  __shared__ T partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int offset = 16; offset > 0; offset >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  __syncthreads();
  if (lane == 0)
    partial[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < warps ? partial[threadIdx.x] : identity;
  if (warp == 0)
    for (int offset = 16; offset > 0; offset >>= 1)
      v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  if (threadIdx.x == 0)
    partial[0] = v;
  __syncthreads();
  const T total = partial[0];
  __syncthreads();
  return total;
}

template <typename T> __device__ __forceinline__ T loom_warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

/// The sum of `v` over the block, returned to every thread.
template <typename T> __device__ T loom_block_sum(T v) {
  __shared__ T partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = loom_warp_sum(v);
  __syncthreads();
  if (lane == 0)
    partial[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < warps ? partial[threadIdx.x] : T(0);
  if (warp == 0)
    v = loom_warp_sum(v);
  if (threadIdx.x == 0)
    partial[0] = v;
  __syncthreads();
  const T total = partial[0];
  __syncthreads();
  return total;
}
)";

/// A name that is the same for kernels identical in structure.
std::string structuralName(KernelOp kernel) {
  kernel->removeAttr("loom.cuda_name");
  std::string text;
  llvm::raw_string_ostream os(text);
  kernel->print(os, OpPrintingFlags().printGenericOpForm().useLocalScope());
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
  WalkResult result = module.walk([&](KernelOp kernel) {
    std::string name = structuralName(kernel);
    kernel->setAttr("loom.cuda_name", StringAttr::get(kernel.getContext(), name));
    if (written.count(name))
      return WalkResult::advance();
    KernelWriter writer(kernel, name);
    if (failed(writer.write(body)))
      return WalkResult::interrupt();
    written[name] = true;
    if (kernels)
      kernels->push_back(writer.info());
    return WalkResult::advance();
  });
  if (result.wasInterrupted())
    return failure();
  os << "// CUDA C++ generated by Loom: one extern \"C\" kernel per distinct fused "
        "group.\n";
  if (halves)
    os << "#include <cuda_fp16.h>\n#include <cuda_bf16.h>\n";
  os << kPrelude << text;
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
