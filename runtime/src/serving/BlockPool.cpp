//===- BlockPool.cpp - Fixed-size blocks of the paged KV cache -------------===//

#include "loom/serving/BlockPool.h"

#include <cassert>
#include <stdexcept>
#include <string>

namespace loom::serve {

BlockPool::BlockPool(int32_t numBlocks, int32_t blockSize)
    : blockSize_(blockSize), references_(numBlocks > 0 ? numBlocks : 0, 0) {
  if (numBlocks <= 0 || blockSize <= 0)
    throw std::invalid_argument("a KV block pool needs blocks and a block size above 0 (got " +
                                std::to_string(numBlocks) + " blocks of " +
                                std::to_string(blockSize) + ")");
  // Block 0 is handed out first.
  for (int32_t b = numBlocks - 1; b >= 0; --b)
    free_.push_back(b);
}

std::optional<int32_t> BlockPool::allocate() {
  if (free_.empty())
    return std::nullopt;
  int32_t block = free_.back();
  free_.pop_back();
  references_[block] = 1;
  return block;
}

void BlockPool::retain(int32_t block) {
  if (block < 0 || block >= numBlocks() || references_[block] == 0)
    throw std::logic_error("retain of KV block " + std::to_string(block) +
                           ", which is not allocated");
  ++references_[block];
}

void BlockPool::release(int32_t block) {
  if (block < 0 || block >= numBlocks() || references_[block] == 0)
    throw std::logic_error("release of KV block " + std::to_string(block) +
                           ", which is not allocated");
  if (--references_[block] == 0)
    free_.push_back(block);
}

void BlockPool::releaseAll(std::vector<int32_t> &table) {
  for (int32_t block : table)
    release(block);
  table.clear();
}

} // namespace loom::serve
