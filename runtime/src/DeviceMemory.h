//===- DeviceMemory.h - A device buffer that grows on demand -------*- C++ -*-===//
//
// Runtime-internal: the weight converter's staging buffer and the sampler's buffers
// are reused across calls and reallocated only when a call needs more than they hold.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_DEVICEMEMORY_H
#define LOOM_RUNTIME_DEVICEMEMORY_H

#include "loom/runtime.h"

#include <cstdint>

namespace loom::rt {

/// Makes `buffer` (`capacity` bytes, 0 when none) hold at least `bytes`: a larger
/// buffer replaces it (its contents are not kept). On failure the buffer is gone.
inline loom_status_t reserveDevice(loom_device_t device, uint64_t &buffer,
                                   uint64_t &capacity, uint64_t bytes) {
  if (bytes <= capacity)
    return nullptr;
  if (buffer)
    if (loom_status_t s = loom_device_free(device, buffer))
      return s;
  buffer = 0;
  capacity = 0;
  if (loom_status_t s = loom_device_alloc(device, bytes, &buffer))
    return s;
  capacity = bytes;
  return nullptr;
}

} // namespace loom::rt

#endif // LOOM_RUNTIME_DEVICEMEMORY_H
