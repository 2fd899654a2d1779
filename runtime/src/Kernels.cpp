//===- Kernels.cpp - Devices, device memory and kernel launches -------------===//

#include "CudaDriver.h"
#include "Status.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>

using namespace loom::rt;

struct loom_device_s {
  int32_t ordinal;
  const CudaDriver *driver;
  CUdevice device;
  CUcontext context;
  /// Every launch, event and asynchronous copy goes to this stream (a blocking one:
  /// synchronous copies on the legacy stream stay ordered with it), so launches can be
  /// captured into CUDA graphs.
  CUstream stream = nullptr;
  /// Whether launches can be programmatic (sm_90 on, a driver with cuLaunchKernelEx).
  bool programmatic = false;
};

struct loom_graph_s {
  loom_device_t device;
  CUgraph graph;
  CUgraphExec exec;
};

struct loom_module_s {
  loom_device_t device;
  CUmodule module;
  /// Functions looked up so far, by name (launches happen per step; lookups once), with
  /// the dynamic shared memory each was opted in to.
  struct Function {
    CUfunction function = nullptr;
    uint32_t sharedLimit = 48 * 1024;
  };
  std::unordered_map<std::string, Function> functions;
  std::mutex lock;
};

struct loom_event_s {
  loom_device_t device;
  CUevent event;
};

namespace {

/// Makes the device's context current; a failure status otherwise.
loom_status_t enter(loom_device_t device, const char *call) {
  if (!device)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      std::string(call) + ": device is null");
  CUresult result = device->driver->ctxSetCurrent(device->context);
  if (result != kCudaSuccess)
    return makeStatus(LOOM_STATUS_INTERNAL,
                      device->driver->describe("cuCtxSetCurrent", result));
  return nullptr;
}

loom_status_t check(loom_device_t device, const char *call, CUresult result) {
  if (result == kCudaSuccess)
    return nullptr;
  constexpr CUresult kOutOfMemory = 2;
  return makeStatus(result == kOutOfMemory ? LOOM_STATUS_OUT_OF_MEMORY
                                           : LOOM_STATUS_INTERNAL,
                    device->driver->describe(call, result));
}

} // namespace

extern "C" {

loom_status_t loom_device_open(int32_t ordinal, loom_device_t *out_device) {
  if (!out_device)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_device_open: out_device is null");
  *out_device = nullptr;
  int32_t count = 0;
  if (loom_status_t status = loom_device_count(&count))
    return status;
  if (ordinal < 0 || ordinal >= count)
    return makeStatus(LOOM_STATUS_NOT_FOUND, "no CUDA device " + std::to_string(ordinal) +
                                                 "; this machine has " +
                                                 std::to_string(count));
  std::string error;
  const CudaDriver *driver = getCudaDriver(error);
  auto *device = new loom_device_s{ordinal, driver, 0, nullptr};
  CUresult result = driver->deviceGet(&device->device, ordinal);
  if (result == kCudaSuccess)
    result = driver->primaryCtxRetain(&device->context, device->device);
  if (result != kCudaSuccess) {
    delete device;
    return makeStatus(LOOM_STATUS_INTERNAL,
                      driver->describe("cuDevicePrimaryCtxRetain", result));
  }
  result = driver->ctxSetCurrent(device->context);
  if (result == kCudaSuccess)
    result = driver->streamCreate(&device->stream, 0);
  int major = 0;
  if (result == kCudaSuccess &&
      driver->deviceGetAttribute(&major, kAttrComputeCapabilityMajor, device->device) ==
          kCudaSuccess)
    device->programmatic = major >= 9 && driver->launchKernelEx;
  if (result != kCudaSuccess) {
    driver->primaryCtxRelease(device->device);
    delete device;
    return makeStatus(LOOM_STATUS_INTERNAL, driver->describe("cuStreamCreate", result));
  }
  *out_device = device;
  return nullptr;
}

int32_t loom_device_ordinal(loom_device_t device) {
  return device ? device->ordinal : -1;
}

void loom_device_close(loom_device_t device) {
  if (!device)
    return;
  if (!enter(device, "loom_device_close") && device->stream)
    device->driver->streamDestroy(device->stream);
  device->driver->primaryCtxRelease(device->device);
  delete device;
}

loom_status_t loom_device_alloc(loom_device_t device, size_t bytes,
                                uint64_t *out_pointer) {
  if (loom_status_t status = enter(device, "loom_device_alloc"))
    return status;
  if (!out_pointer)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_device_alloc: out_pointer is null");
  CUdeviceptr pointer = 0;
  if (loom_status_t status = check(device, "cuMemAlloc",
                                   device->driver->memAlloc(&pointer, bytes ? bytes : 1)))
    return status;
  *out_pointer = pointer;
  return nullptr;
}

loom_status_t loom_device_free(loom_device_t device, uint64_t pointer) {
  if (loom_status_t status = enter(device, "loom_device_free"))
    return status;
  return check(device, "cuMemFree", device->driver->memFree(pointer));
}

loom_status_t loom_device_upload(loom_device_t device, uint64_t target,
                                 const void *source, size_t bytes) {
  if (loom_status_t status = enter(device, "loom_device_upload"))
    return status;
  if (bytes == 0)
    return nullptr;
  return check(device, "cuMemcpyHtoD", device->driver->memcpyHtoD(target, source, bytes));
}

loom_status_t loom_device_download(loom_device_t device, void *target, uint64_t source,
                                   size_t bytes) {
  if (loom_status_t status = enter(device, "loom_device_download"))
    return status;
  if (bytes == 0)
    return nullptr;
  return check(device, "cuMemcpyDtoH", device->driver->memcpyDtoH(target, source, bytes));
}

loom_status_t loom_device_copy(loom_device_t device, uint64_t target, uint64_t source,
                               size_t bytes) {
  if (loom_status_t status = enter(device, "loom_device_copy"))
    return status;
  if (bytes == 0)
    return nullptr;
  return check(device, "cuMemcpyDtoD", device->driver->memcpyDtoD(target, source, bytes));
}

loom_status_t loom_device_memory_info(loom_device_t device, size_t *out_free,
                                      size_t *out_total) {
  if (loom_status_t status = enter(device, "loom_device_memory_info"))
    return status;
  if (!out_free || !out_total)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_device_memory_info: out_free and out_total are required");
  return check(device, "cuMemGetInfo", device->driver->memGetInfo(out_free, out_total));
}

loom_status_t loom_device_upload_async(loom_device_t device, uint64_t target,
                                       const void *source, size_t bytes) {
  if (loom_status_t status = enter(device, "loom_device_upload_async"))
    return status;
  if (bytes == 0)
    return nullptr;
  return check(device, "cuMemcpyHtoDAsync",
               device->driver->memcpyHtoDAsync(target, source, bytes, device->stream));
}

loom_status_t loom_device_download_async(loom_device_t device, void *target,
                                         uint64_t source, size_t bytes) {
  if (loom_status_t status = enter(device, "loom_device_download_async"))
    return status;
  if (bytes == 0)
    return nullptr;
  return check(device, "cuMemcpyDtoHAsync",
               device->driver->memcpyDtoHAsync(target, source, bytes, device->stream));
}

loom_status_t loom_device_zero(loom_device_t device, uint64_t target, size_t bytes) {
  if (loom_status_t status = enter(device, "loom_device_zero"))
    return status;
  if (bytes == 0)
    return nullptr;
  return check(device, "cuMemsetD8Async",
               device->driver->memsetD8Async(target, 0, bytes, device->stream));
}

loom_status_t loom_host_alloc(loom_device_t device, size_t bytes, void **out_pointer) {
  if (loom_status_t status = enter(device, "loom_host_alloc"))
    return status;
  if (!out_pointer)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, "loom_host_alloc: out_pointer is null");
  return check(device, "cuMemAllocHost",
               device->driver->memAllocHost(out_pointer, bytes ? bytes : 1));
}

void loom_host_free(loom_device_t device, void *pointer) {
  if (pointer && !enter(device, "loom_host_free"))
    device->driver->memFreeHost(pointer);
}

loom_status_t loom_graph_capture_begin(loom_device_t device) {
  if (loom_status_t status = enter(device, "loom_graph_capture_begin"))
    return status;
  return check(device, "cuStreamBeginCapture",
               device->driver->streamBeginCapture(device->stream,
                                                  kStreamCaptureModeRelaxed));
}

loom_status_t loom_graph_capture_end(loom_device_t device, loom_graph_t *out_graph) {
  if (loom_status_t status = enter(device, "loom_graph_capture_end"))
    return status;
  if (!out_graph)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_graph_capture_end: out_graph is null");
  *out_graph = nullptr;
  CUgraph graph = nullptr;
  if (loom_status_t status =
          check(device, "cuStreamEndCapture",
                device->driver->streamEndCapture(device->stream, &graph)))
    return status;
  CUgraphExec exec = nullptr;
  if (loom_status_t status = check(device, "cuGraphInstantiate",
                                   device->driver->graphInstantiate(&exec, graph, 0))) {
    device->driver->graphDestroy(graph);
    return status;
  }
  *out_graph = new loom_graph_s{device, graph, exec};
  return nullptr;
}

loom_status_t loom_graph_launch(loom_graph_t graph) {
  if (!graph)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, "loom_graph_launch: graph is null");
  if (loom_status_t status = enter(graph->device, "loom_graph_launch"))
    return status;
  return check(graph->device, "cuGraphLaunch",
               graph->device->driver->graphLaunch(graph->exec, graph->device->stream));
}

void loom_graph_destroy(loom_graph_t graph) {
  if (!graph)
    return;
  if (!enter(graph->device, "loom_graph_destroy")) {
    graph->device->driver->graphExecDestroy(graph->exec);
    graph->device->driver->graphDestroy(graph->graph);
  }
  delete graph;
}

loom_status_t loom_device_synchronize(loom_device_t device) {
  if (loom_status_t status = enter(device, "loom_device_synchronize"))
    return status;
  return check(device, "cuCtxSynchronize", device->driver->ctxSynchronize());
}

loom_status_t loom_module_load(loom_device_t device, const void *image, size_t size,
                               loom_module_t *out_module) {
  if (loom_status_t status = enter(device, "loom_module_load"))
    return status;
  if (!image || !size || !out_module)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_module_load: image, size and out_module are required");
  CUmodule module = nullptr;
  if (loom_status_t status = check(device, "cuModuleLoadData",
                                   device->driver->moduleLoadData(&module, image)))
    return status;
  *out_module = new loom_module_s{device, module, {}, {}};
  return nullptr;
}

void loom_module_unload(loom_module_t module) {
  if (!module)
    return;
  if (!enter(module->device, "loom_module_unload"))
    module->device->driver->moduleUnload(module->module);
  delete module;
}

loom_status_t loom_module_launch(loom_module_t module, const char *kernel,
                                 const uint32_t grid[3], uint32_t threads, void **args) {
  return loom_module_launch_shared(module, kernel, grid, threads, 0, args);
}

loom_status_t loom_module_launch_shared(loom_module_t module, const char *kernel,
                                        const uint32_t grid[3], uint32_t threads,
                                        uint32_t shared_bytes, void **args) {
  return loom_module_launch_ex(module, kernel, grid, threads, shared_bytes, args, 0);
}

namespace {

/// Under LOOM_DEBUG (any value but 0), a line per kernel the first time it is looked
/// up: its registers per thread, local memory per thread (spills and local arrays) and
/// static shared memory, the figures that explain an occupancy or a slow kernel.
void logKernelResources(loom_device_t device, const char *kernel, CUfunction function) {
  static const bool enabled = [] {
    const char *value = std::getenv("LOOM_DEBUG");
    return value && *value && std::string(value) != "0";
  }();
  if (!enabled)
    return;
  int registers = -1, local = -1, shared = -1;
  device->driver->funcGetAttribute(&registers, kFuncAttrNumRegs, function);
  device->driver->funcGetAttribute(&local, kFuncAttrLocalSizeBytes, function);
  device->driver->funcGetAttribute(&shared, kFuncAttrSharedSizeBytes, function);
  std::fprintf(stderr,
               "loom: kernel %s: %d registers, %d bytes local (spills), %d bytes static "
               "shared\n",
               kernel, registers, local, shared);
}

} // namespace

loom_status_t loom_module_launch_ex(loom_module_t module, const char *kernel,
                                    const uint32_t grid[3], uint32_t threads,
                                    uint32_t shared_bytes, void **args, uint32_t flags) {
  if (!module || !kernel || !grid)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_module_launch: module, kernel and grid are required");
  loom_device_t device = module->device;
  if (loom_status_t status = enter(device, "loom_module_launch"))
    return status;
  CUfunction function = nullptr;
  {
    std::lock_guard<std::mutex> guard(module->lock);
    auto found = module->functions.find(kernel);
    if (found == module->functions.end()) {
      loom_module_s::Function entry;
      CUresult result =
          device->driver->moduleGetFunction(&entry.function, module->module, kernel);
      if (result != kCudaSuccess)
        return makeStatus(LOOM_STATUS_NOT_FOUND,
                          "the module has no kernel '" + std::string(kernel) + "': " +
                              device->driver->describe("cuModuleGetFunction", result));
      found = module->functions.emplace(kernel, entry).first;
      logKernelResources(device, kernel, entry.function);
    }
    if (shared_bytes > found->second.sharedLimit) {
      if (loom_status_t status = check(
              device, "cuFuncSetAttribute",
              device->driver->funcSetAttribute(found->second.function,
                                               kFuncAttrMaxDynamicSharedSizeBytes,
                                               static_cast<int>(shared_bytes))))
        return status;
      found->second.sharedLimit = shared_bytes;
    }
    function = found->second.function;
  }
  if ((flags & LOOM_LAUNCH_PROGRAMMATIC) && device->programmatic) {
    CUlaunchAttribute attribute = {};
    attribute.id = kLaunchAttrProgrammaticStreamSerialization;
    attribute.value.programmaticStreamSerializationAllowed = 1;
    CUlaunchConfig config = {grid[0], grid[1],      grid[2],        threads,    1,
                             1,       shared_bytes, device->stream, &attribute, 1};
    return check(device, "cuLaunchKernelEx",
                 device->driver->launchKernelEx(&config, function, args, nullptr));
  }
  return check(device, "cuLaunchKernel",
               device->driver->launchKernel(function, grid[0], grid[1], grid[2], threads,
                                            1, 1, shared_bytes, device->stream, args,
                                            nullptr));
}

loom_status_t loom_event_create(loom_device_t device, loom_event_t *out_event) {
  if (loom_status_t status = enter(device, "loom_event_create"))
    return status;
  if (!out_event)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, "loom_event_create: out_event is null");
  CUevent event = nullptr;
  if (loom_status_t status =
          check(device, "cuEventCreate", device->driver->eventCreate(&event, 0)))
    return status;
  *out_event = new loom_event_s{device, event};
  return nullptr;
}

loom_status_t loom_event_record(loom_event_t event) {
  if (!event)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, "loom_event_record: event is null");
  if (loom_status_t status = enter(event->device, "loom_event_record"))
    return status;
  return check(event->device, "cuEventRecord",
               event->device->driver->eventRecord(event->event, event->device->stream));
}

loom_status_t loom_event_elapsed_ms(loom_event_t start, loom_event_t end, float *out_ms) {
  if (!start || !end || !out_ms || start->device != end->device)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_event_elapsed_ms: two events of one device and out_ms");
  loom_device_t device = end->device;
  if (loom_status_t status = enter(device, "loom_event_elapsed_ms"))
    return status;
  if (loom_status_t status = check(device, "cuEventSynchronize",
                                   device->driver->eventSynchronize(end->event)))
    return status;
  return check(device, "cuEventElapsedTime",
               device->driver->eventElapsedTime(out_ms, start->event, end->event));
}

loom_status_t loom_event_synchronize(loom_event_t event) {
  if (!event)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_event_synchronize: event is null");
  if (loom_status_t status = enter(event->device, "loom_event_synchronize"))
    return status;
  return check(event->device, "cuEventSynchronize",
               event->device->driver->eventSynchronize(event->event));
}

void loom_event_destroy(loom_event_t event) {
  if (!event)
    return;
  if (!enter(event->device, "loom_event_destroy"))
    event->device->driver->eventDestroy(event->event);
  delete event;
}

} // extern "C"
