//===- BlockPool.h - Fixed-size blocks of the paged KV cache -------*- C++ -*-===//
//
// The paged KV cache stores keys and values in blocks of `blockSize` token slots. A
// sequence holds a block table (the blocks of its tokens, in order); the pool hands
// blocks out and takes them back. Blocks carry a reference count so that sequences can
// later share a prompt's blocks; a block returns to the free list when its count drops
// to zero. The pool is host bookkeeping only: the device memory is laid out from it.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SERVING_BLOCKPOOL_H
#define LOOM_SERVING_BLOCKPOOL_H

#include <cstdint>
#include <optional>
#include <vector>

namespace loom::serve {

class BlockPool {
public:
  BlockPool(int32_t numBlocks, int32_t blockSize);

  int32_t numBlocks() const { return static_cast<int32_t>(references_.size()); }
  int32_t blockSize() const { return blockSize_; }
  int32_t numFree() const { return static_cast<int32_t>(free_.size()); }
  /// Blocks needed to hold `tokens` token slots.
  int32_t blocksFor(int64_t tokens) const {
    return static_cast<int32_t>((tokens + blockSize_ - 1) / blockSize_);
  }

  /// A free block with one reference; nullopt when none is free. The most recently
  /// released block is handed out first (its memory is likely still in cache).
  std::optional<int32_t> allocate();
  /// Another reference to an allocated block (a shared prefix).
  void retain(int32_t block);
  /// Drops one reference; the block is free again at zero.
  void release(int32_t block);
  /// Releases every block of `table` and clears it.
  void releaseAll(std::vector<int32_t> &table);
  int32_t references(int32_t block) const { return references_[block]; }

private:
  int32_t blockSize_;
  std::vector<int32_t> references_;
  std::vector<int32_t> free_;
};

} // namespace loom::serve

#endif // LOOM_SERVING_BLOCKPOOL_H
