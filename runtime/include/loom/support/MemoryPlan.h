//===- MemoryPlan.h - Buffers sharing memory by liveness ----------*- C++ -*-===//
//
// Intermediate buffers of a model run live from the launch that first touches them to
// the last one; buffers whose lifetimes do not overlap may share memory. The plan
// places every buffer at an offset in one arena: largest first, each at the lowest
// aligned offset that does not overlap a placed buffer alive at the same time. The
// compiler uses it to report peak activation memory at the declared bounds; the
// runtime uses it to lay out each run's arena for the actual sizes.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_MEMORYPLAN_H
#define LOOM_SUPPORT_MEMORYPLAN_H

#include <cstdint>
#include <vector>

namespace loom {

struct BufferLife {
  uint64_t bytes = 0;
  /// Inclusive range of steps (launch indices) during which the buffer is live.
  int64_t first = 0, last = 0;
};

struct MemoryPlan {
  std::vector<uint64_t> offsets;
  /// The arena size: the end of the highest placed buffer.
  uint64_t peak = 0;
};

/// Places `buffers` (offsets aligned to `alignment` bytes).
MemoryPlan planMemory(const std::vector<BufferLife> &buffers, uint64_t alignment = 256);

} // namespace loom

#endif // LOOM_SUPPORT_MEMORYPLAN_H
