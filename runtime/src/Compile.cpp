//===- Compile.cpp - The C API of kernel compilation ------------------------===//

#include "Nvrtc.h"
#include "Status.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

using namespace loom::rt;

extern "C" {

loom_status_t loom_compile_cuda(const char *source, const char *name, const char *arch,
                                void **out_binary, size_t *out_size) {
  if (!source || !arch || !out_binary || !out_size)
    return makeStatus(
        LOOM_STATUS_INVALID_ARGUMENT,
        "loom_compile_cuda: source, arch, out_binary and out_size are required");
  *out_binary = nullptr;
  *out_size = 0;
  std::string error, version = nvrtcVersion(error);
  if (version.empty())
    return makeStatus(LOOM_STATUS_UNAVAILABLE, error);
  NvrtcOutput output;
  if (!compileCuda(source, name ? name : "kernels.cu", arch, output, error))
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, error);
  void *binary = std::malloc(output.binary.size() ? output.binary.size() : 1);
  if (!binary)
    return makeStatus(LOOM_STATUS_OUT_OF_MEMORY,
                      "loom_compile_cuda: no memory for the binary");
  std::memcpy(binary, output.binary.data(), output.binary.size());
  *out_binary = binary;
  *out_size = output.binary.size();
  return nullptr;
}

loom_status_t loom_nvrtc_version(char *out, size_t capacity) {
  if (!out || capacity == 0)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_nvrtc_version: no output buffer");
  std::string error, version = nvrtcVersion(error);
  if (version.empty())
    return makeStatus(LOOM_STATUS_UNAVAILABLE, error);
  std::strncpy(out, version.c_str(), capacity - 1);
  out[capacity - 1] = '\0';
  return nullptr;
}

void loom_free(void *memory) { std::free(memory); }

} // extern "C"
