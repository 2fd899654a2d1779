//===- CudaDriver.cpp - Loading libcuda.so.1 at run time --------------------===//

#include "CudaDriver.h"
#include "Symbols.h"

#include <cstdlib>
#include <dlfcn.h>
#include <mutex>

namespace loom::rt {

namespace {

struct LoadedDriver {
  CudaDriver driver{};
  std::string error; // empty when the driver loaded and initialized
};

/// Resolves one driver entry point (see resolveSymbol).
template <typename Fn>
void resolve(void *library, const char *symbol, Fn &slot, std::string &error) {
  resolveSymbol(library, symbol, slot, error, "the CUDA driver",
                " (the driver is older than the runtime needs)");
}

LoadedDriver load() {
  LoadedDriver loaded;
  const char *override = std::getenv("LOOM_CUDA_DRIVER");
  const char *path = override && *override ? override : "libcuda.so.1";
  void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char *reason = dlerror();
    loaded.error = std::string("no CUDA driver: cannot load ") + path + " (" +
                   (reason ? reason : "unknown reason") +
                   "); this machine has no NVIDIA driver or GPU";
    return loaded;
  }
  CudaDriver &d = loaded.driver;
  std::string &error = loaded.error;
  resolve(library, "cuInit", d.init, error);
  resolve(library, "cuDeviceGetCount", d.deviceGetCount, error);
  resolve(library, "cuDeviceGet", d.deviceGet, error);
  resolve(library, "cuDeviceGetName", d.deviceGetName, error);
  resolve(library, "cuDeviceGetAttribute", d.deviceGetAttribute, error);
  resolve(library, "cuDeviceTotalMem_v2", d.deviceTotalMem, error);
  resolve(library, "cuGetErrorString", d.getErrorString, error);
  resolve(library, "cuDevicePrimaryCtxRetain", d.primaryCtxRetain, error);
  resolve(library, "cuDevicePrimaryCtxRelease_v2", d.primaryCtxRelease, error);
  resolve(library, "cuCtxSetCurrent", d.ctxSetCurrent, error);
  resolve(library, "cuCtxSynchronize", d.ctxSynchronize, error);
  resolve(library, "cuModuleLoadData", d.moduleLoadData, error);
  resolve(library, "cuModuleUnload", d.moduleUnload, error);
  resolve(library, "cuModuleGetFunction", d.moduleGetFunction, error);
  resolve(library, "cuFuncSetAttribute", d.funcSetAttribute, error);
  resolve(library, "cuFuncGetAttribute", d.funcGetAttribute, error);
  resolve(library, "cuMemAlloc_v2", d.memAlloc, error);
  resolve(library, "cuMemFree_v2", d.memFree, error);
  resolve(library, "cuMemcpyHtoD_v2", d.memcpyHtoD, error);
  resolve(library, "cuMemcpyDtoH_v2", d.memcpyDtoH, error);
  resolve(library, "cuMemcpyDtoD_v2", d.memcpyDtoD, error);
  resolve(library, "cuLaunchKernel", d.launchKernel, error);
  d.launchKernelEx =
      reinterpret_cast<decltype(d.launchKernelEx)>(dlsym(library, "cuLaunchKernelEx"));
  resolve(library, "cuEventCreate", d.eventCreate, error);
  resolve(library, "cuEventRecord", d.eventRecord, error);
  resolve(library, "cuEventSynchronize", d.eventSynchronize, error);
  resolve(library, "cuEventElapsedTime", d.eventElapsedTime, error);
  resolve(library, "cuEventDestroy_v2", d.eventDestroy, error);
  resolve(library, "cuMemGetInfo_v2", d.memGetInfo, error);
  resolve(library, "cuStreamCreate", d.streamCreate, error);
  resolve(library, "cuStreamDestroy_v2", d.streamDestroy, error);
  resolve(library, "cuMemcpyHtoDAsync_v2", d.memcpyHtoDAsync, error);
  resolve(library, "cuMemcpyDtoHAsync_v2", d.memcpyDtoHAsync, error);
  resolve(library, "cuMemsetD8Async", d.memsetD8Async, error);
  resolve(library, "cuStreamBeginCapture_v2", d.streamBeginCapture, error);
  resolve(library, "cuStreamEndCapture", d.streamEndCapture, error);
  resolve(library, "cuGraphInstantiateWithFlags", d.graphInstantiate, error);
  resolve(library, "cuGraphLaunch", d.graphLaunch, error);
  resolve(library, "cuGraphExecDestroy", d.graphExecDestroy, error);
  resolve(library, "cuGraphDestroy", d.graphDestroy, error);
  resolve(library, "cuMemAllocHost_v2", d.memAllocHost, error);
  resolve(library, "cuMemFreeHost", d.memFreeHost, error);
  if (!error.empty())
    return loaded;
  CUresult result = d.init(0);
  if (result == kCudaErrorNoDevice)
    d.noDevice = true;
  else if (result != kCudaSuccess)
    error = "no usable CUDA driver: " + d.describe("cuInit", result);
  return loaded;
}

} // namespace

std::string CudaDriver::describe(const char *call, CUresult result) const {
  const char *text = nullptr;
  if (!getErrorString || getErrorString(result, &text) != kCudaSuccess || !text)
    text = "unknown error";
  return std::string(call) + " failed with CUDA error " + std::to_string(result) + ": " +
         text;
}

const CudaDriver *getCudaDriver(std::string &error) {
  static LoadedDriver loaded = load();
  if (!loaded.error.empty()) {
    error = loaded.error;
    return nullptr;
  }
  return &loaded.driver;
}

} // namespace loom::rt
