//===- WeightUpload.h - Checkpoint bytes to device memory ---------*- C++ -*-===//
//
// Weights go from the checkpoint to the GPU without a host copy: the safetensors file
// is memory-mapped and uploaded from the mapping. A float tensor stored in another
// float type than the model was compiled for (an f32 checkpoint for a bf16 model) is
// uploaded as stored and converted on the GPU by a small kernel.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_WEIGHTUPLOAD_H
#define LOOM_RUNTIME_WEIGHTUPLOAD_H

#include "loom/runtime.h"
#include "loom/support/Safetensors.h"

#include <cstddef>
#include <string>

namespace loom::rt {

/// A read-only memory map of a whole file.
class MappedFile {
public:
  MappedFile() = default;
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;
  ~MappedFile();
  bool open(const std::string &path, std::string &error);
  const char *data() const { return data_; }
  size_t size() const { return size_; }

private:
  const char *data_ = nullptr;
  size_t size_ = 0;
};

/// Converts float tensors among F32, F16 and BF16 on the device (round to nearest
/// even, as the host conversion does), through a staging buffer it keeps.
class DeviceConverter {
public:
  DeviceConverter(loom_device_t device, std::string arch)
      : device_(device), arch_(std::move(arch)) {}
  DeviceConverter(const DeviceConverter &) = delete;
  DeviceConverter &operator=(const DeviceConverter &) = delete;
  ~DeviceConverter();

  static bool handles(DType from, DType to);
  /// Uploads `count` elements of `from` at `source` and writes them as `to` at
  /// `target`. The kernels are compiled (or taken from the kernel cache) on first use.
  loom_status_t convert(const void *source, size_t count, DType from, DType to,
                        uint64_t target);

private:
  loom_device_t device_;
  std::string arch_;
  loom_module_t module_ = nullptr;
  uint64_t staging_ = 0;
  uint64_t stagingBytes_ = 0;
};

} // namespace loom::rt

#endif // LOOM_RUNTIME_WEIGHTUPLOAD_H
