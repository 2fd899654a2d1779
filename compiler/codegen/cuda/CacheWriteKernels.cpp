//===- CacheWriteKernels.cpp - Writes of new rows into a paged KV cache ---===//
//
// `scatter` kernels write a step's new keys or values into their cache slots, in
// place. A paged attention kernel that holds its layer's writes
// (loom-writes-into-attention) emits them as a phase before it, and its one-token
// variant writes its new row itself (emitNewRow).
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
/// kernel with several writes (loom-merge-cache-writes) has a loop per write, output
/// i being the i-th write's cache.
bool KernelWriter::scatter() {
  ElementEmitter &e = *emitter_;
  SmallVector<CacheWriteOp> writes;
  for (Operation &op : body().without_terminator())
    if (auto write = llvm::dyn_cast<CacheWriteOp>(op))
      writes.push_back(write);
  if (yielded().size() != writes.size() ||
      llvm::any_of(llvm::enumerate(writes),
                   [&](auto w) { return yielded()[w.index()] != w.value().getResult(); }))
    return refuse("a scatter kernel must output the caches its writes update, in order, "
                  "and nothing else");
  info_.inPlace.clear();
  for (CacheWriteOp op : writes) {
    auto cache = llvm::dyn_cast<BlockArgument>(op.getCache());
    if (!cache)
      return refuse(
          "a cache write's cache must be a kernel input (it is updated in place)");
    info_.inPlace.push_back(static_cast<int>(cache.getArgNumber()));
  }
  info_.grid[0] = {work(shapeOf(writes.front().getValues())), info_.threads, 65536};
  emitCacheWrites(writes);
  return true;
}

void KernelWriter::emitCacheWrites(ArrayRef<CacheWriteOp> writes) {
  ElementEmitter &e = *emitter_;
  for (CacheWriteOp op : writes) {
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
