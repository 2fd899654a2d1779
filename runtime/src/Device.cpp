//===- Device.cpp - Listing and describing CUDA devices ---------------------===//

#include "CudaDriver.h"
#include "Status.h"

#include <cstring>

using namespace loom::rt;

extern "C" {

loom_status_t loom_device_count(int32_t *out_count) {
  if (!out_count)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, "loom_device_count: out_count is null");
  *out_count = 0;
  std::string error;
  const CudaDriver *driver = getCudaDriver(error);
  if (!driver)
    return makeStatus(LOOM_STATUS_UNAVAILABLE, error);
  if (driver->noDevice)
    return nullptr;
  int count = 0;
  if (CUresult result = driver->deviceGetCount(&count); result != kCudaSuccess)
    return makeStatus(LOOM_STATUS_INTERNAL, driver->describe("cuDeviceGetCount", result));
  *out_count = count;
  return nullptr;
}

loom_status_t loom_device_info(int32_t ordinal, loom_device_info_t *out_info) {
  if (!out_info)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, "loom_device_info: out_info is null");
  int32_t count = 0;
  if (loom_status_t status = loom_device_count(&count))
    return status;
  if (ordinal < 0 || ordinal >= count)
    return makeStatus(LOOM_STATUS_NOT_FOUND,
                      "no CUDA device " + std::to_string(ordinal) + "; this machine has " +
                          std::to_string(count));
  std::string error;
  const CudaDriver *driver = getCudaDriver(error);
  loom_device_info_t info{};
  info.ordinal = ordinal;
  CUdevice device = 0;
  CUresult result = driver->deviceGet(&device, ordinal);
  if (result == kCudaSuccess)
    result = driver->deviceGetName(info.name, sizeof(info.name), device);
  if (result == kCudaSuccess)
    result = driver->deviceGetAttribute(&info.compute_capability_major,
                                        kAttrComputeCapabilityMajor, device);
  if (result == kCudaSuccess)
    result = driver->deviceGetAttribute(&info.compute_capability_minor,
                                        kAttrComputeCapabilityMinor, device);
  if (result == kCudaSuccess)
    result = driver->deviceGetAttribute(&info.multiprocessor_count,
                                        kAttrMultiprocessorCount, device);
  size_t bytes = 0;
  if (result == kCudaSuccess)
    result = driver->deviceTotalMem(&bytes, device);
  if (result != kCudaSuccess)
    return makeStatus(LOOM_STATUS_INTERNAL,
                      driver->describe("querying CUDA device properties", result));
  info.name[sizeof(info.name) - 1] = '\0';
  info.total_memory_bytes = bytes;
  *out_info = info;
  return nullptr;
}

} // extern "C"
