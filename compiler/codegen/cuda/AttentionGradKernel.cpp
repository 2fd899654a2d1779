//===- AttentionGradKernel.cpp - The backward of attention -----------------===//
//
// `loom.attention_grad` in two launches that keep no [Sq, Skv] matrix: the kernel
// takes a block per (query, head, batch) and computes the query's row statistics (the
// softmax's maximum and sum, and D = rowsum(dP * P)) and its dQ, passing keys in tiles
// through shared memory; its `_kv` phase takes a block per (key, KV head, batch) and,
// from those statistics (kept in scratch), recomputes each query's weight of the key
// and adds dK and dV over the query heads of the KV head. Scores are recomputed, as
// flash-attention 2 does, with SIMT arithmetic (no tensor cores yet).
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/KernelWriter.h"

#include <cmath>

using namespace mlir;

namespace loom::cuda {

namespace {

constexpr int64_t kThreads = 128;

} // namespace

bool KernelWriter::attentionGradKernel(AttentionGradOp op) {
  Shape q = shapeOf(op.getQuery()), k = shapeOf(op.getKey()), v = shapeOf(op.getValue());
  for (const Dim &d : {q[1], q[3], k[1], v[3]})
    if (!d.isStatic())
      return refuse("attention_grad needs static heads and head sizes");
  int64_t heads = q[1].size, kvHeads = k[1].size, d = q[3].size, dv = v[3].size,
          group = heads / kvHeads, per = (std::max(d, dv) + kThreads - 1) / kThreads;
  std::string D = std::to_string(d), Dv = std::to_string(dv), G = std::to_string(group),
              T = std::to_string(kThreads), P = std::to_string(per),
              H = std::to_string(heads), minusInf = "__int_as_float(0xff800000)";
  double scaleValue = op.getScale() ? op.getScale()->convertToDouble()
                                    : 1.0 / std::sqrt(static_cast<double>(d));
  std::string scale = floatLiteral(scaleValue, "float");
  std::optional<double> cap;
  if (std::optional<APFloat> c = op.getSoftcap())
    cap = c->convertToDouble();
  // Row statistics per (batch, head, query): the maximum, 1 / sum and D.
  info_.threads = kThreads;
  info_.scratch = {{{work({q[0]}), H, work({q[2]}), "3"}, Float32Type::get(op.getContext())}};

  // The score of query i of head h and key j (`dot` its Q . K), scaled, capped (`t`
  // keeps tanh for the derivative), masked and causally hidden.
  auto score = [&](ElementEmitter &e, const std::string &dot) {
    e.line("float s = " + dot + " * " + scale + ", t = 0.0f;");
    if (cap) {
      std::string c = floatLiteral(*cap, "float");
      e.line("t = tanhf(s / " + c + ");");
      e.line("s = " + c + " * t;");
    }
    if (Value mask = op.getMask()) {
      Shape ms = shapeOf(mask);
      Index full = {"b", "h", "i", "j"}, index;
      for (size_t x = 0; x < ms.size(); ++x)
        index.push_back(ms[x].isOne() ? "0LL" : full[4 - ms.size() + x]);
      e.line("s += (float)" + e.at(mask, index) + ";");
    }
    if (op.getCausal())
      e.line("if (j > i + Skv - Sq) s = " + minusInf + ";");
  };
  auto sizes = [&](ElementEmitter &e) {
    e.line("const long long Sq = " + sizeExpr(q[2]) + ", Skv = " + sizeExpr(k[2]) + ";");
  };
  // Row `position` of head `head` of `value` ([B, heads, positions, width]) into the
  // shared array `row`, a thread per element.
  auto stageRow = [&](ElementEmitter &e, const std::string &row, Value value,
                      const std::string &head, const std::string &position,
                      const std::string &width) {
    e.open("for (int c = threadIdx.x; c < " + width + "; c += blockDim.x)");
    e.line(row + "[c] = (float)" +
           e.at(value, {"b", head, position, "(long long)c"}) + ";");
    e.close();
  };
  // `float name`: the shared array `row` times that row of `value`.
  auto dotRow = [&](ElementEmitter &e, const std::string &name, const std::string &row,
                    Value value, const std::string &head, const std::string &position,
                    const std::string &width) {
    e.line("float " + name + " = 0.0f;");
    e.open("for (int c = 0; c < " + width + "; ++c)");
    e.line(name + " += " + row + "[c] * (float)" +
           e.at(value, {"b", head, position, "(long long)c"}) + ";");
    e.close();
  };
  // dS from the weight p, dP and the row's D (times the softcap's derivative).
  auto gradScore = [&](ElementEmitter &e) {
    e.line(std::string("ds = p * (dp - rowD)") + (cap ? " * (1.0f - t * t)" : "") + ";");
  };

  // The query side: statistics, then dQ over tiles of keys.
  ElementEmitter &e = *emitter_;
  info_.grid[0] = {work({q[2]}), 1, 0};
  info_.grid[1] = {H, 1, 0};
  info_.grid[2] = {work({q[0]}), 1, 0};
  sizes(e);
  e.line("const long long i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, g = h / " + G +
         ";");
  e.line("__shared__ float qs[" + D + "], dos[" + Dv + "], dsT[" + T + "];");
  stageRow(e, "qs", op.getQuery(), "h", "i", D);
  stageRow(e, "dos", op.getResultGrad(), "h", "i", Dv);
  e.line("__syncthreads();");
  auto keyTerms = [&](bool needDp) {
    dotRow(e, "dot", "qs", op.getKey(), "g", "j", D);
    score(e, "dot");
    if (needDp)
      dotRow(e, "dp", "dos", op.getValue(), "g", "j", Dv);
  };
  e.line("float most = " + minusInf + ";");
  e.open("for (long long j = threadIdx.x; j < Skv; j += blockDim.x)");
  keyTerms(false);
  e.line("most = fmaxf(most, s);");
  e.close();
  e.line("most = loom_block_reduce(most, LoomMax(), " + minusInf + ");");
  e.line("float sum = 0.0f, weighted = 0.0f;");
  e.open("if (most != " + minusInf + ")");
  e.open("for (long long j = threadIdx.x; j < Skv; j += blockDim.x)");
  keyTerms(true);
  e.line("const float p = expf(s - most);");
  e.line("sum += p;");
  e.line("weighted += p * dp;");
  e.close();
  e.close();
  e.line("sum = loom_block_sum(sum);");
  e.line("weighted = loom_block_sum(weighted);");
  // A fully masked row has no weights: P = 0, so every gradient through it is zero.
  e.line("const float inverse = sum > 0.0f ? 1.0f / sum : 0.0f, rowD = weighted * inverse;");
  e.line("float acc[" + P + "] = {};");
  e.open("for (long long j0 = 0; j0 < Skv; j0 += " + T + ")");
  e.line("const long long j = j0 + threadIdx.x;");
  e.line("float ds = 0.0f;");
  e.open("if (j < Skv && most != " + minusInf + ")");
  keyTerms(true);
  e.line("const float p = expf(s - most) * inverse;");
  gradScore(e);
  e.close();
  e.line("dsT[threadIdx.x] = ds;");
  e.line("__syncthreads();");
  e.line("const int n = (int)loom_min(" + T + "LL, Skv - j0);");
  e.open("for (int r = 0; r < " + P + "; ++r)");
  e.line("const long long c = threadIdx.x + r * " + T + ";");
  e.line("if (c >= " + D + ") break;");
  e.line("float y = 0.0f;");
  e.open("for (int jj = 0; jj < n; ++jj)");
  e.line("y += dsT[jj] * (float)" + e.at(op.getKey(), {"b", "g", "(j0 + jj)", "c"}) + ";");
  e.close();
  e.line("acc[r] += y;");
  e.close();
  e.line("__syncthreads();");
  e.close();
  e.open("for (int r = 0; r < " + P + "; ++r)");
  e.line("const long long c = threadIdx.x + r * " + T + ";");
  e.line("if (c >= " + D + ") break;");
  e.line("const float dq = acc[r] * " + scale + ";");
  if (!storeOutputs(op.getQueryGrad(), {"b", "h", "i", "c"}, "dq"))
    return false;
  e.close();
  e.open("if (threadIdx.x == 0)");
  e.line("float *stats = ws0 + ((b * " + H + " + h) * Sq + i) * 3;");
  e.line("stats[0] = most;");
  e.line("stats[1] = inverse;");
  e.line("stats[2] = rowD;");
  e.close();

  // The key side: dK and dV of key j of KV head g, over its query heads and queries.
  EmittedKernel::Phase kv;
  kv.name = name_ + "_kv";
  kv.threads = static_cast<int>(kThreads);
  kv.grid[0] = {work({k[2]}), 1, 0};
  kv.grid[1] = {std::to_string(kvHeads), 1, 0};
  kv.grid[2] = {work({q[0]}), 1, 0};
  return writePhase(kv, [&] {
    ElementEmitter &e = *emitter_;
    sizes(e);
    e.line("const long long j = blockIdx.x, g = blockIdx.y, b = blockIdx.z;");
    e.line("__shared__ float ks[" + D + "], vs[" + Dv + "], pT[" + T + "], dsT[" + T +
           "];");
    stageRow(e, "ks", op.getKey(), "g", "j", D);
    stageRow(e, "vs", op.getValue(), "g", "j", Dv);
    e.line("__syncthreads();");
    e.line("float accK[" + P + "] = {}, accV[" + P + "] = {};");
    e.open("for (int hh = 0; hh < " + G + "; ++hh)");
    e.line("const long long h = g * " + G + " + hh;");
    e.open("for (long long i0 = 0; i0 < Sq; i0 += " + T + ")");
    e.line("const long long i = i0 + threadIdx.x;");
    e.line("float p = 0.0f, ds = 0.0f;");
    e.open("if (i < Sq)");
    e.line("const float *stats = ws0 + ((b * " + H + " + h) * Sq + i) * 3;");
    e.line("const float most = stats[0], inverse = stats[1], rowD = stats[2];");
    dotRow(e, "dot", "ks", op.getQuery(), "h", "i", D);
    score(e, "dot");
    dotRow(e, "dp", "vs", op.getResultGrad(), "h", "i", Dv);
    e.line("if (most != " + minusInf + ") p = expf(s - most) * inverse;");
    gradScore(e);
    e.close();
    e.line("pT[threadIdx.x] = p;");
    e.line("dsT[threadIdx.x] = ds;");
    e.line("__syncthreads();");
    e.line("const int n = (int)loom_min(" + T + "LL, Sq - i0);");
    e.open("for (int r = 0; r < " + P + "; ++r)");
    e.line("const long long c = threadIdx.x + r * " + T + ";");
    e.open("if (c < " + Dv + ")");
    e.line("float y = 0.0f;");
    e.open("for (int ii = 0; ii < n; ++ii)");
    e.line("y += pT[ii] * (float)" + e.at(op.getResultGrad(), {"b", "h", "(i0 + ii)", "c"}) +
           ";");
    e.close();
    e.line("accV[r] += y;");
    e.close();
    e.open("if (c < " + D + ")");
    e.line("float y = 0.0f;");
    e.open("for (int ii = 0; ii < n; ++ii)");
    e.line("y += dsT[ii] * (float)" + e.at(op.getQuery(), {"b", "h", "(i0 + ii)", "c"}) +
           ";");
    e.close();
    e.line("accK[r] += y;");
    e.close();
    e.close();
    e.line("__syncthreads();");
    e.close();
    e.close();
    e.open("for (int r = 0; r < " + P + "; ++r)");
    e.line("const long long c = threadIdx.x + r * " + T + ";");
    e.open("if (c < " + D + ")");
    e.line("const float dk = accK[r] * " + scale + ";");
    if (!storeOutputs(op.getKeyGrad(), {"b", "g", "j", "c"}, "dk"))
      return false;
    e.close();
    e.open("if (c < " + Dv + ")");
    e.line("const float dv = accV[r];");
    if (!storeOutputs(op.getValueGrad(), {"b", "g", "j", "c"}, "dv"))
      return false;
    e.close();
    e.close();
    return true;
  });
}

} // namespace loom::cuda
