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

/// Programmatic dependent launch (sm_90 on): every kernel lets the next one in the
/// stream start launching, then waits until the grids before it have finished and
/// their writes are visible; only reads of what no kernel writes (weights) may come
/// before the wait. Launched without the attribute, or before sm_90, both do nothing.
__device__ __forceinline__ void loom_launch_next() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void loom_wait_prior() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
/// Counts a block in: adds 1 to `*counter` and returns the count before. Called by one
/// thread after a barrier, it releases the whole block's earlier writes at GPU scope
/// and acquires those of the blocks counted before it (acquire-release; a barrier
/// after it orders the other threads' reads).
__device__ __forceinline__ unsigned loom_count_block(unsigned *counter) {
  unsigned before;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
  asm volatile("atom.add.acq_rel.gpu.global.u32 %0, [%1], 1;\n"
               : "=r"(before) : "l"(counter) : "memory");
#else
  __threadfence();
  before = atomicAdd(counter, 1u);
  __threadfence();
#endif
  return before;
}
/// Starts bringing the 128-byte line at `p` into the L2 cache.
__device__ __forceinline__ void loom_prefetch_l2(const void *p) {
  asm volatile("prefetch.global.L2 [%0];\n" :: "l"(p));
}

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

/// The sum of `v` over the block, returned to every thread.
template <typename T> __device__ T loom_block_sum(T v) {
  return loom_block_reduce(v, LoomSum(), T(0));
}
)";

/// Tensor-core helpers (sm_80 and up): 16-byte asynchronous copies into shared memory
/// (zero-filled past `bytes`), 8x8 matrix loads from shared memory, and the
/// m16n8k16 multiply-accumulate with f32 accumulators.
const char *kTensorCorePrelude = R"(
__device__ __forceinline__ unsigned loom_smem(const void *p) {
  return (unsigned)__cvta_generic_to_shared(p);
}
__device__ __forceinline__ void loom_cp_async16_at(unsigned shared, const void *global, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
               :: "r"(shared), "l"(global), "r"(bytes));
}
__device__ __forceinline__ void loom_cp_async16(void *shared, const void *global, int bytes) {
  loom_cp_async16_at(loom_smem(shared), global, bytes);
}
__device__ __forceinline__ void loom_cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int N> __device__ __forceinline__ void loom_cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" :: "n"(N));
}
__device__ __forceinline__ void loom_ldmatrix_x4_at(unsigned r[4], unsigned address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}
__device__ __forceinline__ void loom_ldmatrix_x4_trans_at(unsigned r[4], unsigned address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}
__device__ __forceinline__ void loom_ldmatrix_x4(unsigned r[4], const void *p) {
  loom_ldmatrix_x4_at(r, loom_smem(p));
}
__device__ __forceinline__ void loom_ldmatrix_x4_trans(unsigned r[4], const void *p) {
  loom_ldmatrix_x4_trans_at(r, loom_smem(p));
}
__device__ __forceinline__ void loom_mma_bf16(float c[4], const unsigned a[4], const unsigned b[2]) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void loom_mma_f16(float c[4], const unsigned a[4], const unsigned b[2]) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
/// 2^x on the special-function unit (a denormal result flushes to zero; -inf gives 0).
__device__ __forceinline__ float loom_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
/// Two floats as the packed 16-bit pair an mma operand register holds (low = first).
__device__ __forceinline__ unsigned loom_pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<unsigned *>(&v);
}
__device__ __forceinline__ unsigned loom_pack_f16(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<unsigned *>(&v);
}
)";

/// Warpgroup matrix multiply helpers (sm_90a only, so inside the feature test): the
/// shared-memory descriptor of a 128-byte-swizzled K-major tile (8-row groups 1024
/// bytes apart), the fences around asynchronous multiplies, and m64n128k16 with f32
/// accumulators in 64 registers per thread.
std::string wgmmaPrelude() {
  std::string text = R"(
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ unsigned long long loom_wgmma_desc(unsigned address) {
  return (unsigned long long)((address & 0x3FFFF) >> 4) | (1ull << 16) | (64ull << 32) |
         (1ull << 62);
}
__device__ __forceinline__ void loom_wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void loom_wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N> __device__ __forceinline__ void loom_wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(N) : "memory");
}
__device__ __forceinline__ void loom_fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
/// Keeps the compiler from moving accumulator reads or writes across a multiply.
__device__ __forceinline__ void loom_wgmma_hold(float d[64]) {
#pragma unroll
  for (int i = 0; i < 64; ++i)
    asm volatile("" : "+f"(d[i])::"memory");
}
)";
  for (const char *kind : {"bf16", "f16"}) {
    text += "__device__ __forceinline__ void loom_wgmma_m64n128_" + std::string(kind) +
            "(float d[64], unsigned long long a, unsigned long long b) {\n"
            "  asm volatile(\"{\\n.reg .pred p;\\nsetp.eq.u32 p, 1, 1;\\n\"\n"
            "               \"wgmma.mma_async.sync.aligned.m64n128k16.f32." +
            kind + "." + kind + " {";
    for (int i = 0; i < 64; ++i)
      text += (i ? ", %" : "%") + std::to_string(i);
    text += "}, %64, %65, p, 1, 1, 0, 0;\\n}\\n\"\n               : ";
    for (int i = 0; i < 64; ++i) {
      // Eight operands to a line.
      std::string separator = i == 0 ? "" : i % 8 ? ", " : ",\n                 ";
      text += separator + "\"+f\"(d[" + std::to_string(i) + "])";
    }
    text += "\n               : \"l\"(a), \"l\"(b));\n}\n";
  }
  return text + "#endif\n";
}

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
  // f32 kernels may use the asynchronous copies too (paged attention).
  bool helpers = halves || text.find("loom_cp_async") != std::string::npos;
  if (helpers)
    os << "#include <cuda_fp16.h>\n#include <cuda_bf16.h>\n";
  os << kPrelude;
  if (helpers)
    os << kTensorCorePrelude;
  if (halves)
    os << wgmmaPrelude();
  os << text;
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
