//===- Nvrtc.h - NVRTC, loaded with dlopen ----------------------*- C++ -*-===//
//
// Compiles CUDA C++ to a cubin (or PTX) for one GPU architecture. NVRTC needs no GPU,
// so the same code compiles kernels in CI. The library is `$LOOM_NVRTC` if set, else
// libnvrtc.so.13, .12 or libnvrtc.so; headers (cuda_fp16.h, cuda_bf16.h) come from
// `$LOOM_CUDA_INCLUDE`, `$CUDA_HOME/include` or /usr/local/cuda/include.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_NVRTC_H
#define LOOM_RUNTIME_NVRTC_H

#include <string>
#include <vector>

namespace loom::rt {

struct NvrtcOutput {
  /// The cubin for an `sm_*` target, PTX for a `compute_*` one.
  std::string binary;
  /// The compiler's messages (warnings on success, errors on failure).
  std::string log;
};

/// NVRTC's version as "13.0"; empty with `error` set when NVRTC cannot be loaded.
std::string nvrtcVersion(std::string &error);

/// The options compileCuda passes to NVRTC besides the architecture, as one string (a
/// part of the kernel cache's key).
std::string nvrtcOptionsKey();

/// Compiles `source` (named `name` in messages) for `arch` ("sm_90a", "sm_80",
/// "compute_90"). Returns false with `error` naming the cause: NVRTC missing, an
/// unknown architecture, or the compile log of a source that does not compile.
bool compileCuda(const std::string &source, const std::string &name, const std::string &arch,
                 NvrtcOutput &output, std::string &error);

} // namespace loom::rt

#endif // LOOM_RUNTIME_NVRTC_H
