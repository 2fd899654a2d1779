//===- CudaDriver.h - The CUDA driver API, loaded with dlopen -----*- C++ -*-===//
//
// The runtime links nothing from CUDA: the driver may be missing on the machine that
// runs a Loom program. The few declarations needed are restated here from the CUDA
// Driver API reference, so the runtime also builds without the toolkit's headers.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_CUDADRIVER_H
#define LOOM_RUNTIME_CUDADRIVER_H

#include <cstddef>
#include <string>

namespace loom::rt {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctxOpaque *;
using CUmodule = struct CUmodOpaque *;
using CUfunction = struct CUfuncOpaque *;
using CUstream = struct CUstreamOpaque *;
using CUevent = struct CUeventOpaque *;
using CUgraph = struct CUgraphOpaque *;
using CUgraphExec = struct CUgraphExecOpaque *;

constexpr CUresult kCudaSuccess = 0;
constexpr CUresult kCudaErrorNoDevice = 100;
constexpr int kAttrMultiprocessorCount = 16;
constexpr int kAttrComputeCapabilityMajor = 75;
constexpr int kAttrComputeCapabilityMinor = 76;
constexpr int kFuncAttrMaxDynamicSharedSizeBytes = 8;
/// CUfunction_attribute values read for LOOM_DEBUG's per-kernel line.
constexpr int kFuncAttrSharedSizeBytes = 1;
constexpr int kFuncAttrLocalSizeBytes = 3;
constexpr int kFuncAttrNumRegs = 4;
/// CU_STREAM_CAPTURE_MODE_RELAXED: other threads' CUDA calls do not break a capture.
constexpr int kStreamCaptureModeRelaxed = 2;
/// CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION: the kernel may start before
/// the previous one in the stream ends; it waits for it by griddepcontrol.wait.
constexpr int kLaunchAttrProgrammaticStreamSerialization = 6;

/// CUlaunchAttribute: an attribute id, padded to 8 bytes, and a 64-byte value (the
/// first int of which is the programmatic-serialization flag).
struct CUlaunchAttribute {
  int id;
  char pad[4];
  union {
    char bytes[64];
    int programmaticStreamSerializationAllowed;
  } value;
};
/// CUlaunchConfig of cuLaunchKernelEx.
struct CUlaunchConfig {
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  CUstream hStream;
  CUlaunchAttribute *attrs;
  unsigned numAttrs;
};

/// Entry points of libcuda.so.1 used by the runtime.
struct CudaDriver {
  CUresult (*init)(unsigned flags);
  CUresult (*deviceGetCount)(int *count);
  CUresult (*deviceGet)(CUdevice *device, int ordinal);
  CUresult (*deviceGetName)(char *name, int length, CUdevice device);
  CUresult (*deviceGetAttribute)(int *value, int attribute, CUdevice device);
  CUresult (*deviceTotalMem)(size_t *bytes, CUdevice device);
  CUresult (*getErrorString)(CUresult result, const char **text);
  CUresult (*primaryCtxRetain)(CUcontext *context, CUdevice device);
  CUresult (*primaryCtxRelease)(CUdevice device);
  CUresult (*ctxSetCurrent)(CUcontext context);
  CUresult (*ctxSynchronize)();
  CUresult (*moduleLoadData)(CUmodule *module, const void *image);
  CUresult (*moduleUnload)(CUmodule module);
  CUresult (*moduleGetFunction)(CUfunction *function, CUmodule module, const char *name);
  CUresult (*funcSetAttribute)(CUfunction function, int attribute, int value);
  CUresult (*funcGetAttribute)(int *value, int attribute, CUfunction function);
  CUresult (*memAlloc)(CUdeviceptr *pointer, size_t bytes);
  CUresult (*memFree)(CUdeviceptr pointer);
  CUresult (*memcpyHtoD)(CUdeviceptr target, const void *source, size_t bytes);
  CUresult (*memcpyDtoH)(void *target, CUdeviceptr source, size_t bytes);
  CUresult (*memcpyDtoD)(CUdeviceptr target, CUdeviceptr source, size_t bytes);
  CUresult (*launchKernel)(CUfunction function, unsigned gridX, unsigned gridY, unsigned gridZ,
                           unsigned blockX, unsigned blockY, unsigned blockZ,
                           unsigned sharedBytes, CUstream stream, void **params, void **extra);
  /// Null when the driver predates it (CUDA 12.0); launches then stay plain.
  CUresult (*launchKernelEx)(const CUlaunchConfig *config, CUfunction function,
                             void **params, void **extra);
  CUresult (*eventCreate)(CUevent *event, unsigned flags);
  CUresult (*eventRecord)(CUevent event, CUstream stream);
  CUresult (*eventSynchronize)(CUevent event);
  CUresult (*eventElapsedTime)(float *milliseconds, CUevent start, CUevent end);
  CUresult (*eventDestroy)(CUevent event);
  CUresult (*memGetInfo)(size_t *free, size_t *total);
  CUresult (*streamCreate)(CUstream *stream, unsigned flags);
  CUresult (*streamDestroy)(CUstream stream);
  CUresult (*memcpyHtoDAsync)(CUdeviceptr target, const void *source, size_t bytes,
                              CUstream stream);
  CUresult (*memcpyDtoHAsync)(void *target, CUdeviceptr source, size_t bytes,
                              CUstream stream);
  CUresult (*memsetD8Async)(CUdeviceptr target, unsigned char value, size_t bytes,
                            CUstream stream);
  CUresult (*streamBeginCapture)(CUstream stream, int mode);
  CUresult (*streamEndCapture)(CUstream stream, CUgraph *graph);
  CUresult (*graphInstantiate)(CUgraphExec *exec, CUgraph graph, unsigned long long flags);
  CUresult (*graphLaunch)(CUgraphExec exec, CUstream stream);
  CUresult (*graphExecDestroy)(CUgraphExec exec);
  CUresult (*graphDestroy)(CUgraph graph);
  CUresult (*memAllocHost)(void **pointer, size_t bytes);
  CUresult (*memFreeHost)(void *pointer);
  /// True when cuInit reported that the machine has no CUDA device.
  bool noDevice = false;

  /// "cuDeviceGet failed: CUDA_ERROR_INVALID_DEVICE (101): invalid device ordinal".
  std::string describe(const char *call, CUresult result) const;
};

/// Loads and initializes the driver on first use (thread-safe). The library is
/// `$LOOM_CUDA_DRIVER` if set, else libcuda.so.1. Returns null with the reason in
/// `error` when it cannot be loaded or initialized.
const CudaDriver *getCudaDriver(std::string &error);

} // namespace loom::rt

#endif // LOOM_RUNTIME_CUDADRIVER_H
