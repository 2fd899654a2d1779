//===- CacheWriteKernels.cpp - Writes of new rows into a paged KV cache ---===//
//
// `scatter` kernels write a step's new keys or values into their cache slots, in
// place. A paged attention kernel that holds its layer's writes
// (loom-writes-into-attention) emits them as a phase before it, and its one-token
// variant writes its new row itself (emitNewRow). A cache of 8-bit codes (int8, FP8)
// is written a row (one token's head) per warp: the row's largest magnitude gives its
// scale, then the codes (emitQuantizedWrite).
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/KernelWriter.h"
#include "compiler/codegen/cuda/PagedKernels.h"

using namespace mlir;

namespace loom::cuda {

/// Each thread takes elements of the new rows in a grid-stride loop and stores them at
/// their slot; negative slots (padding) and slots past the cache are skipped. Each
/// output is its cache input itself (EmittedKernel::inPlace), so rows not written keep
/// their contents. The prologue (rope on new keys) is computed as rows are read. A
/// kernel with several writes (loom-merge-cache-writes) has a loop per write, its
/// outputs being the writes' caches in order (a quantized write's cache, then its
/// scales).
bool KernelWriter::scatter() {
  if (auto add = llvm::dyn_cast<ScatterAddOp>(kernel_.getAnchor()))
    return scatterAddKernel(add);
  SmallVector<CacheWriteOp> writes;
  SmallVector<Value> expected;
  for (Operation &op : body().without_terminator())
    if (auto write = llvm::dyn_cast<CacheWriteOp>(op)) {
      writes.push_back(write);
      expected.push_back(write.getResult());
      if (write.isQuantized())
        expected.push_back(write.getNewScales());
    }
  if (!llvm::equal(yielded(), expected))
    return refuse("a scatter kernel must output the caches (and scales) its writes "
                  "update, in order, and nothing else");
  info_.inPlace.clear();
  for (CacheWriteOp op : writes) {
    for (Value buffer : {op.getCache(), op.getScales()}) {
      if (!buffer)
        continue;
      auto arg = llvm::dyn_cast<BlockArgument>(buffer);
      if (!arg)
        return refuse("a cache write's cache and scales must be kernel inputs (they are "
                      "updated in place)");
      info_.inPlace.push_back(static_cast<int>(arg.getArgNumber()));
    }
  }
  info_.grid[0] = {work(shapeOf(writes.front().getValues())), info_.threads, 65536};
  emitCacheWrites(writes);
  return true;
}

void KernelWriter::emitCacheWrites(ArrayRef<CacheWriteOp> writes) {
  ElementEmitter &e = *emitter_;
  for (CacheWriteOp op : writes) {
    if (op.isQuantized()) {
      emitQuantizedWrite(op);
      continue;
    }
    std::string out = "out" + std::to_string(outputOf(op.getResult()));
    Shape rows = shapeOf(op.getValues());
    e.open("");
    e.line("const long long n = " + product(rows) +
           ", width = " + product(ArrayRef<Dim>(rows).drop_front()) +
           ", capacity = " + product(shapeOf(op.getCache())) + ";");
    e.open("for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < n; "
           "t += (long long)gridDim.x * blockDim.x)");
    Index index = e.delinearize("t", rows);
    e.line("const long long slot = (long long)" + e.at(op.getSlots(), {index[0]}) + ";");
    e.line("const long long at = slot * width + t % width;");
    e.open("if (slot >= 0 && at < capacity)");
    e.line(store(elementOf(op.getResult()), out + "[at]", e.at(op.getValues(), index)));
    e.close();
    e.close();
    e.close();
  }
}

/// A write into a cache of 8-bit codes: a warp per new row (token, head) finds the
/// row's largest magnitude `most` (its values computed with their prologue), stores
/// the scale `most / M` (M = 127 for int8, 448 for FP8) and the codes of the values
/// times the scale's reciprocal (0 for a row of zeros), rounded as the reference does
/// (int8: to nearest even, within +-127; FP8: loom_q_to_e4m3). The grid-stride loop
/// keeps a warp's lanes on one row.
void KernelWriter::emitQuantizedWrite(CacheWriteOp op) {
  ElementEmitter &e = *emitter_;
  bool integer = elementOf(op.getResult()).isInteger(8);
  if (!integer)
    require("quant_weight.cuh");
  std::string codes = "out" + std::to_string(outputOf(op.getResult())),
              scales = "out" + std::to_string(outputOf(op.getNewScales()));
  Shape rows = shapeOf(op.getValues());
  e.open("");
  e.line("const long long rows = " + product(ArrayRef<Dim>(rows).take_front(2)) +
         ", heads = " + sizeExpr(rows[1]) + ", width = " + sizeExpr(rows[2]) +
         ", capacity = " + product(shapeOf(op.getScales())) + ";");
  e.line("const int lane = threadIdx.x % 32;");
  e.open("for (long long r = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / 32; "
         "r < rows; r += (long long)gridDim.x * blockDim.x / 32)");
  e.line("const long long token = r / heads, hh = r % heads;");
  e.line("const long long slot = (long long)" + e.at(op.getSlots(), {"token"}) + ";");
  e.line("if (slot < 0 || slot * heads + hh >= capacity) continue;");
  // A row's value as the op sees it: computed in f32, rounded to the values' type.
  Type valueType = elementOf(op.getValues());
  auto value = [&] {
    std::string v = e.at(op.getValues(), {"token", "hh", "c"});
    if (valueType.isBF16())
      return "__bfloat162float(__float2bfloat16_rn(" + v + "))";
    if (valueType.isF16())
      return "__half2float(__float2half_rn(" + v + "))";
    return "(float)" + v;
  };
  e.line("float most = 0.0f;");
  e.open("for (long long c = lane; c < width; c += 32)");
  e.line("most = fmaxf(most, fabsf(" + value() + "));");
  e.close();
  e.line("for (int o = 16; o > 0; o >>= 1) most = fmaxf(most, "
         "__shfl_xor_sync(0xffffffffu, most, o));");
  e.line(std::string("const float scale = __fdiv_rn(most, ") +
         (integer ? "127.0f" : "448.0f") + ");");
  e.line("const float inverse = most > 0.0f ? __frcp_rn(scale) : 0.0f;");
  e.open("for (long long c = lane; c < width; c += 32)");
  e.line("const float y = __fmul_rn(" + value() + ", inverse);");
  e.line(codes + "[(slot * heads + hh) * width + c] = " +
         (integer ? "(signed char)__float2int_rn(fminf(fmaxf(y, -127.0f), 127.0f))"
                  : "(unsigned char)loom_q_to_e4m3(y)") +
         ";");
  e.close();
  e.line("if (lane == 0) " + scales + "[slot * heads + hh] = scale;");
  e.close();
  e.close();
}

/// The new row of `write` for (token, KV head g) of a one-token step, computed from the
/// write's rows (with their prologue): into `tile` (a row of the attention's shared
/// tile, a pointer; empty for none) and, where `stores` holds, into the cache at the
/// token's slot. Element 0 goes to thread `first` (below the block's threads), so
/// rows given different threads load their inputs at the same time.
void KernelWriter::emitNewRow(CacheWriteOp write, int64_t width, const std::string &tile,
                              const std::string &stores, int64_t first) {
  ElementEmitter &e = *emitter_;
  Type element = elementOf(write.getResult());
  std::string out = "out" + std::to_string(outputOf(write.getResult()));
  Shape cache = shapeOf(write.getCache());
  e.open("");
  e.line("const long long slot = (long long)" + e.at(write.getSlots(), {"token"}) +
         ", capacity = " + product(cache) + ";");
  e.open("for (int c = " + rotatedThread(first) + "; c < " + num(width) +
         "; c += blockDim.x)");
  std::string value = e.at(write.getValues(), {"token", "g", "(long long)c"});
  if (!tile.empty())
    e.line(store(element, "(" + tile + ")[c]", value));
  e.line("const long long at = slot * " + num(cache[2].size * width) + " + g * " +
         num(width) + " + c;");
  e.line("if (" + stores + " && slot >= 0 && at < capacity) " +
         store(element, out + "[at]", value));
  e.close();
  e.close();
}

} // namespace loom::cuda
