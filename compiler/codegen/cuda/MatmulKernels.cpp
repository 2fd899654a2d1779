//===- MatmulKernels.cpp - Matmul and linear kernels ----------------------===//
//
// 16-bit linear layers on tensor cores; f32 and batched matmuls as SIMT tiles. The
// matrix-vector variants for decode steps are in MatrixVectorKernels.cpp.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/KernelWriter.h"
#include "compiler/codegen/cuda/QuantizedWeights.h"

#include <algorithm>

using namespace mlir;

namespace loom::cuda {

/// Slices in flight in the warpgroup path, and its dynamic shared memory: A and B
/// tiles of 128 x 64 per stage, plus room to align the first to 1024 bytes. Three
/// stages (97 KiB) leave room for two blocks per SM; on the H100, four or more stages
/// with one slice's multiplies kept in flight were slower (one block per SM: 2.9-3.2
/// ms against 2.8 ms for 20 of the [2048, 2048] x [5632, 2048]^T GEMM).
constexpr int64_t kWarpgroupStages = 3;
constexpr int64_t kWarpgroupSharedBytes = kWarpgroupStages * 32768 + 1024;

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
  // checkQuantizedInputs has made a quantized weight this linear layer's alone.
  if (auto arg = llvm::dyn_cast<BlockArgument>(rhs);
      linear && arg && quantOf(kernel_.getInputs()[arg.getArgNumber()]))
    return quantizedLinear(linear);
  auto norm = linear ? lhs.getDefiningOp<RmsNormOp>() : RmsNormOp();
  std::string a = norm ? std::string() : parameter(lhs), b = parameter(rhs);
  if ((a.empty() && !norm) || b.empty())
    return refuse("matmul operands must be kernel inputs (the only prologue is a linear "
                  "layer's RMS norm)");
  Shape result = shapeOf(anchor->getResult(0));
  Type lhsElement = elementOf(lhs);
  gate_ = linear ? gatedHalves(linear) : std::nullopt;
  if (gate_) {
    gate_->scratch = "ws" + std::to_string(info_.scratch.size());
    info_.scratch.push_back(
        {{work(ArrayRef<Dim>(result).drop_back()), work(result.back())},
         elementOf(linear.getResult())});
  }
  // A gated pair's outputs come from its `_gate` phase after the tiled kernel.
  auto paired = [&](bool written) {
    return written && (!gate_ || writeGatePhase(linear));
  };
  if (norm && !(schedule_.tensorCores && shapeOf(lhs).size() == 2 &&
                !parameter(norm.getInput()).empty() && !parameter(norm.getScale()).empty()))
    return refuse("an RMS norm prologue needs a 16-bit linear layer on tensor cores over a "
                  "2-D input, the norm's input and scale being kernel inputs");
  if (schedule_.tensorCores) {
    if (!linear || !(lhsElement.isBF16() || lhsElement.isF16()))
      return refuse("tensor cores run 16-bit linear layers only");
    if (!norm)
      return paired(tensorCoreLinear(linear, a, b) && fewRowsLinear(linear, a, b));
    // The tiled kernel reads the rows normalized into scratch by a phase before it;
    // the decode variant normalizes as it reads (fewRowsLinear).
    Shape ls = shapeOf(lhs);
    a = "ws" + std::to_string(info_.scratch.size());
    info_.scratch.push_back(
        {{work(ArrayRef<Dim>(ls).take_front()), work(ArrayRef<Dim>(ls).drop_front())},
         lhsElement});
    EmittedKernel::Phase phase;
    phase.name = name_ + "_norm";
    phase.threads = 256;
    phase.first = true;
    phase.grid[0] = {work(ArrayRef<Dim>(ls).take_front()), 1, 65536};
    size_t normPhase = info_.phases.size();
    bool normalized = writePhase(phase, [&] {
      EmittedKernel::GridDim grid;
      return normalizeRows(norm, phase.threads, grid,
                           [&](const Index &, const std::string &y) {
                             emitter_->line(store(lhsElement, a + "[row * cols + c]", y));
                             return true;
                           });
    });
    if (!normalized || !tensorCoreLinear(linear, a, b) || !fewRowsLinear(linear, a, b))
      return false;
    info_.phases[normPhase].guard = info_.guard;
    return paired(true);
  }
  if (schedule_.tileM != 64 || schedule_.tileN != 64 || schedule_.tileK != 16 ||
      schedule_.warps != 8)
    return refuse("a SIMT matmul takes tile_m = tile_n = 64, tile_k = 16, 8 warps");
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
  return paired(stored);
}

std::optional<KernelWriter::Gate> KernelWriter::gatedHalves(LinearOp op) {
  Shape result = shapeOf(op.getResult());
  int64_t axis = static_cast<int64_t>(result.size()) - 1;
  if (!result.back().isStatic() || result.back().size % 2)
    return std::nullopt;
  int64_t half = result.back().size / 2;
  Gate gate{SliceOp(), SliceOp(), half, "", ""};
  for (Operation *user : op.getResult().getUsers()) {
    auto slice = llvm::dyn_cast<SliceOp>(user);
    if (!slice || slice.getAxes().size() != 1 || slice.getAxes()[0] != axis ||
        slice.getSteps()[0] != 1 || !slice.getWindowStart(0) ||
        shapeOf(slice.getResult()).back().size != half)
      return std::nullopt;
    SliceOp &side = *slice.getWindowStart(0) == 0 ? gate.low : gate.high;
    if (side || (*slice.getWindowStart(0) != 0 && *slice.getWindowStart(0) != half))
      return std::nullopt;
    side = slice;
  }
  if (!gate.low || !gate.high)
    return std::nullopt;
  // Every output has a window's shape (computed from the windows elementwise; the
  // element emitter refuses anything else).
  Shape window = shapeOf(gate.low.getResult());
  Block *body = op->getBlock();
  for (Value out : body->getTerminator()->getOperands())
    if (shapeOf(out) != window || out == op.getResult())
      return std::nullopt;
  return gate;
}

bool KernelWriter::storeGated(const Index &index, const std::string &low,
                              const std::string &high) {
  ElementEmitter &e = *emitter_;
  e.define(gate_->low.getResult(), index, low);
  e.define(gate_->high.getResult(), index, high);
  Shape window = shapeOf(gate_->low.getResult());
  for (auto [i, out] : llvm::enumerate(yielded())) {
    std::string value = e.at(out, index);
    e.line(store(elementOf(out),
                 "out" + std::to_string(i) + "[" +
                     ElementEmitter::linearize(index, window) + "]",
                 value));
  }
  return true;
}

bool KernelWriter::writeGatePhase(LinearOp op) {
  Shape window = shapeOf(gate_->low.getResult());
  Type element = elementOf(op.getResult());
  EmittedKernel::Phase phase;
  phase.name = name_ + "_gate";
  phase.threads = 256;
  // Where the tiled kernel paired the columns itself, the blocks leave at once, so a
  // grid of a few waves (each thread looping) costs little.
  phase.grid[0] = {work(window), 256, gate_->pairedWhen.empty() ? 65536 : 2048};
  phase.guard = info_.guard;
  return writePhase(phase, [&] {
    ElementEmitter &e = *emitter_;
    if (!gate_->pairedWhen.empty()) {
      e.line("#if defined(__CUDA_ARCH_FEAT_SM90_ALL)");
      e.line("if (" + gate_->pairedWhen + ") return;");
      e.line("#endif");
    }
    e.line("const long long n = " + product(window) + ";");
    e.open("for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < n; "
           "t += (long long)gridDim.x * blockDim.x)");
    Index index = e.delinearize("t", window);
    Shape full = shapeOf(op.getResult());
    std::string at = ElementEmitter::linearize(index, full);
    std::string widen = element.isBF16()  ? "__bfloat162float"
                        : element.isF16() ? "__half2float"
                                          : "";
    std::string low = e.fresh("lo"), high = e.fresh("hi");
    std::string T = computeType(element);
    e.line("const " + T + " " + low + " = " + widen + "(" + gate_->scratch + "[" + at +
           "]);");
    e.line("const " + T + " " + high + " = " + widen + "(" + gate_->scratch + "[" + at +
           " + " + std::to_string(gate_->half) + "LL]);");
    bool stored = storeGated(index, low, high);
    e.close();
    return stored;
  });
}

/// Stores accumulator `acc` of output (m, n), when inside the result, with the bias
/// and the epilogue.
bool KernelWriter::storeLinear(LinearOp op, const std::string &acc) {
  ElementEmitter &e = *emitter_;
  e.open("if (m < M && n < N)");
  Index index = e.delinearize("m", ArrayRef<Dim>(shapeOf(op.getResult())).drop_back());
  index.push_back("n");
  std::string value = acc;
  if (Value bias = op.getBias())
    value += " + " + e.at(bias, {"n"});
  e.line("const float y = " + value + ";");
  bool stored = storeOutputs(op.getResult(), index, "y");
  e.close();
  return stored;
}

/// Whether a tensor-core tile's operands allow 16-byte copies: the reduced extent `k`
/// (and, for a [K, N] weight, the columns `n`; empty otherwise) a multiple of 8, and
/// the operands `a` and `b` 16-byte aligned.
static std::string vectorCopies(const std::string &k, const std::string &n,
                                const std::string &a, const std::string &b) {
  return k + " % 8 == 0" + (n.empty() ? "" : " && " + n + " % 8 == 0") +
         " && ((reinterpret_cast<unsigned long long>(" + a +
         ") | reinterpret_cast<unsigned long long>(" + b + ")) & 15) == 0";
}

/// A 16-bit linear layer on tensor cores (mma.sync m16n8k16, f32 accumulation, sm_80
/// and up), laid out by the kernel's schedule: tile_m x tile_n outputs per block,
/// warps arranged 2 x warps/2, each owning a (tile_m/2) x (tile_n/(warps/2)) sub-tile
/// of 16x8 mma tiles. k-slices of tile_k are copied into (dynamic) shared memory with
/// 16-byte cp.async, `stages` slices in flight, rows padded by 8 elements so that
/// ldmatrix reads are free of bank conflicts; the weight is staged as [n][k] when it is
/// transposed ([N, K], k-contiguous) and as [k][n] otherwise (read with ldmatrix.trans).
/// When K (or N for a [K, N] weight) is not a multiple of 8 or a pointer is not
/// 16-byte aligned, the same tiles are filled by plain loads. Then the bias and the
/// epilogue per accumulator element.
bool KernelWriter::tensorCoreLinear(LinearOp op, const std::string &a,
                                    const std::string &b) {
  ElementEmitter &e = *emitter_;
  const KernelSchedule &s = schedule_;
  int64_t warpsN = s.warps / 2;
  if (s.warps < 2 || s.warps % 2 || s.tileK % 16 || s.tileM % 32 || s.tileN % warpsN ||
      (s.tileN / warpsN) % 16 || s.stages < 1)
    return refuse("unsupported tensor-core schedule (tile_m a multiple of 32, tile_k of "
                  "16, tile_n / (warps / 2) of 16, an even number of warps)");
  bool transposed = op.getTransposeWeight();
  int64_t wm = s.tileM / 2, wn = s.tileN / warpsN, mi = wm / 16, nj = wn / 8;
  int64_t ldA = s.tileK + 8, bRows = transposed ? s.tileN : s.tileK,
          ldB = transposed ? s.tileK + 8 : s.tileN + 8;
  int64_t aBytes = s.stages * s.tileM * ldA * 2;
  int64_t sharedBytes = aBytes + s.stages * bRows * ldB * 2;
  if (sharedBytes > 227 * 1024)
    return refuse("the schedule needs " + std::to_string(sharedBytes) +
                  " bytes of shared memory; no GPU has more than 227 KiB per block");
  Shape ls = shapeOf(op.getInput()), result = shapeOf(op.getResult());
  Type element = elementOf(op.getInput());
  std::string T = storageType(element), kind = element.isBF16() ? "bf16" : "f16";
  auto num = [](int64_t v) { return std::to_string(v); };
  info_.threads = static_cast<int>(s.warps * 32);
  info_.grid[0] = {work(ArrayRef<Dim>(result).take_back()), s.tileN, 0};
  info_.grid[1] = {work(ArrayRef<Dim>(ls).drop_back()), s.tileM, 0};
  e.line("const long long M = " + product(ArrayRef<Dim>(ls).drop_back()) +
         ", N = " + sizeExpr(result.back()) + ", K = " + sizeExpr(ls.back()) + ";");
  // The stages live in dynamic shared memory (more than the 48 KiB of static memory).
  info_.sharedBytes = sharedBytes;
  e.line("extern __shared__ __align__(16) unsigned char loom_shared[];");
  std::string aDims = "[" + num(s.tileM) + "][" + num(ldA) + "]",
              bDims = "[" + num(bRows) + "][" + num(ldB) + "]";
  e.line(T + " (*As)" + aDims + " = reinterpret_cast<" + T + " (*)" + aDims +
         ">(loom_shared);");
  e.line(T + " (*Bs)" + bDims + " = reinterpret_cast<" + T + " (*)" + bDims +
         ">(loom_shared + " + num(aBytes) + ");");
  e.line("const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;");
  e.line("const int group = lane / 4, pair = lane % 4;");
  e.line("const int wm = (warp % 2) * " + num(wm) + ", wn = (warp / 2) * " + num(wn) +
         ";");
  e.line("const long long m0 = blockIdx.y * " + num(s.tileM) + "LL, n0 = blockIdx.x * " +
         num(s.tileN) + "LL;");
  e.line("const bool vec = " + vectorCopies("K", transposed ? "" : "N", a, b) + ";");
  e.line("const " + T + " zero = " +
         (element.isBF16() ? "__float2bfloat16_rn(0.0f)" : "__float2half_rn(0.0f)") +
         ";");
  // On sm_90a, 128x128 tiles of a [N, K] weight run on warpgroup multiplies instead.
  bool fast = true;
  if (transposed && s.tileM == 128 && s.tileN == 128 && s.warps == 8) {
    fast = warpgroupLinear(op, a, b);
    info_.sharedBytes = std::max(info_.sharedBytes, kWarpgroupSharedBytes);
  }
  e.line("float acc[" + num(mi) + "][" + num(nj) + "][4] = {};");
  e.line("const int tiles = (int)((K + " + num(s.tileK - 1) + ") / " + num(s.tileK) +
         ");");
  // Copies k-slice `tile` into stage `stage`: 8 elements per copy, rows of `cols`.
  // The 16-byte copies each thread issues per k-slice are the same chunks of its rows
  // every slice: their addresses are set up once, and a slice adds its k offset.
  int64_t threads = s.warps * 32;
  auto plan = [&](const std::string &id, const std::string &source, int64_t rows,
                  int64_t cols, bool kAlongColumns) {
    int64_t chunks = rows * cols / 8, per = (chunks + threads - 1) / threads;
    std::string n = num(per), across = num(cols / 8);
    e.line("const " + T + " *" + id + "From[" + n + "]; int " + id + "K[" + n + "], " +
           id + "Dst[" + n + "]; bool " + id + "Ok[" + n + "];");
    e.line("#pragma unroll");
    e.open("for (int x = 0; x < " + n + "; ++x)");
    e.line("const int t = threadIdx.x + x * " + num(threads) + ", r = t / " + across +
           ", c = (t % " + across + ") * 8;");
    // A thread past the last chunk copies nothing (Dst -1).
    e.line(id + "Dst[x] = t < " + num(chunks) + " ? r * " + num(cols + 8) + " + c : -1;");
    if (kAlongColumns) {
      // Rows are m (or n of a transposed weight), fixed; k runs along the columns.
      std::string base = id == "a" ? "m0" : "n0", limit = id == "a" ? "M" : "N";
      e.line(id + "Ok[x] = t < " + num(chunks) + " && " + base + " + r < " + limit + ";");
      e.line(id + "From[x] = " + source + " + (" + id + "Ok[x] ? (" + base +
             " + r) * K : 0) + c;");
      e.line(id + "K[x] = c;");
    } else {
      // A [K, N] weight: rows are k, the columns n are fixed.
      e.line(id + "Ok[x] = t < " + num(chunks) + " && n0 + c < N;");
      e.line(id + "From[x] = " + source + " + (" + id + "Ok[x] ? n0 + c : 0);");
      e.line(id + "K[x] = r;");
    }
    e.close();
    return per;
  };
  int64_t aPer = plan("a", a, s.tileM, s.tileK, true);
  int64_t bPer = transposed ? plan("b", b, s.tileN, s.tileK, true)
                            : plan("b", b, s.tileK, s.tileN, false);
  // Shared memory as 32-bit addresses: each stage's base, and this thread's fragment
  // offsets, computed once; a fragment load adds constants to them.
  int64_t aStageBytes = s.tileM * ldA * 2, bStageBytes = bRows * ldB * 2;
  e.line("const unsigned aSmem = loom_smem(As), bSmem = loom_smem(Bs);");
  e.line("const unsigned aFrag = aSmem + ((wm + lane % 16) * " + num(ldA) +
         " + (lane / 16) * 8) * 2;");
  if (transposed)
    e.line("const unsigned bFrag = bSmem + ((wn + lane % 8 + (lane / 16) * 8) * " +
           num(ldB) + " + ((lane / 8) & 1) * 8) * 2;");
  else
    e.line("const unsigned bFrag = bSmem + ((lane % 8 + ((lane / 8) & 1) * 8) * " +
           num(ldB) + " + wn + (lane / 16) * 8) * 2;");
  auto fastCopy = [&](const std::string &id, const std::string &array, int64_t per,
                      bool kAlongColumns) {
    e.line("#pragma unroll");
    e.open("for (int x = 0; x < " + num(per) + "; ++x)");
    e.line("const bool in = " + id + "Ok[x] && k0 + " + id + "K[x] < K;");
    std::string step = kAlongColumns ? "k0" : "(k0 + " + id + "K[x]) * N";
    e.open("if (" + id + "Dst[x] >= 0)");
    e.line("loom_cp_async16_at(" + id + "Smem + stage * " +
           num(id == "a" ? aStageBytes : bStageBytes) + "u + " + id + "Dst[x] * 2u, " +
           id + "From[x] + (in ? " + step + " : 0), in ? 16 : 0);");
    e.close();
    e.close();
  };
  // Element by element, for shapes or pointers 16-byte copies cannot take.
  auto slowCopy = [&](const std::string &array, const std::string &source, int64_t rows,
                      int64_t cols, const std::string &rowBase,
                      const std::string &rowLimit, const std::string &colBase,
                      const std::string &colLimit, const std::string &offset) {
    std::string chunks = num(cols / 8);
    e.open("for (int t = threadIdx.x; t < " + num(rows * cols / 8) +
           "; t += " + num(threads) + ")");
    e.line("const int r = t / " + chunks + ", c = (t % " + chunks + ") * 8;");
    e.line("const long long row = " + rowBase + " + r, col = " + colBase + " + c;");
    e.open("for (int x = 0; x < 8; ++x)");
    e.line(array + "[stage][r][c + x] = row < " + rowLimit + " && col + x < " + colLimit +
           " ? " + source + "[" + offset + " + x] : zero;");
    e.close();
    e.close();
  };
  auto load = [&](const std::string &tile) {
    e.open("");
    e.line("const int stage = (" + tile + ") % " + num(s.stages) + ";");
    e.line("const long long k0 = (long long)(" + tile + ") * " + num(s.tileK) + ";");
    e.open("if (vec)");
    fastCopy("a", "As", aPer, true);
    fastCopy("b", "Bs", bPer, transposed);
    e.close();
    e.open("else");
    slowCopy("As", a, s.tileM, s.tileK, "m0", "M", "k0", "K", "row * K + col");
    if (transposed)
      slowCopy("Bs", b, s.tileN, s.tileK, "n0", "N", "k0", "K", "row * K + col");
    else
      slowCopy("Bs", b, s.tileK, s.tileN, "k0", "K", "n0", "N", "row * N + col");
    e.close();
    e.close();
  };
  // Prologue: the first stages-1 slices in flight.
  e.open("for (int p = 0; p < " + num(s.stages - 1) + "; ++p)");
  e.open("if (p < tiles)");
  load("p");
  e.close();
  e.line("loom_cp_async_commit();");
  e.close();
  // With two or more stages, one barrier per slice: once slice `tile` has landed and
  // every warp has passed the barrier (so is done with slice tile-1), the next copy goes
  // into the stage slice tile-1 used. With one stage, copy, wait and a barrier on
  // each side of the multiply.
  bool pipelined = s.stages >= 2;
  e.open("for (int tile = 0; tile < tiles; ++tile)");
  auto issueNext = [&] {
    e.open("if (tile + " + num(s.stages - 1) + " < tiles)");
    load("tile + " + num(s.stages - 1));
    e.close();
    e.line("loom_cp_async_commit();");
  };
  if (pipelined) {
    e.line("loom_cp_async_wait<" + num(s.stages - 2) + ">();");
    e.line("__syncthreads();");
    issueNext();
  } else {
    issueNext();
    e.line("loom_cp_async_wait<0>();");
    e.line("__syncthreads();");
  }
  e.line("const int stage = tile % " + num(s.stages) + ";");
  e.line("#pragma unroll");
  e.open("for (int kk = 0; kk < " + num(s.tileK) + "; kk += 16)");
  e.line("unsigned af[" + num(mi) + "][4], bf[" + num(nj) + "][2];");
  e.line("#pragma unroll");
  e.open("for (int i = 0; i < " + num(mi) + "; ++i)");
  e.line("loom_ldmatrix_x4_at(af[i], aFrag + stage * " + num(aStageBytes) +
         "u + (i * 16 * " + num(ldA) + " + kk) * 2);");
  e.close();
  e.line("#pragma unroll");
  e.open("for (int j = 0; j < " + num(nj) + "; j += 2)");
  e.line("unsigned r[4];");
  if (transposed)
    e.line("loom_ldmatrix_x4_at(r, bFrag + stage * " + num(bStageBytes) +
           "u + (j * 8 * " + num(ldB) + " + kk) * 2);");
  else
    e.line("loom_ldmatrix_x4_trans_at(r, bFrag + stage * " + num(bStageBytes) +
           "u + (kk * " + num(ldB) + " + j * 8) * 2);");
  e.line("bf[j][0] = r[0]; bf[j][1] = r[1]; bf[j + 1][0] = r[2]; bf[j + 1][1] = r[3];");
  e.close();
  e.line("#pragma unroll");
  e.open("for (int i = 0; i < " + num(mi) + "; ++i)");
  e.line("#pragma unroll");
  e.open("for (int j = 0; j < " + num(nj) + "; ++j)");
  e.line("loom_mma_" + kind + "(acc[i][j], af[i], bf[j]);");
  e.close();
  e.close();
  e.close();
  if (!pipelined)
    e.line("__syncthreads();");
  e.close();
  // Accumulator element q of tile (i, j): row group (+8 for q >= 2), column pair*2 (+1
  // for odd q).
  // Unrolled, so that the accumulators are indexed by constants and stay in registers
  // (a loop indexing them at run time would move them all to local memory).
  e.line("#pragma unroll");
  e.open("for (int i = 0; i < " + num(mi) + "; ++i)");
  e.line("#pragma unroll");
  e.open("for (int j = 0; j < " + num(nj) + "; ++j)");
  e.line("#pragma unroll");
  e.open("for (int q = 0; q < 4; ++q)");
  e.line("const long long m = m0 + wm + i * 16 + group + (q >= 2 ? 8 : 0);");
  e.line("const long long n = n0 + wn + j * 8 + pair * 2 + (q & 1);");
  bool stored = storeLinear(op, "acc[i][j][q]");
  e.close();
  e.close();
  e.close();
  return stored && fast;
}

/// The sm_90a path of a 128x128 tile of a 16-bit linear layer with a [N, K] weight,
/// compiled only for GPUs with warpgroup multiplies (the mma.sync kernel follows it for
/// the others, and for shapes or pointers 16-byte copies cannot take): k-slices of 64
/// (one 128-byte row per tile row) are copied with cp.async into shared memory in the
/// 128-byte swizzled layout wgmma reads (16-byte chunk c of row r at chunk c ^ (r % 8)),
/// kWarpgroupStages slices in flight; each of the two warpgroups multiplies its 64 rows
/// of A by the 128 columns of B with four m64n128k16 wgmmas per slice (waiting for
/// them before the next slice), accumulating in 64 registers per thread (the mma.sync
/// C layout: warp w of the warpgroup holds rows 16w .. 16w+15, element 4j + q at row
/// group + 8 (q >= 2), column 8j + 2 pair + (q & 1)).
bool KernelWriter::warpgroupLinear(LinearOp op, const std::string &a,
                                   const std::string &b) {
  ElementEmitter &e = *emitter_;
  std::string kind = elementOf(op.getInput()).isBF16() ? "bf16" : "f16",
              T = storageType(elementOf(op.getInput()));
  auto num = [](int64_t v) { return std::to_string(v); };
  int64_t ahead = kWarpgroupStages - 1;
  std::string stages = num(kWarpgroupStages);
  e.line("#if defined(__CUDA_ARCH_FEAT_SM90_ALL)");
  e.open("if (vec)");
  e.line("const unsigned tilesAt = (loom_smem(loom_shared) + 1023u) & ~1023u;");
  e.line("const int wg = threadIdx.x / 128, wl = (threadIdx.x % 128) / 32;");
  e.line("float d[64];");
  e.line("#pragma unroll");
  e.line("for (int i = 0; i < 64; ++i) d[i] = 0.f;");
  e.line("const int slices = (int)((K + 63) / 64);");
  // Each thread copies the same four 16-byte chunks of A's and of B's rows per slice.
  e.line("const " + T + " *aAt[4], *bAt[4];");
  e.line("unsigned to[4]; int kAt[4]; bool aIn[4], bIn[4];");
  e.line("#pragma unroll");
  e.open("for (int x = 0; x < 4; ++x)");
  e.line("const int chunk = threadIdx.x + x * 256, r = chunk / 8, c = chunk % 8;");
  e.line("to[x] = r * 128 + ((c ^ (r & 7)) << 4);");
  e.line("kAt[x] = c * 8;");
  e.line("aIn[x] = m0 + r < M;");
  e.line("aAt[x] = " + a + " + (aIn[x] ? (m0 + r) * K : 0) + c * 8;");
  if (gate_) {
    // A gated pair's tile takes the same 64 columns of both halves (tile row r < 64
    // of the first, r >= 64 of the second), so a thread holds both of a pair.
    std::string H = std::to_string(gate_->half) + "LL";
    e.line("const long long column = n0 / 2 + r % 64;");
    e.line("bIn[x] = column < " + H + ";");
    e.line("bAt[x] = " + b + " + (bIn[x] ? (r < 64 ? column : " + H +
           " + column) * K : 0) + c * 8;");
  } else {
    e.line("bIn[x] = n0 + r < N;");
    e.line("bAt[x] = " + b + " + (bIn[x] ? (n0 + r) * K : 0) + c * 8;");
  }
  e.close();
  auto load = [&](const std::string &slice) {
    e.open("");
    e.line("const long long k0 = (long long)(" + slice + ") * 64;");
    e.line("const unsigned at = tilesAt + ((" + slice + ") % " + stages + ") * 32768u;");
    e.line("#pragma unroll");
    e.open("for (int x = 0; x < 4; ++x)");
    e.line("const bool ak = aIn[x] && k0 + kAt[x] < K, bk = bIn[x] && k0 + kAt[x] < K;");
    e.line("loom_cp_async16_at(at + to[x], aAt[x] + (ak ? k0 : 0), ak ? 16 : 0);");
    e.line(
        "loom_cp_async16_at(at + 16384u + to[x], bAt[x] + (bk ? k0 : 0), bk ? 16 : 0);");
    e.close();
    e.close();
  };
  e.open("for (int p = 0; p < " + num(ahead) + "; ++p)");
  e.open("if (p < slices)");
  load("p");
  e.close();
  e.line("loom_cp_async_commit();");
  e.close();
  e.open("for (int slice = 0; slice < slices; ++slice)");
  // Slice `slice` has landed once at most ahead-1 later copies are pending; past the
  // barrier every warpgroup is done with the previous slice, whose stage the next
  // copy reuses.
  e.line("loom_cp_async_wait<" + num(ahead - 1) + ">();");
  e.line("loom_fence_proxy_async();");
  e.line("__syncthreads();");
  e.open("if (slice + " + num(ahead) + " < slices)");
  load("slice + " + num(ahead));
  e.close();
  e.line("loom_cp_async_commit();");
  e.line("const unsigned at = tilesAt + (slice % " + stages + ") * 32768u;");
  e.line("loom_wgmma_fence();");
  e.line("#pragma unroll");
  e.open("for (int kk = 0; kk < 4; ++kk)");
  e.line("loom_wgmma_m64n128_" + kind +
         "(d, loom_wgmma_desc(at + wg * 8192u + kk * 32u), loom_wgmma_desc(at + 16384u + "
         "kk * 32u));");
  e.close();
  e.line("loom_wgmma_commit();");
  e.line("loom_wgmma_wait<0>();");
  e.line("loom_wgmma_hold(d);");
  e.close();
  bool stored;
  e.line("#pragma unroll");
  e.open("for (int j = 0; j < " + std::string(gate_ ? "8" : "16") + "; ++j)");
  e.line("#pragma unroll");
  e.open("for (int q = 0; q < 4; ++q)");
  e.line("const long long m = m0 + wg * 64 + wl * 16 + group + (q >= 2 ? 8 : 0);");
  if (gate_) {
    // Column n of the first half is accumulator j, of the second j + 8.
    std::string H = std::to_string(gate_->half) + "LL";
    e.line("const long long n = n0 / 2 + j * 8 + pair * 2 + (q & 1);");
    e.open("if (m < M && n < " + H + ")");
    Index index = e.delinearize("m", ArrayRef<Dim>(shapeOf(op.getResult())).drop_back());
    index.push_back("n");
    std::string low = "d[j * 4 + q]", high = "d[(j + 8) * 4 + q]";
    if (Value bias = op.getBias()) {
      low += " + " + e.at(bias, {"n"});
      high += " + " + e.at(bias, {"(n + " + H + ")"});
    }
    e.line("const float low = " + low + ", high = " + high + ";");
    stored = storeGated(index, "low", "high");
    e.close();
    // The kernel's `vec`, which this path runs under, spelled without its names.
    gate_->pairedWhen =
        vectorCopies("(" + sizeExpr(shapeOf(op.getInput()).back()) + ")", "", a, b);
  } else {
    e.line("const long long n = n0 + j * 8 + pair * 2 + (q & 1);");
    stored = storeLinear(op, "d[j * 4 + q]");
  }
  e.close();
  e.close();
  e.line("return;");
  e.close();
  e.line("#endif");
  return stored;
}

} // namespace loom::cuda
