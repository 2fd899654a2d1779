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
