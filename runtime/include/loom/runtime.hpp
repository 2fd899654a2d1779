//===- loom/runtime.hpp - C++ RAII wrappers over the C API --------*- C++ -*-===//
//
// Header-only. Statuses become loom::Status values that free themselves; nothing here
// throws, so the header also serves code built without exceptions.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_HPP
#define LOOM_RUNTIME_HPP

#include "loom/runtime.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace loom {

/// Owns a loom_status_t; an empty Status is success.
class Status {
public:
  Status() = default;
  explicit Status(loom_status_t status) : status_(status) {}

  bool ok() const { return status_ == nullptr; }
  explicit operator bool() const { return ok(); }
  loom_status_code_t code() const { return loom_status_code(status_.get()); }
  std::string message() const { return loom_status_message(status_.get()); }

private:
  struct Free {
    void operator()(loom_status_s *s) const { loom_status_free(s); }
  };
  std::unique_ptr<loom_status_s, Free> status_;
};

/// Every visible CUDA device; on failure returns the status and leaves `out` empty.
inline Status listDevices(std::vector<loom_device_info_t> &out) {
  out.clear();
  int32_t count = 0;
  Status status(loom_device_count(&count));
  for (int32_t i = 0; status.ok() && i < count; ++i) {
    loom_device_info_t info;
    status = Status(loom_device_info(i, &info));
    if (status.ok())
      out.push_back(info);
  }
  if (!status.ok())
    out.clear();
  return status;
}

/// A compiled model on a device: load, bind weights, run. Owns the device handle.
class Model {
public:
  Model() = default;
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;
  Model(Model &&other) noexcept
      : device_(std::exchange(other.device_, nullptr)), model_(std::exchange(other.model_, nullptr)) {}
  ~Model() {
    loom_model_free(model_);
    loom_device_close(device_);
  }

  /// Opens device `ordinal` and loads the artifact folder onto it.
  Status load(const std::string &artifact, int32_t ordinal = 0) {
    Status status(loom_device_open(ordinal, &device_));
    if (status.ok())
      status = Status(loom_model_load(device_, artifact.c_str(), &model_));
    return status;
  }
  /// Uploads the weights from a Hugging Face folder or a .safetensors file.
  Status bindWeights(const std::string &path) {
    return Status(loom_model_bind_weights(model_, path.c_str()));
  }
  /// Runs on host inputs; each output's `data` is owned by the caller (loom_free).
  Status run(const std::vector<loom_host_tensor_t> &inputs,
             std::vector<loom_host_tensor_t> &outputs) {
    outputs.assign(loom_model_num_outputs(model_), loom_host_tensor_t{});
    return Status(loom_model_run(model_, inputs.data(), inputs.size(), outputs.data(),
                                 outputs.size()));
  }
  /// Runs on device inputs (read in place); each output's `pointer` is device memory
  /// owned by the caller (loom_device_free).
  Status runDevice(const std::vector<loom_device_tensor_t> &inputs,
                   std::vector<loom_device_tensor_t> &outputs) {
    outputs.assign(loom_model_num_outputs(model_), loom_device_tensor_t{});
    return Status(loom_model_run_device(model_, inputs.data(), inputs.size(),
                                        outputs.data(), outputs.size()));
  }
  loom_model_t handle() const { return model_; }

private:
  loom_device_t device_ = nullptr;
  loom_model_t model_ = nullptr;
};

/// Compiles CUDA C++ for `arch` with NVRTC into `binary` (a cubin, or PTX for
/// `compute_*`); the status carries the compiler's log when the source is wrong.
inline Status compileCuda(const std::string &source, const std::string &name,
                          const std::string &arch, std::string &binary) {
  void *data = nullptr;
  size_t size = 0;
  Status status(loom_compile_cuda(source.c_str(), name.c_str(), arch.c_str(), &data, &size));
  binary.assign(static_cast<const char *>(data), data ? size : 0);
  loom_free(data);
  return status;
}

} // namespace loom

#endif // LOOM_RUNTIME_HPP
