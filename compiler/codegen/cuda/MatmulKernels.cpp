//===- MatmulKernels.cpp - Matmul and linear kernels ----------------------===//
//
// 16-bit linear layers on tensor cores; f32 and batched matmuls as SIMT tiles.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/KernelWriter.h"

using namespace mlir;

namespace loom::cuda {

/// A tiled SIMT GEMM: 64x64 output tiles per block of 256 threads, 16-deep slices of
/// A and B staged in shared memory, each thread accumulating a 4x4 grid of outputs
/// (rows ty + 16i, columns tx + 16j, so stores are coalesced); then the bias and the
/// epilogue on each output element.
bool KernelWriter::matmul() {
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
  auto stage = [&](const std::string &target, const std::string &source, bool kContiguous,
                   const std::string &outer, const std::string &rowStride,
                   const std::string &base) {
    e.open("for (int t = threadIdx.x; t < 16 * 64; t += 256)");
    if (kContiguous)
      e.line("const int kk = t % 16, xx = t / 16;");
    else
      e.line("const int kk = t / 64, xx = t % 64;");
    e.line("const long long k = k0 + kk, x = " + outer + "0 + xx;");
    std::string offset = kContiguous ? "x * K + k" : "k * " + rowStride + " + x";
    e.line(target + "[kk][xx] = (k < K && x < " + (outer == "m" ? "M" : "N") + ") ? (" +
           acc + ")" + widen(source + "[" + base + " + " + offset + "]") + " : (" + acc +
           ")0;");
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
bool KernelWriter::tensorCoreLinear(LinearOp op, const std::string &a,
                                    const std::string &b) {
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

} // namespace loom::cuda
