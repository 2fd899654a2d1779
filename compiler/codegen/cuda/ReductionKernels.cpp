//===- ReductionKernels.cpp - reduce, softmax and cumsum kernels ----------===//
//
// Block reductions for reduce and softmax, a thread per line for cumsum.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/KernelWriter.h"

using namespace mlir;

namespace loom::cuda {

/// Identity of a reduction in compute type `type`.
std::string KernelWriter::identity(ReduceKind kind, const std::string &type) {
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

bool KernelWriter::reduction() {
  Operation *anchor = kernel_.getAnchor();
  if (auto reduce = llvm::dyn_cast<ReduceOp>(anchor))
    return reduceKernel(reduce);
  if (auto softmax = llvm::dyn_cast<SoftmaxOp>(anchor))
    return softmaxKernel(softmax);
  if (auto loss = llvm::dyn_cast<CrossEntropyOp>(anchor))
    return crossEntropyKernel(loss);
  return cumsumKernel(llvm::cast<CumsumOp>(anchor));
}

/// One block per output element (grid-stride), the threads splitting the reduced
/// elements, combined by a block reduction; thread 0 applies the epilogue.
bool KernelWriter::reduceKernel(ReduceOp op) {
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
bool KernelWriter::softmaxKernel(SoftmaxOp op) {
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
bool KernelWriter::cumsumKernel(CumsumOp op) {
  ElementEmitter &e = *emitter_;
  Shape shape = shapeOf(op.getResult());
  int64_t axis = op.getAxis();
  Shape rest = shape;
  rest.erase(rest.begin() + axis);
  std::string type = computeType(elementOf(op.getResult()));
  info_.grid[0] = {work(rest), info_.threads, 65536};
  e.line("const long long lines = " + product(rest) + ", n = " + sizeExpr(shape[axis]) +
         ";");
  e.open("for (long long line = blockIdx.x * (long long)blockDim.x + threadIdx.x; line < "
         "lines; line += (long long)gridDim.x * blockDim.x)");
  Index lineIndex = e.delinearize("line", rest);
  Index index = lineIndex;
  index.insert(index.begin() + axis, "j");
  e.line(type + " acc = 0;");
  e.open("for (long long step = 0; step < n; ++step)");
  e.line("const long long j = " + std::string(op.getReverse() ? "n - 1 - step" : "step") +
         ";");
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

} // namespace loom::cuda
