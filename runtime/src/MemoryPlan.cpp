//===- MemoryPlan.cpp - Buffers sharing memory by liveness ------------------===//

#include "loom/support/MemoryPlan.h"

#include <algorithm>
#include <numeric>

namespace loom {

std::vector<BufferLife> bufferLives(size_t count,
                                    const std::vector<std::vector<int>> &steps,
                                    const std::vector<int> &inputs,
                                    const std::vector<int> &outputs,
                                    std::vector<bool> &used) {
  std::vector<BufferLife> lives(count);
  used.assign(count, false);
  for (size_t step = 0; step < steps.size(); ++step)
    for (int b : steps[step]) {
      if (!used[b])
        lives[b].first = static_cast<int64_t>(step);
      lives[b].last = static_cast<int64_t>(step);
      used[b] = true;
    }
  for (int b : inputs) {
    lives[b].first = -1;
    used[b] = true;
  }
  for (int b : outputs) {
    lives[b].last = static_cast<int64_t>(steps.size());
    used[b] = true;
  }
  return lives;
}

MemoryPlan planMemory(const std::vector<BufferLife> &buffers, uint64_t alignment) {
  MemoryPlan plan;
  plan.offsets.assign(buffers.size(), 0);
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return buffers[a].bytes > buffers[b].bytes;
  });
  auto align = [alignment](uint64_t x) {
    return (x + alignment - 1) / alignment * alignment;
  };
  std::vector<size_t> placed;
  for (size_t i : order) {
    const BufferLife &b = buffers[i];
    // Address ranges taken by placed buffers alive at the same time, by start.
    std::vector<std::pair<uint64_t, uint64_t>> taken;
    for (size_t j : placed) {
      const BufferLife &o = buffers[j];
      if (o.first <= b.last && b.first <= o.last)
        taken.emplace_back(plan.offsets[j], plan.offsets[j] + o.bytes);
    }
    std::sort(taken.begin(), taken.end());
    uint64_t offset = 0;
    for (const auto &[start, end] : taken) {
      if (offset + b.bytes <= start)
        break;
      offset = std::max(offset, align(end));
    }
    plan.offsets[i] = offset;
    plan.peak = std::max(plan.peak, offset + b.bytes);
    placed.push_back(i);
  }
  return plan;
}

} // namespace loom
