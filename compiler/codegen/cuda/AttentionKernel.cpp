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

} // namespace loom::cuda
