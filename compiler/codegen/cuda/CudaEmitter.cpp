//===- CudaEmitter.cpp - loom.kernel regions to CUDA C++ --------------------===//

#include "compiler/codegen/cuda/CudaEmitter.h"

#include "compiler/codegen/cuda/ElementEmitter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/xxhash.h"

#include <cmath>

using namespace mlir;

namespace loom::cuda {

namespace {

constexpr int kThreads = 256;

Type elementOf(Value v) {
  return llvm::cast<RankedTensorType>(v.getType()).getElementType();
}

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

/// The statement storing compute-typed `value` into `target`.
std::string store(Type element, const std::string &target, const std::string &value) {
  if (element.isF16())
    return target + " = __float2half_rn(" + value + ");";
  if (element.isBF16())
    return target + " = __float2bfloat16_rn(" + value + ");";
  return target + " = (" + storageType(element) + ")(" + value + ");";
}

/// The product of `dims` as size-expression text ("?" if one is anonymous).
std::string work(ArrayRef<Dim> dims) {
  std::optional<SizeExpr> count = elementCount(dims);
  return count ? count->str() : "?";
}

std::string describe(const EmittedKernel::GridDim &dim) {
  std::string text = dim.per == 1
                         ? dim.work
                         : "ceil(" + dim.work + " / " + std::to_string(dim.per) + ")";
  return dim.cap ? "min(" + text + ", " + std::to_string(dim.cap) + ")" : text;
}

std::string product(ArrayRef<Dim> dims) {
  std::string text = "1LL";
  for (const Dim &d : dims)
    text += " * " + sizeExpr(d);
  return text;
}

class KernelWriter {
public:
  KernelWriter(KernelOp kernel, std::string name)
      : kernel_(kernel), name_(std::move(name)) {
    std::vector<std::string> inputNames;
    for (unsigned i = 0; i < kernel.getInputs().size(); ++i)
      inputNames.push_back("in" + std::to_string(i));
    SmallVector<Value> args(body().getArguments().begin(), body().getArguments().end());
    emitter_ = std::make_unique<ElementEmitter>(args, inputNames);
    std::set<std::string> symbols;
    kernel.walk([&](Operation *op) {
      for (Type t : op->getResultTypes())
        collectSymbols(t, symbols);
    });
    for (Type t : kernel.getInputs().getTypes())
      collectSymbols(t, symbols);
    info_.symbols.assign(symbols.begin(), symbols.end());
    info_.name = name_;
    info_.kind = kernel.getKind();
  }

  LogicalResult write(llvm::raw_ostream &os) {
    bool ok = true;
    switch (kernel_.getKind()) {
    case KernelKind::Pointwise:
      ok = pointwise();
      break;
    case KernelKind::Normalization:
      ok = normalization();
      break;
    case KernelKind::Matmul:
      ok = matmul();
      break;
    case KernelKind::Attention:
      ok = attention();
      break;
    case KernelKind::Reduction:
      ok = reduction();
      break;
    default:
      return kernel_.emitOpError()
             << "the CUDA emitter cannot write " << stringifyKernelKind(kernel_.getKind())
             << " kernels yet";
    }
    if (!ok || emitter_->failed())
      return kernel_.emitOpError() << "cannot be written as CUDA: "
                                   << (emitter_->failed() ? emitter_->error() : why_);
    os << "\n// " << stringifyKernelKind(kernel_.getKind()) << " kernel; launch with "
       << info_.threads << " threads per block, grid (" << describe(info_.grid[0]) << ", "
       << describe(info_.grid[1]) << ", " << describe(info_.grid[2]) << ")\n";
    os << "extern \"C\" __global__ void __launch_bounds__(" << info_.threads << ") "
       << name_ << "(";
    std::string separator;
    for (auto [i, input] : llvm::enumerate(kernel_.getInputs())) {
      os << separator << "const " << storageType(elementOf(input)) << " *__restrict__ in"
         << i;
      separator = ", ";
    }
    for (auto [i, output] : llvm::enumerate(kernel_.getResults())) {
      os << separator << storageType(elementOf(output)) << " *__restrict__ out" << i;
      separator = ", ";
    }
    for (const std::string &symbol : info_.symbols) {
      os << separator << "long long s_" << symbol;
      separator = ", ";
    }
    os << ") {\n" << emitter_->code() << "}\n";
    return success();
  }

  const EmittedKernel &info() const { return info_; }

private:
  Block &body() { return kernel_.getBody().front(); }
  ValueRange yielded() { return body().getTerminator()->getOperands(); }

  bool refuse(const std::string &why) {
    why_ = why;
    return false;
  }

  /// One grid-stride loop per output over its elements.
  bool pointwise() {
    ElementEmitter &e = *emitter_;
    for (auto [i, value] : llvm::enumerate(yielded())) {
      Shape shape = shapeOf(value);
      std::string count = product(shape);
      if (i == 0)
        info_.grid[0] = {work(shape), 256, 65536};
      e.open("");
      e.line("const long long n = " + count + ";");
      e.open(
          "for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < n; "
          "t += (long long)gridDim.x * blockDim.x)");
      Index index = e.delinearize("t", shape);
      std::string v = e.at(value, index);
      e.line(store(elementOf(value), "out" + std::to_string(i) + "[t]", v));
      e.close();
      e.close();
    }
    return true;
  }

  /// One block per row: the row's statistics by block reductions, then the normalized
  /// row with the epilogue applied.
  bool normalization() {
    ElementEmitter &e = *emitter_;
    Operation *anchor = kernel_.getAnchor();
    auto rms = llvm::dyn_cast<RmsNormOp>(anchor);
    auto layer = llvm::dyn_cast<LayerNormOp>(anchor);
    Value input = rms ? rms.getInput() : layer.getInput();
    Value scale = rms ? rms.getScale() : layer.getScale();
    Value bias = layer ? layer.getBias() : Value();
    int64_t axis = rms ? rms.getAxis() : layer.getAxis();
    float epsilon = (rms ? rms.getEpsilon() : layer.getEpsilon()).convertToFloat();
    Shape shape = shapeOf(input);
    ArrayRef<Dim> lead = ArrayRef<Dim>(shape).take_front(axis);
    ArrayRef<Dim> trail = ArrayRef<Dim>(shape).drop_front(axis);
    std::string type = computeType(elementOf(input));
    info_.grid[0] = {work(lead), 1, 65536};
    std::string cols = product(trail);

    e.line("const long long rows = " + product(lead) + ", cols = " + cols + ";");
    e.open("for (long long row = blockIdx.x; row < rows; row += gridDim.x)");
    Index rowIndex = e.delinearize("row", lead);
    auto element = [&](const std::string &column) {
      Index index = rowIndex;
      Index columns = e.delinearize(column, trail);
      index.insert(index.end(), columns.begin(), columns.end());
      return std::pair(index, columns);
    };
    auto columnLoop = [&](auto body) {
      e.open("for (long long c = threadIdx.x; c < cols; c += blockDim.x)");
      body();
      e.close();
    };
    bool stored = true;
    std::string center = "0";
    if (layer) {
      e.line(type + " sum = 0;");
      columnLoop([&] { e.line("sum += " + e.at(input, element("c").first) + ";"); });
      e.line("const " + type + " mean = loom_block_sum(sum) / (" + type + ")cols;");
      center = "mean";
    }
    e.line(type + " squares = 0;");
    columnLoop([&] {
      std::string x = e.at(input, element("c").first);
      e.line("const " + type + " d = " + x + " - " + center + ";");
      e.line("squares += d * d;");
    });
    std::string eps;
    llvm::raw_string_ostream(eps) << llvm::format("%.9e", static_cast<double>(epsilon));
    e.line("const " + type + " inverse = (" + type +
           ")1 / sqrt(loom_block_sum(squares) / (" + type + ")cols + (" + type + ")" +
           eps + ");");
    columnLoop([&] {
      auto [index, columns] = element("c");
      std::string x = e.at(input, index);
      std::string y = e.fresh("y");
      std::string value =
          "(" + x + " - " + center + ") * inverse * " + e.at(scale, columns);
      if (bias)
        value += " + " + e.at(bias, columns);
      e.line("const " + type + " " + y + " = " + value + ";");
      stored = storeOutputs(anchor->getResult(0), index, y);
    });
    e.close();
    return stored;
  }

  /// The values of the body computed from `anchor` (the anchor included), in one pass
  /// over the body, which is in dependence order.
  llvm::DenseSet<Value> computedFrom(Value anchor) {
    llvm::DenseSet<Value> found{anchor};
    for (Operation &op : body().without_terminator())
      if (llvm::any_of(op.getOperands(), [&](Value v) { return found.contains(v); }))
        found.insert(op.result_begin(), op.result_end());
    return found;
  }

  /// The index in `output` of the element that the anchor's element at `index` becomes,
  /// following the epilogue (elementwise ops keep the index, transposes permute it,
  /// reshapes keep the linear offset). Fails for other epilogues.
  std::optional<Index> forward(Value anchor, const llvm::DenseSet<Value> &fromAnchor,
                               const Index &index, Value output) {
    SmallVector<Operation *> chain;
    for (Value v = output; v != anchor;) {
      Operation *op = v.getDefiningOp();
      if (!op || !fromAnchor.contains(v))
        return std::nullopt;
      chain.push_back(op);
      v = *llvm::find_if(op->getOperands(),
                         [&](Value x) { return fromAnchor.contains(x); });
    }
    ElementEmitter &e = *emitter_;
    Index at = index;
    Value current = anchor;
    for (Operation *op : llvm::reverse(chain)) {
      Shape from = shapeOf(current), to = shapeOf(op->getResult(0));
      if (auto t = llvm::dyn_cast<TransposeOp>(op)) {
        Index next;
        for (int64_t p : t.getPermutation())
          next.push_back(at[p]);
        at = next;
      } else if (llvm::isa<ReshapeOp>(op) && from != to) {
        std::string offset = e.fresh("o");
        e.line("const long long " + offset + " = " + ElementEmitter::linearize(at, from) +
               ";");
        e.alias(at, from, offset);
        at = e.delinearize(offset, to);
      } else if (from != to) {
        return std::nullopt;
      }
      current = op->getResult(0);
    }
    return at;
  }

  /// Stores every output at the element the anchor's element at `index` becomes; the
  /// anchor's value there is `value`.
  bool storeOutputs(Value anchor, const Index &index, const std::string &value) {
    ElementEmitter &e = *emitter_;
    e.define(anchor, index, value);
    llvm::DenseSet<Value> fromAnchor = computedFrom(anchor);
    for (auto [i, out] : llvm::enumerate(yielded())) {
      std::optional<Index> at = forward(anchor, fromAnchor, index, out);
      if (!at)
        return refuse(
            "an output that is not the anchor's result through elementwise ops, "
            "transposes and reshapes");
      e.line(store(elementOf(out),
                   "out" + std::to_string(i) + "[" +
                       ElementEmitter::linearize(*at, shapeOf(out)) + "]",
                   e.at(out, *at)));
    }
    return true;
  }

  /// The kernel input that `value` is, as a parameter name; empty if it is computed.
  std::string parameter(Value value) {
    auto arg = llvm::dyn_cast<BlockArgument>(value);
    return arg ? "in" + std::to_string(arg.getArgNumber()) : "";
  }

  /// A tiled SIMT GEMM: 64x64 output tiles per block of 256 threads, 16-deep slices of
  /// A and B staged in shared memory, each thread accumulating a 4x4 grid of outputs
  /// (rows ty + 16i, columns tx + 16j, so stores are coalesced); then the bias and the
  /// epilogue on each output element.
  bool matmul() {
    ElementEmitter &e = *emitter_;
    Operation *anchor = kernel_.getAnchor();
    auto linear = llvm::dyn_cast<LinearOp>(anchor);
    auto product2 = llvm::dyn_cast<MatmulOp>(anchor);
    Value lhs = linear ? linear.getInput() : product2.getLhs();
    Value rhs = linear ? linear.getWeight() : product2.getRhs();
    std::string a = parameter(lhs), b = parameter(rhs);
    if (a.empty() || b.empty())
      return refuse("matmul operands must be kernel inputs (a matmul takes no prologue)");
    Shape result = shapeOf(anchor->getResult(0));
    Type lhsElement = elementOf(lhs);
    if (linear && (lhsElement.isBF16() || lhsElement.isF16()))
      return tensorCoreLinear(linear, a, b);
    Shape ls = shapeOf(lhs), rs = shapeOf(rhs);
    bool transA = product2 && product2.getTransposeLhs();
    bool transB = linear ? linear.getTransposeWeight() : product2.getTransposeRhs();
    std::string M, N, K;
    Shape batchShape;
    if (linear) {
      M = product(ArrayRef<Dim>(ls).drop_back());
      K = sizeExpr(ls.back());
      N = sizeExpr(result.back());
    } else {
      M = sizeExpr(result[result.size() - 2]);
      N = sizeExpr(result.back());
      K = sizeExpr(transA ? ls[ls.size() - 2] : ls.back());
      batchShape.assign(result.begin(), result.end() - 2);
    }
    Type element = elementOf(lhs);
    std::string acc = computeType(element) == "double" ? "double" : computeType(element);
    auto widen = [&](const std::string &load) {
      if (element.isF16())
        return "__half2float(" + load + ")";
      if (element.isBF16())
        return "__bfloat162float(" + load + ")";
      return load;
    };
    info_.grid[0] = {work(ArrayRef<Dim>(result).take_back()), 64, 0};
    info_.grid[1] = {work(linear ? ArrayRef<Dim>(ls).drop_back()
                                 : ArrayRef<Dim>(result).drop_back().take_back()),
                     64, 0};
    info_.grid[2] = {work(batchShape), 1, 0};

    e.line("const long long M = " + M + ", N = " + N + ", K = " + K + ";");
    e.line("__shared__ " + acc + " As[16][64], Bs[16][64];");
    e.line("const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;");
    e.line("const long long m0 = blockIdx.y * 64LL, n0 = blockIdx.x * 64LL;");
    // Batch offsets of each operand (a broadcast batch dimension stays at 0).
    std::string aBase = "0LL", bBase = "0LL";
    Index batchIndex;
    if (!batchShape.empty()) {
      batchIndex = e.delinearize("(long long)blockIdx.z", batchShape);
      auto base = [&](ArrayRef<Dim> shape, const std::string &matrix) {
        Index own;
        size_t lead = batchShape.size() - (shape.size() - 2);
        for (size_t i = 0; i + 2 < shape.size(); ++i)
          own.push_back(shape[i].isOne() ? "0LL" : batchIndex[lead + i]);
        if (own.empty())
          return std::string("0LL");
        return "(" + ElementEmitter::linearize(own, shape.drop_back(2)) + ") * " + matrix;
      };
      aBase = base(ls, "M * K");
      bBase = base(rs, "K * N");
    }
    e.line("const long long aBase = " + aBase + ", bBase = " + bBase + ";");
    e.line(acc + " sum[4][4] = {};");
    e.open("for (long long k0 = 0; k0 < K; k0 += 16)");
    // Stage A as As[k][m] and B as Bs[k][n]; consecutive threads read consecutive
    // addresses of whichever dimension is contiguous in memory.
    auto stage = [&](const std::string &target, const std::string &source,
                     bool kContiguous, const std::string &outer,
                     const std::string &rowStride, const std::string &base) {
      e.open("for (int t = threadIdx.x; t < 16 * 64; t += 256)");
      if (kContiguous)
        e.line("const int kk = t % 16, xx = t / 16;");
      else
        e.line("const int kk = t / 64, xx = t % 64;");
      e.line("const long long k = k0 + kk, x = " + outer + "0 + xx;");
      std::string offset = kContiguous ? "x * K + k" : "k * " + rowStride + " + x";
      e.line(target + "[kk][xx] = (k < K && x < " + (outer == "m" ? "M" : "N") + ") ? (" +
             acc + ")" + widen(source + "[" + base + " + " + offset + "]") + " : (" +
             acc + ")0;");
      e.close();
    };
    stage("As", a, !transA, "m", "M", "aBase");
    stage("Bs", b, transB, "n", "N", "bBase");
    e.line("__syncthreads();");
    e.open("for (int kk = 0; kk < 16; ++kk)");
    e.open("for (int i = 0; i < 4; ++i)");
    e.line("const " + acc + " av = As[kk][ty + 16 * i];");
    e.open("for (int j = 0; j < 4; ++j)");
    e.line("sum[i][j] += av * Bs[kk][tx + 16 * j];");
    e.close();
    e.close();
    e.close();
    e.line("__syncthreads();");
    e.close();
    e.open("for (int i = 0; i < 4; ++i)");
    e.open("for (int j = 0; j < 4; ++j)");
    e.line("const long long m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;");
    e.open("if (m < M && n < N)");
    Index index;
    if (linear) {
      index = e.delinearize("m", ArrayRef<Dim>(result).drop_back());
      index.push_back("n");
    } else {
      index = batchIndex;
      index.push_back("m");
      index.push_back("n");
    }
    std::string value = "sum[i][j]";
    if (linear && linear.getBias())
      value += " + " + e.at(linear.getBias(), {"n"});
    std::string y = e.fresh("y");
    e.line("const " + acc + " " + y + " = " + value + ";");
    bool stored = storeOutputs(anchor->getResult(0), index, y);
    e.close();
    e.close();
    e.close();
    return stored;
  }

  /// A 16-bit linear layer on tensor cores (mma.sync m16n8k16, f32 accumulation,
  /// sm_80 and up): 64x64 output tiles per block of 4 warps, each warp 32x32 (2 x 4
  /// mma tiles); 32-deep slices of A ([m][k]) and of the weight as [n][k] staged in
  /// shared memory, padded against bank conflicts; fragments read as pairs of
  /// consecutive k. Then the bias and the epilogue per accumulator element.
  bool tensorCoreLinear(LinearOp op, const std::string &a, const std::string &b) {
    ElementEmitter &e = *emitter_;
    Shape ls = shapeOf(op.getInput()), result = shapeOf(op.getResult());
    Type element = elementOf(op.getInput());
    std::string storage = storageType(element);
    std::string kind = element.isBF16() ? "bf16" : "f16";
    std::string M = product(ArrayRef<Dim>(ls).drop_back()), K = sizeExpr(ls.back()),
                N = sizeExpr(result.back());
    info_.threads = 128;
    info_.grid[0] = {work(ArrayRef<Dim>(result).take_back()), 64, 0};
    info_.grid[1] = {work(ArrayRef<Dim>(ls).drop_back()), 64, 0};
    e.line("const long long M = " + M + ", N = " + N + ", K = " + K + ";");
    e.line("__shared__ __align__(16) " + storage + " As[64][40], Bs[64][40];");
    e.line("const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;");
    e.line("const int group = lane / 4, pair = lane % 4;");
    e.line("const int wm = (warp / 2) * 32, wn = (warp % 2) * 32;");
    e.line("const long long m0 = blockIdx.y * 64LL, n0 = blockIdx.x * 64LL;");
    e.line("float acc[2][4][4] = {};");
    e.line("const " + storage + " zero = " +
           (element.isBF16() ? "__float2bfloat16_rn(0.0f)" : "__float2half_rn(0.0f)") +
           ";");
    e.open("for (long long k0 = 0; k0 < K; k0 += 32)");
    // A rows are k-contiguous; the weight is [N, K] (k-contiguous) or [K, N].
    e.open("for (int t = threadIdx.x; t < 64 * 32; t += 128)");
    e.line("const int r = t / 32, c = t % 32;");
    e.line("const long long m = m0 + r, k = k0 + c;");
    e.line("As[r][c] = (m < M && k < K) ? " + a + "[m * K + k] : zero;");
    e.close();
    e.open("for (int t = threadIdx.x; t < 64 * 32; t += 128)");
    if (op.getTransposeWeight()) {
      e.line("const int r = t / 32, c = t % 32;");
      e.line("const long long n = n0 + r, k = k0 + c;");
      e.line("Bs[r][c] = (n < N && k < K) ? " + b + "[n * K + k] : zero;");
    } else {
      e.line("const int c = t / 64, r = t % 64;");
      e.line("const long long n = n0 + r, k = k0 + c;");
      e.line("Bs[r][c] = (n < N && k < K) ? " + b + "[k * N + n] : zero;");
    }
    e.close();
    e.line("__syncthreads();");
    e.open("for (int kk = 0; kk < 32; kk += 16)");
    e.line("unsigned af[2][4], bf[4][2];");
    e.open("for (int i = 0; i < 2; ++i)");
    e.line("const int r = wm + i * 16 + group, c = kk + pair * 2;");
    e.line("af[i][0] = *reinterpret_cast<const unsigned *>(&As[r][c]);");
    e.line("af[i][1] = *reinterpret_cast<const unsigned *>(&As[r + 8][c]);");
    e.line("af[i][2] = *reinterpret_cast<const unsigned *>(&As[r][c + 8]);");
    e.line("af[i][3] = *reinterpret_cast<const unsigned *>(&As[r + 8][c + 8]);");
    e.close();
    e.open("for (int j = 0; j < 4; ++j)");
    e.line("const int r = wn + j * 8 + group, c = kk + pair * 2;");
    e.line("bf[j][0] = *reinterpret_cast<const unsigned *>(&Bs[r][c]);");
    e.line("bf[j][1] = *reinterpret_cast<const unsigned *>(&Bs[r][c + 8]);");
    e.close();
    e.open("for (int i = 0; i < 2; ++i)");
    e.open("for (int j = 0; j < 4; ++j)");
    e.line("asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32." + kind + "." + kind +
           ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\\n\"");
    e.line("    : \"+f\"(acc[i][j][0]), \"+f\"(acc[i][j][1]), \"+f\"(acc[i][j][2]), "
           "\"+f\"(acc[i][j][3])");
    e.line("    : \"r\"(af[i][0]), \"r\"(af[i][1]), \"r\"(af[i][2]), \"r\"(af[i][3]), "
           "\"r\"(bf[j][0]), \"r\"(bf[j][1]));");
    e.close();
    e.close();
    e.close();
    e.line("__syncthreads();");
    e.close();
    // Accumulator element q of tile (i, j): row group (+8 for q >= 2), column pair*2 (+1
    // for odd q).
    e.open("for (int i = 0; i < 2; ++i)");
    e.open("for (int j = 0; j < 4; ++j)");
    e.open("for (int q = 0; q < 4; ++q)");
    e.line("const long long m = m0 + wm + i * 16 + group + (q >= 2 ? 8 : 0);");
    e.line("const long long n = n0 + wn + j * 8 + pair * 2 + (q & 1);");
    e.open("if (m < M && n < N)");
    Index index = e.delinearize("m", ArrayRef<Dim>(result).drop_back());
    index.push_back("n");
    std::string value = "acc[i][j][q]";
    if (Value bias = op.getBias())
      value += " + " + e.at(bias, {"n"});
    e.line("const float y = " + value + ";");
    bool stored = storeOutputs(op.getResult(), index, "y");
    e.close();
    e.close();
    e.close();
    e.close();
    return stored;
  }

  /// Identity of a reduction in compute type `type`.
  static std::string identity(ReduceKind kind, const std::string &type) {
    bool floating = type == "float" || type == "double";
    std::string inf = type == "double" ? "__longlong_as_double(0x7ff0000000000000LL)"
                                       : "__int_as_float(0x7f800000)";
    switch (kind) {
    case ReduceKind::Max:
      return floating ? "-" + inf : "(" + type + ")(-9223372036854775807LL - 1)";
    case ReduceKind::Min:
      return floating ? inf : "(" + type + ")9223372036854775807LL";
    default:
      return "(" + type + ")0";
    }
  }

  bool reduction() {
    Operation *anchor = kernel_.getAnchor();
    if (auto reduce = llvm::dyn_cast<ReduceOp>(anchor))
      return reduceKernel(reduce);
    if (auto softmax = llvm::dyn_cast<SoftmaxOp>(anchor))
      return softmaxKernel(softmax);
    return cumsumKernel(llvm::cast<CumsumOp>(anchor));
  }

  /// One block per output element (grid-stride), the threads splitting the reduced
  /// elements, combined by a block reduction; thread 0 applies the epilogue.
  bool reduceKernel(ReduceOp op) {
    ElementEmitter &e = *emitter_;
    Shape in = shapeOf(op.getOperand()), out = shapeOf(op.getResult());
    ArrayRef<int64_t> axes = op.getAxes();
    Shape reduced;
    for (int64_t a : axes)
      reduced.push_back(in[a]);
    std::string type = computeType(elementOf(op.getResult()));
    const char *functor = op.getKind() == ReduceKind::Max   ? "LoomMax()"
                          : op.getKind() == ReduceKind::Min ? "LoomMin()"
                                                            : "LoomSum()";
    std::string init = identity(op.getKind(), type);
    info_.grid[0] = {work(out), 1, 65536};
    e.line("const long long outputs = " + product(out) + ", inner = " + product(reduced) +
           ";");
    e.open("for (long long o = blockIdx.x; o < outputs; o += gridDim.x)");
    Index outIndex = e.delinearize("o", out);
    e.line(type + " acc = " + init + ";");
    e.open("for (long long r = threadIdx.x; r < inner; r += blockDim.x)");
    Index red = e.delinearize("r", reduced);
    Index source;
    size_t k = 0, j = 0;
    for (size_t axis = 0; axis < in.size(); ++axis) {
      if (llvm::is_contained(axes, static_cast<int64_t>(axis))) {
        source.push_back(red[k++]);
        if (op.getKeepDims())
          ++j;
      } else {
        source.push_back(outIndex[j++]);
      }
    }
    e.line("acc = " + std::string(functor) + "(acc, " + e.at(op.getOperand(), source) +
           ");");
    e.close();
    e.line("const " + type + " total = loom_block_reduce(acc, " + functor + ", " + init +
           ");");
    e.open("if (threadIdx.x == 0)");
    std::string value =
        op.getKind() == ReduceKind::Mean ? "total / (" + type + ")inner" : "total";
    e.line("const " + type + " reduced = " + value + ";");
    bool stored = storeOutputs(op.getResult(), outIndex, "reduced");
    e.close();
    e.close();
    return stored;
  }

  /// One block per row along the softmax axis: the maximum, the sum of exponentials,
  /// then the normalized row with the epilogue.
  bool softmaxKernel(SoftmaxOp op) {
    ElementEmitter &e = *emitter_;
    Shape shape = shapeOf(op.getResult());
    int64_t axis = op.getAxis();
    Shape rest = shape;
    rest.erase(rest.begin() + axis);
    std::string type = computeType(elementOf(op.getResult()));
    std::string minusInf = identity(ReduceKind::Max, type);
    info_.grid[0] = {work(rest), 1, 65536};
    e.line("const long long rows = " + product(rest) + ", n = " + sizeExpr(shape[axis]) +
           ";");
    e.open("for (long long row = blockIdx.x; row < rows; row += gridDim.x)");
    Index rowIndex = e.delinearize("row", rest);
    auto element = [&] {
      Index index = rowIndex;
      index.insert(index.begin() + axis, "j");
      return index;
    };
    e.line(type + " high = " + minusInf + ";");
    e.open("for (long long j = threadIdx.x; j < n; j += blockDim.x)");
    e.line("high = LoomMax()(high, " + e.at(op.getOperand(), element()) + ");");
    e.close();
    e.line("high = loom_block_reduce(high, LoomMax(), " + minusInf + ");");
    e.line(type + " sum = 0;");
    e.open("for (long long j = threadIdx.x; j < n; j += blockDim.x)");
    e.line("sum += exp(" + e.at(op.getOperand(), element()) + " - high);");
    e.close();
    e.line("sum = loom_block_reduce(sum, LoomSum(), (" + type + ")0);");
    bool stored = true;
    e.open("for (long long j = threadIdx.x; j < n; j += blockDim.x)");
    e.line("const " + type + " p = exp(" + e.at(op.getOperand(), element()) +
           " - high) / sum;");
    stored = storeOutputs(op.getResult(), element(), "p");
    e.close();
    e.close();
    return stored;
  }

  /// One thread per line along the axis, summing in order (or from the end).
  bool cumsumKernel(CumsumOp op) {
    ElementEmitter &e = *emitter_;
    Shape shape = shapeOf(op.getResult());
    int64_t axis = op.getAxis();
    Shape rest = shape;
    rest.erase(rest.begin() + axis);
    std::string type = computeType(elementOf(op.getResult()));
    info_.grid[0] = {work(rest), 256, 65536};
    e.line("const long long lines = " + product(rest) + ", n = " + sizeExpr(shape[axis]) +
           ";");
    e.open(
        "for (long long line = blockIdx.x * (long long)blockDim.x + threadIdx.x; line < "
        "lines; line += (long long)gridDim.x * blockDim.x)");
    Index lineIndex = e.delinearize("line", rest);
    Index index = lineIndex;
    index.insert(index.begin() + axis, "j");
    e.line(type + " acc = 0;");
    e.open("for (long long step = 0; step < n; ++step)");
    e.line("const long long j = " +
           std::string(op.getReverse() ? "n - 1 - step" : "step") + ";");
    e.line("const " + type + " x = " + e.at(op.getOperand(), index) + ";");
    if (!op.getExclusive())
      e.line("acc += x;");
    e.line("const " + type + " running = acc;");
    bool stored = storeOutputs(op.getResult(), index, "running");
    if (op.getExclusive())
      e.line("acc += x;");
    e.close();
    e.close();
    return stored;
  }

  /// Flash-style attention without tensor cores yet: a block of 64 threads per (query
  /// tile, head, batch), one query per thread with its row of Q and its output row in
  /// registers; K and V pass through shared memory 32 keys at a time and the softmax is
  /// computed online (running maximum and sum), so no [Sq, Skv] matrix exists. Query
  /// head h reads KV head h / (Hq / Hkv). The prologue (rope, layout) is computed as Q,
  /// K and V are loaded; the epilogue as the output row is stored.
  bool attention() {
    ElementEmitter &e = *emitter_;
    auto op = llvm::cast<AttentionOp>(kernel_.getAnchor());
    Shape q = shapeOf(op.getQuery()), k = shapeOf(op.getKey()),
          v = shapeOf(op.getValue());
    if (!q[3].isStatic() || !v[3].isStatic())
      return refuse("attention head dimensions must be static");
    int64_t d = q[3].size, dv = v[3].size;
    Type element = elementOf(op.getQuery());
    std::string type = computeType(element);
    double scale = op.getScale() ? op.getScale()->convertToDouble()
                                 : 1.0 / std::sqrt(static_cast<double>(d));
    info_.threads = 64;
    info_.grid[0] = {work(ArrayRef<Dim>(q).slice(2, 1)), 64, 0};
    info_.grid[1] = {work(ArrayRef<Dim>(q).slice(1, 1)), 1, 0};
    info_.grid[2] = {work(ArrayRef<Dim>(q).take_front()), 1, 0};
    auto literal = [&](double x) {
      std::string text;
      llvm::raw_string_ostream(text) << llvm::format("%.9e", x);
      return "(" + type + ")" + text;
    };
    e.line("const long long Sq = " + sizeExpr(q[2]) + ", Skv = " + sizeExpr(k[2]) +
           ", H = " + sizeExpr(q[1]) + ", Hkv = " + sizeExpr(k[1]) + ";");
    e.line("const long long b = blockIdx.z, h = blockIdx.y, i = blockIdx.x * 64LL + "
           "threadIdx.x, kvh = h / (H / Hkv);");
    e.line("const bool active = i < Sq;");
    e.line("__shared__ " + type + " Ks[32][" + std::to_string(d) + "], Vs[32][" +
           std::to_string(dv) + "];");
    e.line(type + " qrow[" + std::to_string(d) + "], orow[" + std::to_string(dv) + "];");
    std::string minusInf = type == "double" ? "__longlong_as_double(0xfff0000000000000LL)"
                                            : "__int_as_float(0xff800000)";
    e.line(type + " running = " + minusInf + ", total = 0;");
    e.open("for (int d = 0; d < " + std::to_string(d) + "; ++d)");
    e.line("qrow[d] = 0;");
    e.open("if (active)");
    e.line("qrow[d] = " + e.at(op.getQuery(), {"b", "h", "i", "(long long)d"}) + ";");
    e.close();
    e.close();
    e.open("for (int d = 0; d < " + std::to_string(dv) + "; ++d)");
    e.line("orow[d] = 0;");
    e.close();
    e.open("for (long long j0 = 0; j0 < Skv; j0 += 32)");
    auto stage = [&](const std::string &tile, Value source, int64_t width) {
      std::string w = std::to_string(width);
      e.open("for (int t = threadIdx.x; t < 32 * " + w + "; t += blockDim.x)");
      e.line("const long long j = j0 + t / " + w + ", d = t % " + w + ";");
      e.open("if (j < Skv)");
      e.line(tile + "[t / " + w + "][d] = " + e.at(source, {"b", "kvh", "j", "d"}) + ";");
      e.close();
      e.close();
    };
    stage("Ks", op.getKey(), d);
    stage("Vs", op.getValue(), dv);
    e.line("__syncthreads();");
    e.open("if (active)");
    e.open("for (int jj = 0; jj < 32 && j0 + jj < Skv; ++jj)");
    e.line("const long long j = j0 + jj;");
    if (op.getCausal())
      e.line("if (j > i + Skv - Sq) break;");
    e.line(type + " score = 0;");
    e.line("#pragma unroll");
    e.open("for (int d = 0; d < " + std::to_string(d) + "; ++d)");
    e.line("score += qrow[d] * Ks[jj][d];");
    e.close();
    e.line("score *= " + literal(scale) + ";");
    if (std::optional<APFloat> cap = op.getSoftcap())
      e.line("score = " + literal(cap->convertToDouble()) + " * tanh(score / " +
             literal(cap->convertToDouble()) + ");");
    if (Value mask = op.getMask()) {
      Shape ms = shapeOf(mask);
      Index full = {"b", "h", "i", "j"}, index;
      for (size_t x = 0; x < ms.size(); ++x)
        index.push_back(ms[x].isOne() ? "0LL" : full[4 - ms.size() + x]);
      e.line("score += " + e.at(mask, index) + ";");
    }
    e.line("if (score == " + minusInf + ") continue;");
    e.line("const " + type + " next = score > running ? score : running;");
    e.line("const " + type + " correction = exp(running - next), p = exp(score - next);");
    e.line("total = total * correction + p;");
    e.open("for (int d = 0; d < " + std::to_string(dv) + "; ++d)");
    e.line("orow[d] = orow[d] * correction + p * Vs[jj][d];");
    e.close();
    e.line("running = next;");
    e.close();
    e.close();
    e.line("__syncthreads();");
    e.close();
    e.open("if (active)");
    e.open("for (int dd = 0; dd < " + std::to_string(dv) + "; ++dd)");
    e.line("const " + type + " y = total > 0 ? orow[dd] / total : (" + type + ")0;");
    bool stored = storeOutputs(op.getResult(), {"b", "h", "i", "(long long)dd"}, "y");
    e.close();
    e.close();
    return stored;
  }

  KernelOp kernel_;
  std::string name_;
  std::unique_ptr<ElementEmitter> emitter_;
  EmittedKernel info_;
  std::string why_;
};

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
