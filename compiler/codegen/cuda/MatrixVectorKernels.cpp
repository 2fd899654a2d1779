//===- MatrixVectorKernels.cpp - Linear layers at a few rows --------------===//
//
// The `_rows1` and `_rows8` variants of a 16-bit linear layer for decode steps: reading
// the weights is all the work, so they are written to stream them at the memory
// bandwidth, with an RMS norm prologue folded into the products when there is one.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/KernelWriter.h"

#include "llvm/Support/Format.h"

#include <algorithm>

using namespace mlir;

namespace loom::cuda {

/// Rows at most this many take the matrix-vector variant of a linear layer.
constexpr int64_t kFewRows = 8;
/// Warps that share one weight row in the matrix-vector variant: the most (up to 8)
/// that leave each lane at least kFewRowsLaneElements[phase] elements of the row. In
/// batch-1 decode of the 1.1B Llama on the H100 (a CUDA graph of programmatic
/// launches): with one phase for 1 to 8 rows, 2 warps per 2048-element row and 4 per
/// 5632-element row (4 and 6 loads of 16 bytes per lane) were 12% faster than 4 warps
/// for both; 1 or 2 warps for the longer row, or 8, were slower, and so were blocks of 4
/// or 16 warps. With the one-row phase (fewer registers), 8 warps per 5632-element row
/// (2.75 loads per lane) were 3% faster than 4 and 2 warps per 2048-element row stayed
/// best (1 or 4 slower); so one row allows 20 elements per lane, 2 to 8 rows want 32.
constexpr int64_t kFewRowsMaxWarps = 8;
constexpr int64_t kFewRowsLaneElements[2] = {20, 32};
/// 16-byte weight chunks each lane holds in registers at once: all of a row's share
/// when it has at most this many, else the row is taken in rounds of this many.
constexpr int64_t kFewRowsChunks = 16;
/// Blocks per SM of the one-row phase of a layer whose results paged attention reads
/// (the Q/K/V projection): the one-token attention's blocks copy the cached keys and
/// values before they wait for it, so they must start while it runs, and a
/// 256-thread block of about 64 registers beside four of the layer's would not fit the
/// register file. Batch-1 decode of the 1.1B Llama on an H100: 3 per SM (396 blocks
/// looping over 640 row groups) was 3% faster than 640 blocks; with the split-KV
/// attention (lighter copies) the cap was 1.7% slower.
constexpr int64_t kBesideAttentionPerSm = 3;

/// The one-row phase of a layer that reads paged attention's result (the output
/// projection) loads its first round of weights into registers before it waits:
/// attention is a chain of latencies that leaves DRAM idle, and the layer's blocks (one
/// wave) are resident while it runs, so after the wait only the input, the products
/// and the sums remain. Batch-1 decode of the 1.1B Llama on an H100: +3.8% (969/970 vs
/// 937/930 tokens/s; 32 -> 64 registers, 512 blocks). The same in every one-row phase
/// was 2.6% slower (more registers, fewer blocks per SM, for layers of several waves).
static bool readsPagedAttention(KernelOp kernel) {
  for (Value input : kernel.getInputs())
    if (auto writer = input.getDefiningOp<KernelOp>())
      if (llvm::isa_and_nonnull<PagedAttentionOp>(writer.getAnchor()))
        return true;
  return false;
}

/// Whether paged attention reads one of `kernel`'s results.
static bool feedsPagedAttention(KernelOp kernel) {
  for (Value result : kernel.getResults())
    for (Operation *user : result.getUsers())
      if (auto reader = llvm::dyn_cast<KernelOp>(user))
        if (llvm::isa_and_nonnull<PagedAttentionOp>(reader.getAnchor()))
          return true;
  return false;
}

/// A variant of a 16-bit linear layer for decode steps (at most kFewRows rows, named
/// by one dimension): reading the weights is all the work, so W warps share each weight
/// row ([N, K] layout), every lane issuing all its 16-byte loads of the row (interleaved
/// 512 bytes per warp) before any arithmetic, then one dot product per input row; a
/// block of 8 warps takes 8 / W weight rows and adds its warps' partial sums in shared
/// memory. The input rows (a few KiB) are read through the L1 cache. The tiled kernel
/// keeps the larger row counts (guards on the row dimension).
bool KernelWriter::fewRowsLinear(LinearOp op, const std::string &a,
                                 const std::string &b) {
  Shape ls = shapeOf(op.getInput()), result = shapeOf(op.getResult());
  std::optional<std::string> rowName = ls.size() == 2 ? guardName(ls[0]) : std::nullopt;
  if (!op.getTransposeWeight() || !rowName || !ls[1].isStatic() || ls[1].size % 8)
    return true; // no variant; the tiled kernel runs for every row count
  int64_t k = ls[1].size;
  info_.guard = {*rowName, kFewRows + 1, 0};
  // A phase for one input row (batch-1 decode: one accumulator per thread, so more
  // blocks fit an SM) and one for 2 to kFewRows.
  int64_t least = 0;
  const int64_t mosts[2] = {1, kFewRows};
  for (int index = 0; index < 2; ++index) {
    int64_t most = mosts[index];
    int64_t warpsPerRow = kFewRowsMaxWarps;
    while (warpsPerRow > 1 && k < warpsPerRow * 32 * kFewRowsLaneElements[index])
      warpsPerRow /= 2;
    if (gate_ && warpsPerRow == 8)
      warpsPerRow = 4; // a gated pair's block takes its rows in pairs
    EmittedKernel::Phase phase;
    phase.name = name_ + "_rows" + std::to_string(most);
    phase.threads = 256;
    phase.grid[0] = {work(ArrayRef<Dim>(result).take_back()), 8 / warpsPerRow, 65535};
    if (most == 1 && feedsPagedAttention(kernel_))
      phase.grid[0].perSm = kBesideAttentionPerSm;
    bool preload = most == 1 && readsPagedAttention(kernel_);
    phase.guard = {*rowName, least, most};
    phase.waitsInside = true;
    phase.early = true;
    least = most + 1;
    if (!writePhase(phase,
                    [&] { return fewRowsBody(op, a, b, most, warpsPerRow, preload); }))
      return false;
  }
  return true;
}

/// The body of a fewRowsLinear phase for at most `most` input rows, `warpsPerRow`
/// warps sharing each weight row; with `preload`, the block's first round of weights
/// is in registers before the wait (see readsPagedAttention).
bool KernelWriter::fewRowsBody(LinearOp op, const std::string &a, const std::string &b,
                               int64_t most, int64_t warpsPerRow, bool preload) {
  Shape ls = shapeOf(op.getInput()), result = shapeOf(op.getResult());
  int64_t rowsPerBlock = 8 / warpsPerRow, stride = warpsPerRow * 256;
  int64_t chunks = std::min<int64_t>((ls[1].size + stride - 1) / stride, kFewRowsChunks);
  ElementEmitter &e = *emitter_;
  Type element = elementOf(op.getInput());
  std::string T = storageType(element), R = std::to_string(most),
              W = std::to_string(warpsPerRow), rows = std::to_string(rowsPerBlock),
              C = std::to_string(chunks), S = std::to_string(stride);
  std::string pair = element.isBF16() ? "__nv_bfloat162" : "__half2",
              widen = element.isBF16() ? "__bfloat1622float2" : "__half22float2";
  e.line("const long long M = " + sizeExpr(ls[0]) + ", N = " + sizeExpr(result.back()) +
         ", K = " + sizeExpr(ls.back()) + ";");
  e.line("const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;");
  e.line("const int part = warp % " + W + ", local = warp / " + W + ";");
  // The weight row that local row `r` of the block at row group `n0` takes, and
  // whether there is one. A gated pair's block takes half its rows from each half of
  // the weight, the same columns of both: row group n0 covers columns n0 / 2 to
  // n0 / 2 + rows / 2 of each half.
  std::string H = gate_ ? std::to_string(gate_->half) + "LL" : "",
              half = std::to_string(rowsPerBlock / 2);
  auto rowOf = [&](const std::string &n0, const std::string &r) {
    if (!gate_)
      return n0 + " + " + r;
    return "(" + r + " < " + half + " ? " + n0 + " / 2 + " + r + " : " + H + " + " + n0 +
           " / 2 + " + r + " - " + half + ")";
  };
  auto hasRow = [&](const std::string &n0, const std::string &r) {
    if (!gate_)
      return n0 + " + " + r + " < N";
    return n0 + " / 2 + " + r + " % " + half + " < " + H;
  };
  // The weights are no earlier kernel's output: the block's first rows start coming
  // into L2 while the kernels before it finish. Its `count` rows from `first`, of
  // the rows before `end` (in a gated pair, each half's).
  auto prefetch = [&](const std::string &first, const std::string &count,
                      const std::string &end) {
    e.open("");
    e.line("const long long first = " + first + ";");
    e.line("const long long bytes = loom_min(" + count + "LL, " + end +
           " - first) * K * sizeof(" + T + ");");
    e.line("const char *from = reinterpret_cast<const char *>(" + b + " + first * K);");
    e.line("for (long long x = threadIdx.x * 128LL; x < bytes; x += 256 * 128LL) "
           "loom_prefetch_l2(from + x);");
    e.close();
  };
  if (gate_) {
    for (std::string start : {"0LL", "N / 2"})
      prefetch(start + " + blockIdx.x * " + half + "LL", half, start + " + " + H);
  } else {
    prefetch("blockIdx.x * " + rows + "LL", rows, "N");
  }
  if (preload) {
    e.line("uint4 pre[" + C + "];");
    e.open("");
    e.line("const long long n = " + rowOf("blockIdx.x * " + rows + "LL", "local") + ";");
    e.line("const bool has = " + hasRow("blockIdx.x * " + rows + "LL", "local") + ";");
    e.line("#pragma unroll");
    e.open("for (int c = 0; c < " + C + "; ++c)");
    e.line("const long long k = c * " + S + "LL + (part * 32 + lane) * 8;");
    e.line("pre[c] = has && k < K ? __ldg(reinterpret_cast<const uint4 *>(" + b +
           " + n * K + k)) : make_uint4(0, 0, 0, 0);");
    e.close();
    e.close();
  }
  e.line("loom_wait_prior();");
  // An RMS norm prologue, with no pass of its own: rms_norm(x) . w is
  // x . (w * scale) / rms(x), so the products read the norm's input and scaled
  // weights, each lane adds up the squares of the inputs it reads, and the row's sum
  // is divided by the rms once the row's parts are added (the parts of a row read
  // each input once).
  std::string x = a, scale, eps;
  auto norm = op.getInput().getDefiningOp<RmsNormOp>();
  if (norm) {
    x = parameter(norm.getInput());
    scale = parameter(norm.getScale());
    llvm::raw_string_ostream(eps)
        << llvm::format("%.9e", static_cast<double>(norm.getEpsilon().convertToFloat()));
  }
  if (warpsPerRow > 1)
    e.line("__shared__ float partial[8][" + R + "]" +
           (norm ? ", squared[8][" + R + "]" : std::string()) + ";");
  if (gate_)
    e.line("__shared__ float paired[" + rows + "][" + R + "];");
  // Lane `lane` of part `part` takes elements (c * W + part) * 256 + lane * 8 of a
  // round; every load of a round is in flight before the first product.
  auto loads = [&] {
    e.line("uint4 wv[" + C + "];");
    e.line("#pragma unroll");
    e.open("for (int c = 0; c < " + C + "; ++c)");
    e.line("const long long k = k0 + c * " + S + "LL + (part * 32 + lane) * 8;");
    std::string load =
        "k < K ? __ldg(reinterpret_cast<const uint4 *>(w + k)) : make_uint4(0, 0, 0, 0)";
    if (preload)
      e.line("wv[c] = n0 == blockIdx.x * " + rows + "LL && k0 == 0 ? pre[c] : (" + load +
             ");");
    else
      e.line("wv[c] = " + load + ";");
    if (norm) {
      // The norm's scale goes into the weights (rounded to their type, as the norm's
      // output would be), once per load rather than per input row.
      e.line("const uint4 sv = k < K ? __ldg(reinterpret_cast<const uint4 *>(" + scale +
             " + k)) : make_uint4(0, 0, 0, 0);");
      e.line(pair + " *wp = reinterpret_cast<" + pair + " *>(&wv[c]);");
      e.line("const " + pair + " *sp = reinterpret_cast<const " + pair + " *>(&sv);");
      e.line("#pragma unroll");
      e.line("for (int j = 0; j < 4; ++j) wp[j] = __hmul2(wp[j], sp[j]);");
    }
    e.close();
  };
  auto products = [&] {
    e.line("#pragma unroll");
    e.open("for (int m = 0; m < " + R + "; ++m)");
    e.line("if (m >= M) break;");
    e.line("#pragma unroll");
    e.open("for (int c = 0; c < " + C + "; ++c)");
    e.line("const long long k = k0 + c * " + S + "LL + (part * 32 + lane) * 8;");
    e.line("if (k >= K) break;");
    e.line("const uint4 xv = *reinterpret_cast<const uint4 *>(" + x + " + m * K + k);");
    e.line("const " + pair + " *wp = reinterpret_cast<const " + pair + " *>(&wv[c]);");
    e.line("const " + pair + " *xp = reinterpret_cast<const " + pair + " *>(&xv);");
    e.line("#pragma unroll");
    e.open("for (int j = 0; j < 4; ++j)");
    e.line("const float2 wf = " + widen + "(wp[j]), xf = " + widen + "(xp[j]);");
    e.line("acc[m] += xf.x * wf.x + xf.y * wf.y;");
    if (norm)
      e.line("squares[m] += xf.x * xf.x + xf.y * xf.y;");
    e.close();
    e.close();
    e.close();
  };
  // The loop bound is the block's first row, so every warp takes every iteration.
  e.open("for (long long n0 = blockIdx.x * " + rows + "LL; n0 < N; n0 += gridDim.x * " +
         rows + "LL)");
  e.line("const long long n = " + rowOf("n0", "local") + ";");
  e.line("const bool has = " + hasRow("n0", "local") + ";");
  e.line("float acc[" + R + "];");
  if (norm)
    e.line("float squares[" + R + "];");
  e.line("#pragma unroll");
  e.line("for (int m = 0; m < " + R + "; ++m) acc[m] = 0.0f;");
  if (norm) {
    e.line("#pragma unroll");
    e.line("for (int m = 0; m < " + R + "; ++m) squares[m] = 0.0f;");
  }
  e.open("if (has)");
  e.line("const " + T + " *w = " + b + " + n * K;");
  e.open("for (long long k0 = 0; k0 < K; k0 += " + C + " * " + S + "LL)");
  loads();
  products();
  e.close();
  e.close();
  e.line("#pragma unroll");
  e.open("for (int m = 0; m < " + R + "; ++m)");
  e.line("if (m >= M) break;");
  e.line(
      "for (int o = 16; o > 0; o >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], "
      "o);");
  if (norm)
    e.line("for (int o = 16; o > 0; o >>= 1) squares[m] += __shfl_xor_sync(0xffffffffu, "
           "squares[m], o);");
  e.close();
  // The row's sum: lane 0 of its only warp, or its W warps' partials added by one
  // thread per (row, input row).
  auto store = [&](const std::string &m, const std::string &r, const std::string &row,
                   const std::string &sum, const std::string &squares) {
    std::string value = sum;
    if (norm)
      value += " * rsqrtf(" + squares + " / (float)K + " + eps + "f)";
    if (Value bias = op.getBias())
      value += " + " + e.at(bias, {row});
    e.line("const float y = " + value + ";");
    if (gate_) {
      e.line("paired[" + r + "][" + m + "] = y;");
      return true;
    }
    return storeOutputs(op.getResult(), {"(long long)" + m, row}, "y");
  };
  bool stored;
  if (warpsPerRow == 1) {
    e.open("if (lane == 0 && has)");
    e.line("#pragma unroll");
    e.open("for (int m = 0; m < " + R + "; ++m)");
    e.line("if (m >= M) break;");
    stored = store("m", "local", "n", "acc[m]", "squares[m]");
    e.close();
    e.close();
  } else {
    e.open("if (lane == 0)");
    e.line("#pragma unroll");
    e.line("for (int m = 0; m < " + R + "; ++m) partial[warp][m] = acc[m];");
    if (norm) {
      e.line("#pragma unroll");
      e.line("for (int m = 0; m < " + R + "; ++m) squared[warp][m] = squares[m];");
    }
    e.close();
    e.line("__syncthreads();");
    e.open("if (threadIdx.x < " + rows + " * " + R + ")");
    e.line("const int r = threadIdx.x / " + R + ", m = threadIdx.x % " + R + ";");
    e.line("const long long row = " + rowOf("n0", "r") + ";");
    e.open("if (" + hasRow("n0", "r") + " && m < M)");
    e.line(norm ? "float sum = 0.0f, sumSquares = 0.0f;" : "float sum = 0.0f;");
    e.line("#pragma unroll");
    e.open("for (int p = 0; p < " + W + "; ++p)");
    e.line("sum += partial[r * " + W + " + p][m];");
    if (norm)
      e.line("sumSquares += squared[r * " + W + " + p][m];");
    e.close();
    stored = store("m", "r", "row", "sum", "sumSquares");
    e.close();
    e.close();
    e.line("__syncthreads();");
  }
  if (gate_ && stored) {
    // The pairs: one thread per (column, input row) applies the epilogue to the sums
    // of the column in both halves.
    if (warpsPerRow == 1)
      e.line("__syncthreads();");
    e.open("if (threadIdx.x < " + half + " * " + R + ")");
    e.line("const int j = threadIdx.x / " + R + ", m = threadIdx.x % " + R + ";");
    e.line("const long long p = n0 / 2 + j;");
    e.open("if (p < " + H + " && m < M)");
    e.line("const float low = paired[j][m], high = paired[j + " + half + "][m];");
    stored = storeGated({"(long long)m", "p"}, "low", "high");
    e.close();
    e.close();
    e.line("__syncthreads();");
  }
  e.close();
  return stored;
}

} // namespace loom::cuda
