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

#include <cstddef>
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

/// The live ranges of `count` buffers over a sequence of steps (launches): `steps[s]`
/// lists the buffers step s reads or writes; `inputs` are live from before the first
/// step, `outputs` until after the last. `used[i]` says whether buffer i is touched at
/// all. Sizes are left 0 for the caller to fill.
std::vector<BufferLife> bufferLives(size_t count,
                                    const std::vector<std::vector<int>> &steps,
                                    const std::vector<int> &inputs,
                                    const std::vector<int> &outputs,
                                    std::vector<bool> &used);

/// Places `buffers` (offsets aligned to `alignment` bytes).
MemoryPlan planMemory(const std::vector<BufferLife> &buffers, uint64_t alignment = 256);

} // namespace loom

#endif // LOOM_SUPPORT_MEMORYPLAN_H
