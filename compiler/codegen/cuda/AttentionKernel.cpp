//===- AttentionKernel.cpp - Flash-style attention kernels ----------------===//
//
// Online softmax over K/V tiles in shared memory, GQA by head index, causal, mask,
// softcap; the prologue computed as Q, K and V load.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/KernelWriter.h"

#include "llvm/Support/Format.h"

#include <cmath>

using namespace mlir;

namespace loom::cuda {

/// Keys past this bound are never needed by the block's queries: the causal diagonal of
/// its last query, or all keys.
std::string KernelWriter::kvEnd(AttentionOp op, const std::string &tileQ,
                                const std::string &queryTile) {
  if (!op.getCausal())
    return "Skv";
  return "loom_min(Skv, loom_max(0LL, (" + queryTile + " + 1LL) * " + tileQ +
         " + Skv - Sq))";
}

double softmaxScale(std::optional<APFloat> scale, int64_t headSize) {
  return scale ? scale->convertToDouble()
               : 1.0 / std::sqrt(static_cast<double>(headSize));
}

/// Applies the softcap to the scaled score `score` of query `row` and key `col` and adds
/// the mask.
void KernelWriter::adjustScore(AttentionOp op, const std::string &score,
                               const std::string &row, const std::string &col,
                               const std::string &type) {
  ElementEmitter &e = *emitter_;
  if (std::optional<APFloat> cap = op.getSoftcap())
    e.line(score + " = " + floatLiteral(cap->convertToDouble(), type) + " * tanh(" + score +
           " / " + floatLiteral(cap->convertToDouble(), type) + ");");
  if (Value mask = op.getMask()) {
    Shape ms = shapeOf(mask);
    Index full = {"b", "h", row, col}, index;
    for (size_t x = 0; x < ms.size(); ++x)
      index.push_back(ms[x].isOne() ? "0LL" : full[4 - ms.size() + x]);
    e.line(score + " += " + e.at(mask, index) + ";");
  }
}

/// Flash-style attention without tensor cores yet: a block of 64 threads per (query
/// tile, head, batch), one query per thread with its row of Q and its output row in
/// registers; K and V pass through shared memory 32 keys at a time and the softmax is
/// computed online (running maximum and sum), so no [Sq, Skv] matrix exists. Query
/// head h reads KV head h / (Hq / Hkv). The prologue (rope, layout) is computed as Q,
/// K and V are loaded; the epilogue as the output row is stored.
bool KernelWriter::attention() {
  ElementEmitter &e = *emitter_;
  auto op = llvm::cast<AttentionOp>(kernel_.getAnchor());
  Shape q = shapeOf(op.getQuery()), k = shapeOf(op.getKey()), v = shapeOf(op.getValue());
  if (!q[3].isStatic() || !v[3].isStatic())
    return refuse("attention head dimensions must be static");
  int64_t d = q[3].size, dv = v[3].size;
  Type element = elementOf(op.getQuery());
  std::string type = computeType(element);
  if (schedule_.tensorCores)
    return tensorCoreAttention(op);
  if (schedule_.tileQ != schedule_.warps * 32)
    return refuse("SIMT attention runs one query per thread: tile_q must be warps * 32");
  std::string tileQ = std::to_string(schedule_.tileQ),
              tileKv = std::to_string(schedule_.tileKv);
  info_.grid[0] = {work(ArrayRef<Dim>(q).slice(2, 1)), schedule_.tileQ, 0};
  info_.grid[1] = {work(ArrayRef<Dim>(q).slice(1, 1)), 1, 0};
  info_.grid[2] = {work(ArrayRef<Dim>(q).take_front()), 1, 0};
  e.line("const long long Sq = " + sizeExpr(q[2]) + ", Skv = " + sizeExpr(k[2]) +
         ", H = " + sizeExpr(q[1]) + ", Hkv = " + sizeExpr(k[1]) + ";");
  e.line("const long long b = blockIdx.z, h = blockIdx.y, i = blockIdx.x * " + tileQ +
         "LL + threadIdx.x, kvh = h / (H / Hkv);");
  e.line("const bool active = i < Sq;");
  e.line("const long long kvEnd = " + kvEnd(op, tileQ, "blockIdx.x") + ";");
  e.line("__shared__ " + type + " Ks[" + tileKv + "][" + std::to_string(d) + "], Vs[" +
         tileKv + "][" +
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
  e.open("for (long long j0 = 0; j0 < kvEnd; j0 += " + tileKv + ")");
  auto stage = [&](const std::string &tile, Value source, int64_t width) {
    std::string w = std::to_string(width);
    e.open("for (int t = threadIdx.x; t < " + tileKv + " * " + w + "; t += blockDim.x)");
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
  e.open("for (int jj = 0; jj < " + tileKv + " && j0 + jj < Skv; ++jj)");
  e.line("const long long j = j0 + jj;");
  if (op.getCausal())
    e.line("if (j > i + Skv - Sq) break;");
  e.line(type + " score = 0;");
  e.line("#pragma unroll");
  e.open("for (int d = 0; d < " + std::to_string(d) + "; ++d)");
  e.line("score += qrow[d] * Ks[jj][d];");
  e.close();
  e.line("score *= " + floatLiteral(softmaxScale(op.getScale(), d), type) + ";");
  adjustScore(op, "score", "i", "j", type);
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

/// One K/V tile of tensor-core flash attention, once Ks and Vs hold keys j0 .. j0 +
/// tile_kv: S = Q K^T from the Q fragments `qf` (K as the column operand), the online
/// softmax (each row's running maximum and sum kept in the quad of threads that holds
/// it), P re-packed from the S accumulators into 16-bit A fragments and O += P V with V
/// read by ldmatrix.trans. Rows `row0` and `row1` are the query indices of the thread's
/// two accumulator rows; `Sq` queries see `Skv` keys, causally aligned at the end when
/// `causal`. Scores are multiplied by the softmax `scale`, then, when there is an
/// `adjust` (a softcap or a mask), each score in bounds is adjusted by it (it sees
/// `score`, the query `row` and the key `col`). Without one, and with a positive scale,
/// the raw scores are kept and the scale is folded into the base-2 exponent instead.
/// Only tiles that cross the causal diagonal or the end of the keys are masked.
void KernelWriter::flashTile(int64_t d, int64_t dv, int64_t tileKv,
                             const std::string &kind, bool causal, double scale,
                             const std::function<void()> &adjust) {
  ElementEmitter &e = *emitter_;
  auto num = [](int64_t x) { return std::to_string(x); };
  int64_t kvTiles = tileKv / 8, dTiles = dv / 8;
  bool folded = !adjust && scale > 0;
  std::string minusInf = "__int_as_float(0xff800000)", tile = num(tileKv),
              C = floatLiteral(folded ? scale * M_LOG2E : M_LOG2E, "float");
  e.line("float s[" + num(kvTiles) + "][4] = {};");
  e.line("#pragma unroll");
  e.open("for (int kk = 0; kk < " + num(d / 16) + "; ++kk)");
  e.line("#pragma unroll");
  e.open("for (int j = 0; j < " + num(kvTiles) + "; j += 2)");
  e.line("unsigned r[4];");
  e.line("loom_ldmatrix_x4(r, &Ks[j * 8 + lane % 8 + (lane / 16) * 8][kk * 16 + ((lane / "
         "8) & 1) * 8]);");
  e.line("const unsigned b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};");
  e.line("loom_mma_" + kind + "(s[j], qf[kk], b0);");
  e.line("loom_mma_" + kind + "(s[j + 1], qf[kk], b1);");
  e.close();
  e.close();
  if (!folded) {
    e.line("#pragma unroll");
    e.open("for (int j = 0; j < " + num(kvTiles) + "; ++j)");
    e.line("#pragma unroll");
    e.open("for (int x = 0; x < 4; ++x)");
    e.line("const long long row = x < 2 ? row0 : row1;");
    e.line("const long long col = j0 + j * 8 + pair * 2 + (x & 1);");
    e.line("float score = s[j][x];");
    e.open("if (col < Skv && row < Sq)");
    e.line("score *= " + floatLiteral(scale, "float") + ";");
    if (adjust)
      adjust();
    e.close();
    e.line("s[j][x] = score;");
    e.close();
    e.close();
  }
  // Each row sees the tile's keys before `limit` (the end of the keys, the causal
  // diagonal); the masking runs only on tiles where that cuts a row.
  e.line("int limit[2];");
  e.line("#pragma unroll");
  e.open("for (int r = 0; r < 2; ++r)");
  e.line("long long bound = Skv - j0;");
  if (causal) {
    e.line("const long long diagonal = (r ? row1 : row0) + Skv - Sq - j0 + 1;");
    e.line("bound = diagonal < bound ? diagonal : bound;");
  }
  e.line("limit[r] = bound < 0 ? 0 : bound > " + tile + " ? " + tile + " : (int)bound;");
  e.close();
  e.open("if (limit[0] < " + tile + " || limit[1] < " + tile + ")");
  e.line("#pragma unroll");
  e.open("for (int j = 0; j < " + num(kvTiles) + "; ++j)");
  e.line("#pragma unroll");
  e.open("for (int x = 0; x < 4; ++x)");
  e.line("if (j * 8 + pair * 2 + (x & 1) >= limit[x / 2]) s[j][x] = " + minusInf + ";");
  e.close();
  e.close();
  e.close();
  e.line("float tileMax[2] = {" + minusInf + ", " + minusInf + "};");
  e.line("#pragma unroll");
  e.open("for (int j = 0; j < " + num(kvTiles) + "; ++j)");
  e.line("tileMax[0] = fmaxf(tileMax[0], fmaxf(s[j][0], s[j][1]));");
  e.line("tileMax[1] = fmaxf(tileMax[1], fmaxf(s[j][2], s[j][3]));");
  e.close();
  // The running maximum stays in score units; exponents are in base 2 with the scale
  // folded in, so each probability is one fma and one ex2.
  e.line("float scaleRow[2];");
  e.line("#pragma unroll");
  e.open("for (int r = 0; r < 2; ++r)");
  e.line("tileMax[r] = fmaxf(tileMax[r], __shfl_xor_sync(0xffffffffu, tileMax[r], 1));");
  e.line("tileMax[r] = fmaxf(tileMax[r], __shfl_xor_sync(0xffffffffu, tileMax[r], 2));");
  e.line("const float next = fmaxf(running[r], tileMax[r]);");
  // A row that has seen only -inf keeps 0 as its reference, so exp gives 0, not NaN.
  e.line("const float base = next == " + minusInf + " ? 0.f : next * " + C + ";");
  e.line("scaleRow[r] = loom_exp2(running[r] * " + C + " - base);");
  e.line("running[r] = next;");
  e.line("total[r] *= scaleRow[r];");
  e.line("tileMax[r] = base;");
  e.close();
  e.line("#pragma unroll");
  e.open("for (int j = 0; j < " + num(kvTiles) + "; ++j)");
  e.line("#pragma unroll");
  e.open("for (int x = 0; x < 4; ++x)");
  e.line("s[j][x] = loom_exp2(fmaf(s[j][x], " + C + ", -tileMax[x / 2]));");
  e.line("total[x / 2] += s[j][x];");
  e.close();
  e.close();
  e.line("#pragma unroll");
  e.open("for (int j = 0; j < " + num(dTiles) + "; ++j)");
  e.line("o[j][0] *= scaleRow[0]; o[j][1] *= scaleRow[0];");
  e.line("o[j][2] *= scaleRow[1]; o[j][3] *= scaleRow[1];");
  e.close();
  // O += P V, 16 keys at a time: the S accumulators of key tiles 2c and 2c+1 are the A
  // fragment of P.
  e.line("#pragma unroll");
  e.open("for (int c = 0; c < " + num(tileKv / 16) + "; ++c)");
  e.line("const unsigned pf[4] = {loom_pack_" + kind + "(s[2 * c][0], s[2 * c][1]), loom_pack_" +
         kind + "(s[2 * c][2], s[2 * c][3]), loom_pack_" + kind +
         "(s[2 * c + 1][0], s[2 * c + 1][1]), loom_pack_" + kind +
         "(s[2 * c + 1][2], s[2 * c + 1][3])};");
  e.line("#pragma unroll");
  e.open("for (int j = 0; j < " + num(dTiles) + "; j += 2)");
  e.line("unsigned r[4];");
  e.line("loom_ldmatrix_x4_trans(r, &Vs[c * 16 + lane % 8 + ((lane / 8) & 1) * 8][j * 8 + "
         "(lane / 16) * 8]);");
  e.line("const unsigned b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};");
  e.line("loom_mma_" + kind + "(o[j], pf, b0);");
  e.line("loom_mma_" + kind + "(o[j + 1], pf, b1);");
  e.close();
  e.close();
}

/// Loads the Q fragments of the warp's 16 rows of `Qs` (head size `d`) into `qf`,
/// where they stay for the whole key loop.
void KernelWriter::flashQueryFragments(int64_t d) {
  ElementEmitter &e = *emitter_;
  auto num = [](int64_t x) { return std::to_string(x); };
  e.line("unsigned qf[" + num(d / 16) + "][4];");
  e.line("#pragma unroll");
  e.open("for (int kk = 0; kk < " + num(d / 16) + "; ++kk)");
  e.line("loom_ldmatrix_x4(qf[kk], &Qs[warp * 16 + lane % 16][kk * 16 + (lane / 16) * 8]);");
  e.close();
}

/// Gathers each row's sum over its quad, normalizes the output accumulators and stores
/// them through `store` (it sees `row`, the column `col`, `x`, the accumulator element,
/// and `y`); rows at or past `Sq` are skipped.
bool KernelWriter::flashFinish(int64_t dv, const std::function<bool()> &store) {
  ElementEmitter &e = *emitter_;
  auto num = [](int64_t x) { return std::to_string(x); };
  int64_t dTiles = dv / 8;
  // The row sums are spread over the quad; gather them, normalize and store.
  e.line("#pragma unroll");
  e.open("for (int r = 0; r < 2; ++r)");
  e.line("total[r] += __shfl_xor_sync(0xffffffffu, total[r], 1);");
  e.line("total[r] += __shfl_xor_sync(0xffffffffu, total[r], 2);");
  e.close();
  // Unrolled, so that the output fragments stay in registers.
  e.line("#pragma unroll");
  e.open("for (int j = 0; j < " + num(dTiles) + "; ++j)");
  e.line("#pragma unroll");
  e.open("for (int x = 0; x < 4; ++x)");
  e.line("const long long row = x < 2 ? row0 : row1, col = j * 8 + pair * 2 + (x & 1);");
  e.open("if (row < Sq)");
  e.line("const float sum = total[x / 2];");
  e.line("const float y = sum > 0.f ? o[j][x] / sum : 0.f;");
  bool stored = store();
  e.close();
  e.close();
  e.close();
  return stored;
}

/// Flash attention on tensor cores (16-bit operands, mma.sync m16n8k16, f32
/// accumulation): a block per (tile_q queries, head, batch), one warp per 16 query
/// rows. Q is staged once; K and V pass through shared memory tile_kv keys at a time
/// (the prologue computed as they load). S = Q K^T comes from mma with K as the
/// column operand; the online softmax keeps each row's running maximum and sum in the
/// four threads that hold the row (a quad); P is re-packed from the S accumulators
/// into 16-bit A fragments and P V accumulates with V read by ldmatrix.trans. Keys past
/// the causal diagonal of the block's last query are never loaded.
bool KernelWriter::tensorCoreAttention(AttentionOp op) {
  ElementEmitter &e = *emitter_;
  const KernelSchedule &sc = schedule_;
  Shape q = shapeOf(op.getQuery()), k = shapeOf(op.getKey()), v = shapeOf(op.getValue());
  int64_t d = q[3].size, dv = v[3].size;
  if (sc.tileQ != sc.warps * 16 || sc.tileKv % 16 || d % 16 || dv % 16)
    return refuse("tensor-core attention needs tile_q = 16 * warps, tile_kv and the head "
                  "sizes multiples of 16");
  int64_t ldQ = d + 8, ldV = dv + 8;
  int64_t sharedBytes = (sc.tileQ * ldQ + sc.tileKv * ldQ + sc.tileKv * ldV) * 2;
  if (sharedBytes > 48 * 1024)
    return refuse("the schedule needs " + std::to_string(sharedBytes) +
                  " bytes of shared memory; a block has 48 KiB");
  Type element = elementOf(op.getQuery());
  std::string T = storageType(element), kind = element.isBF16() ? "bf16" : "f16";
  auto num = [](int64_t x) { return std::to_string(x); };
  std::string tileQ = num(sc.tileQ), tileKv = num(sc.tileKv);
  int64_t dTiles = dv / 8;
  info_.grid[0] = {work(ArrayRef<Dim>(q).slice(2, 1)), sc.tileQ, 0};
  info_.grid[1] = {work(ArrayRef<Dim>(q).slice(1, 1)), 1, 0};
  info_.grid[2] = {work(ArrayRef<Dim>(q).take_front()), 1, 0};
  std::string minusInf = "__int_as_float(0xff800000)";
  e.line("const long long Sq = " + sizeExpr(q[2]) + ", Skv = " + sizeExpr(k[2]) +
         ", H = " + sizeExpr(q[1]) + ", Hkv = " + sizeExpr(k[1]) + ";");
  // Causal query tiles run the latest (the most keys) first, so the short ones fill the
  // tail of the launch.
  e.line("const long long qt = " +
         std::string(op.getCausal() ? "gridDim.x - 1LL - blockIdx.x" : "blockIdx.x") +
         ";");
  e.line("const long long b = blockIdx.z, h = blockIdx.y, i0 = qt * " + tileQ +
         "LL, kvh = h / (H / Hkv);");
  e.line("const long long kvEnd = " + kvEnd(op, tileQ, "qt") + ";");
  e.line("__shared__ __align__(16) " + T + " Qs[" + tileQ + "][" + num(ldQ) + "], Ks[" +
         tileKv + "][" + num(ldQ) + "], Vs[" + tileKv + "][" + num(ldV) + "];");
  e.line("const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;");
  e.line("const int group = lane / 4, pair = lane % 4;");
  e.line("const " + T + " zero = " +
         (element.isBF16() ? "__float2bfloat16_rn(0.0f)" : "__float2half_rn(0.0f)") + ";");
  // Stages rows [base, base + rows) of `source` (indexed b, head, row, column): 16-byte
  // asynchronous copies when the source is an input read in place (its rows
  // contiguous), else element by element through the prologue.
  auto stage = [&](const std::string &tile, Value source, const std::string &head,
                   const std::string &rows, int64_t width, const std::string &base,
                   const std::string &limit) {
    std::string w = num(width);
    if (e.isContiguousSource(source)) {
      std::string chunks = num(width / 8);
      e.open("for (int t = threadIdx.x; t < " + rows + " * " + chunks +
             "; t += blockDim.x)");
      e.line("const int r = t / " + chunks + ", c = (t % " + chunks + ") * 8;");
      e.line("const long long row = " + base + " + r;");
      e.open("if (row < " + limit + ")");
      auto [input, offset] = *e.contiguousSource(source, {"b", head, "row", "0LL"});
      e.line("const " + T + " *from = " + input + " + (" + offset + ") + c;");
      e.open("if ((reinterpret_cast<unsigned long long>(from) & 15) == 0)");
      e.line("loom_cp_async16(&" + tile + "[r][c], from, 16);");
      e.close();
      e.open("else");
      e.line("for (int x = 0; x < 8; ++x) " + tile + "[r][c + x] = from[x];");
      e.close();
      e.close();
      e.open("else");
      e.line("for (int x = 0; x < 8; ++x) " + tile + "[r][c + x] = zero;");
      e.close();
      e.close();
      e.line("loom_cp_async_commit();");
      e.line("loom_cp_async_wait<0>();");
      return;
    }
    e.open("for (int t = threadIdx.x; t < " + rows + " * " + w + "; t += blockDim.x)");
    e.line("const int r = t / " + w + ", c = t % " + w + ";");
    e.line("const long long row = " + base + " + r, col = c;");
    e.open("if (row < " + limit + ")");
    e.line(store(element, tile + "[r][c]", e.at(source, {"b", head, "row", "col"})));
    e.close();
    e.open("else");
    e.line(tile + "[r][c] = zero;");
    e.close();
    e.close();
  };
  stage("Qs", op.getQuery(), "h", tileQ, d, "i0", "Sq");
  e.line("__syncthreads();");
  flashQueryFragments(d);
  // Rows group and group + 8 of the warp's 16.
  e.line("const long long row0 = i0 + warp * 16 + group, row1 = row0 + 8;");
  e.line("float o[" + num(dTiles) + "][4] = {};");
  e.line("float running[2] = {" + minusInf + ", " + minusInf + "}, total[2] = {0.f, 0.f};");
  e.open("for (long long j0 = 0; j0 < kvEnd; j0 += " + tileKv + ")");
  e.line("__syncthreads();");
  stage("Ks", op.getKey(), "kvh", tileKv, d, "j0", "Skv");
  stage("Vs", op.getValue(), "kvh", tileKv, dv, "j0", "Skv");
  e.line("__syncthreads();");
  std::function<void()> adjust;
  if (op.getSoftcap() || op.getMask())
    adjust = [&] { adjustScore(op, "score", "row", "col", "float"); };
  flashTile(d, dv, sc.tileKv, kind, op.getCausal(), softmaxScale(op.getScale(), d),
            adjust);
  e.close();
  return flashFinish(dv, [&] {
    return storeOutputs(op.getResult(), {"b", "h", "row", "col"}, "y");
  });
}

} // namespace loom::cuda
