//===- PagedKernels.h - Pieces shared by the paged-cache kernels -*- C++ -*-===//
//
// What the split-KV paged attention (PagedKernels.cpp) and its tensor-core variant for
// large steps (PagedPrefillKernels.cpp) both write: reads of a paged K or V cache
// through a block table, and the step size that divides them.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_CODEGEN_CUDA_PAGEDKERNELS_H
#define LOOM_COMPILER_CODEGEN_CUDA_PAGEDKERNELS_H

#include "compiler/codegen/cuda/ElementEmitter.h"

#include <cstdint>
#include <string>

namespace loom::cuda {

/// The split-KV kernel runs for steps of at most this many tokens (decode batches);
/// larger steps (prefills) take the tensor-core variant when there is one.
constexpr int64_t kSplitMaxTokens = 64;

inline std::string num(int64_t x) { return std::to_string(x); }

/// A block's thread index rotated so that thread `first` (below blockDim.x) takes
/// element 0 of a loop over `c = this; c < n; c += blockDim.x`: loops of few elements
/// given different first threads run on different warps at once.
inline std::string rotatedThread(int64_t first) {
  if (first == 0)
    return "threadIdx.x";
  return "(int)((threadIdx.x + blockDim.x - " + num(first) + ") % blockDim.x)";
}

/// A paged K or V cache as the kernels read it: the parameter, the block table's, the
/// rows per block, the KV heads per row and the elements per head.
struct PagedCache {
  std::string cache, table;
  int64_t blockSize, kvHeads, width;
};

/// `vec`: whether both caches' addresses allow 16-byte copies.
void emitCachesAligned(ElementEmitter &e, const std::string &keys,
                       const std::string &values);

/// Copies the chunk at column `c` of key `key`, KV head `head`, from the cache `from`
/// to the pointer `to` (declared by the caller), through the block table (`seq` and
/// `tableWidth` in scope). With `async`, the chunk is `count` elements (16 bytes): one
/// asynchronous copy when `vec` holds, else element by element; without, one element.
/// `slot`, when given, is the key's cache row, read from the table beforehand.
void emitCacheCopy(ElementEmitter &e, const PagedCache &from, const std::string &type,
                   const std::string &key, const std::string &head, int64_t count,
                   bool async, const std::string &slot = "");

} // namespace loom::cuda

#endif // LOOM_COMPILER_CODEGEN_CUDA_PAGEDKERNELS_H
