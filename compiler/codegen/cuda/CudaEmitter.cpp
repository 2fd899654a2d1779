//===- CudaEmitter.cpp - loom.kernel regions to CUDA C++ --------------------===//

#include "compiler/codegen/cuda/CudaEmitter.h"

#include "compiler/codegen/cuda/ElementEmitter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/OperationSupport.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/xxhash.h"

using namespace mlir;

namespace loom::cuda {

namespace {

constexpr int kThreads = 256;

Shape shapeOf(Value v) { return getShape(llvm::cast<RankedTensorType>(v.getType())); }
Type elementOf(Value v) {
  return llvm::cast<RankedTensorType>(v.getType()).getElementType();
}

/// Helpers every kernel may use; 16-bit float headers only when a kernel needs them.
const char *kPrelude = R"(
__device__ __forceinline__ long long loom_min(long long a, long long b) { return a < b ? a : b; }
__device__ __forceinline__ long long loom_max(long long a, long long b) { return a > b ? a : b; }

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
    default:
      return kernel_.emitOpError()
             << "the CUDA emitter cannot write " << stringifyKernelKind(kernel_.getKind())
             << " kernels yet";
    }
    if (!ok || emitter_->failed())
      return kernel_.emitOpError() << "cannot be written as CUDA: "
                                   << (emitter_->failed() ? emitter_->error() : why_);
    os << "\n// " << stringifyKernelKind(kernel_.getKind()) << " kernel; launch "
       << info_.threads << " threads per block, one block per " << info_.itemsPerBlock
       << " of " << info_.items << " items\n";
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
        info_.items = count;
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
    for (Value out : yielded())
      if (shapeOf(out) != shape)
        return refuse("an output of another shape than the normalized value");
    ArrayRef<Dim> lead = ArrayRef<Dim>(shape).take_front(axis);
    ArrayRef<Dim> trail = ArrayRef<Dim>(shape).drop_front(axis);
    std::string type = computeType(elementOf(input));
    info_.items = product(lead);
    info_.itemsPerBlock = 1;
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
      e.define(anchor->getResult(0), index, y);
      for (auto [i, out] : llvm::enumerate(yielded()))
        e.line(store(elementOf(out), "out" + std::to_string(i) + "[row * cols + c]",
                     e.at(out, index)));
    });
    e.close();
    return true;
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

} // namespace loom::cuda
