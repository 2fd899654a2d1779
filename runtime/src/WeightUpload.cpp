//===- WeightUpload.cpp - Checkpoint bytes to device memory ---------------===//

#include "WeightUpload.h"
#include "loom/support/Files.h"

#include "DeviceMemory.h"
#include "KernelCache.h"
#include "Status.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace loom::rt {

MappedFile::~MappedFile() {
  if (data_ && size_)
    munmap(const_cast<char *>(data_), size_);
}

bool MappedFile::open(const std::string &path, std::string &error) {
  uint64_t size = 0;
  int fd = openInputFile(path, size, error);
  if (fd < 0)
    return false;
  size_ = static_cast<size_t>(size);
  if (size_ == 0) {
    ::close(fd);
    return true;
  }
  void *map = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) {
    error = "cannot map " + path + ": " + std::strerror(errno);
    size_ = 0;
    return false;
  }
  madvise(map, size_, MADV_SEQUENTIAL);
  data_ = static_cast<const char *>(map);
  return true;
}

namespace {

/// One kernel per (from, to) pair, named loom_convert_<from>_<to>.
const char *kConvertSource = R"(
#include <cuda_fp16.h>
#include <cuda_bf16.h>
__device__ __forceinline__ float loom_in(const float *p, long long i) { return p[i]; }
__device__ __forceinline__ float loom_in(const __half *p, long long i) { return __half2float(p[i]); }
__device__ __forceinline__ float loom_in(const __nv_bfloat16 *p, long long i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void loom_out(float *p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void loom_out(__half *p, long long i, float v) { p[i] = __float2half_rn(v); }
__device__ __forceinline__ void loom_out(__nv_bfloat16 *p, long long i, float v) { p[i] = __float2bfloat16_rn(v); }
#define LOOM_CONVERT(FROM, TO, A, B)                                                    \
  extern "C" __global__ void loom_convert_##A##_##B(const FROM *in, TO *out, long long n) { \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;          \
         i += (long long)gridDim.x * blockDim.x)                                         \
      loom_out(out, i, loom_in(in, i));                                                  \
  }
LOOM_CONVERT(float, __half, F32, F16)
LOOM_CONVERT(float, __nv_bfloat16, F32, BF16)
LOOM_CONVERT(__half, float, F16, F32)
LOOM_CONVERT(__half, __nv_bfloat16, F16, BF16)
LOOM_CONVERT(__nv_bfloat16, float, BF16, F32)
LOOM_CONVERT(__nv_bfloat16, __half, BF16, F16)
)";

bool isHalfOrFloat(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

} // namespace

DeviceConverter::~DeviceConverter() {
  if (staging_)
    if (loom_status_t s = loom_device_free(device_, staging_))
      loom_status_free(s);
  loom_module_unload(module_);
}

bool DeviceConverter::handles(DType from, DType to) {
  return from != to && isHalfOrFloat(from) && isHalfOrFloat(to);
}

loom_status_t DeviceConverter::convert(const void *source, size_t count, DType from,
                                       DType to, uint64_t target) {
  if (!handles(from, to))
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      std::string("no device conversion from ") + dtypeName(from) + " to " +
                          dtypeName(to));
  if (!module_)
    if (loom_status_t s = loadRuntimeKernels(device_, kConvertSource, "loom-convert.cu", arch_,
                                             "weight conversion kernels", &module_))
      return s;
  size_t bytes = count * static_cast<size_t>(dtypeSize(from));
  if (loom_status_t s = reserveDevice(device_, staging_, stagingBytes_, bytes))
    return s;
  if (loom_status_t s = loom_device_upload(device_, staging_, source, bytes))
    return s;
  std::string kernel =
      std::string("loom_convert_") + dtypeName(from) + "_" + dtypeName(to);
  uint64_t in = staging_, out = target;
  int64_t n = static_cast<int64_t>(count);
  void *args[] = {&in, &out, &n};
  uint64_t blocks = std::min<uint64_t>(65535, (count + 255) / 256);
  uint32_t grid[3] = {static_cast<uint32_t>(blocks ? blocks : 1), 1, 1};
  // The staging buffer is reused by the next tensor: finish this one first.
  if (loom_status_t s = loom_module_launch(module_, kernel.c_str(), grid, 256, args))
    return s;
  return loom_device_synchronize(device_);
}

} // namespace loom::rt
