/*===- loom/runtime.h - The C API of Loom's runtime ------------------------===*
 *
 * Opaque handles, a status object carrying a message, and out-parameters. Functions
 * are thread-safe unless noted. The runtime loads the CUDA driver (libcuda.so.1) with
 * dlopen on first use, so programs linking it start on machines without a GPU and get
 * a LOOM_STATUS_UNAVAILABLE status with the reason instead.
 *
 *===----------------------------------------------------------------------===*/

#ifndef LOOM_RUNTIME_H
#define LOOM_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this runtime, as "MAJOR.MINOR.PATCH". A static string. */
const char *loom_version(void);

/*===--------------------------------------------------------------------===*
 * Status
 *===--------------------------------------------------------------------===*/

typedef enum loom_status_code_t {
  LOOM_STATUS_OK = 0,
  LOOM_STATUS_INVALID_ARGUMENT = 1, /* a caller passed something malformed */
  LOOM_STATUS_NOT_FOUND = 2,        /* a file, device or name does not exist */
  LOOM_STATUS_UNAVAILABLE = 3,      /* no GPU or no driver on this machine */
  LOOM_STATUS_OUT_OF_MEMORY = 4,
  LOOM_STATUS_INTERNAL = 5, /* a CUDA or NVRTC call failed unexpectedly */
} loom_status_code_t;

/* A failure with its message. NULL means success; a non-NULL status is owned by the
 * caller and released with loom_status_free. */
typedef struct loom_status_s *loom_status_t;

loom_status_code_t loom_status_code(loom_status_t status);
/* The message; valid until the status is freed. "OK" for NULL. */
const char *loom_status_message(loom_status_t status);
void loom_status_free(loom_status_t status);

/*===--------------------------------------------------------------------===*
 * Devices
 *===--------------------------------------------------------------------===*/

typedef struct loom_device_info_t {
  int32_t ordinal;
  char name[256];
  int32_t compute_capability_major; /* 9 for an H100 */
  int32_t compute_capability_minor;
  int32_t multiprocessor_count;
  uint64_t total_memory_bytes;
} loom_device_info_t;

/* Number of CUDA devices visible to this process. Fails with LOOM_STATUS_UNAVAILABLE
 * when the driver cannot be loaded or initialized; with no device, sets 0 and succeeds. */
loom_status_t loom_device_count(int32_t *out_count);

/* Describes device `ordinal` (0-based). */
loom_status_t loom_device_info(int32_t ordinal, loom_device_info_t *out_info);

/*===--------------------------------------------------------------------===*
 * Device memory and kernels (the layer the model executor is built on)
 *===--------------------------------------------------------------------===*/

/* An open device: its primary context, made current on the calling thread by every
 * call that takes it. */
typedef struct loom_device_s *loom_device_t;
loom_status_t loom_device_open(int32_t ordinal, loom_device_t *out_device);
void loom_device_close(loom_device_t device);
/* The ordinal the device was opened with. */
int32_t loom_device_ordinal(loom_device_t device);

/* Device memory is addressed by 64-bit device pointers. */
loom_status_t loom_device_alloc(loom_device_t device, size_t bytes, uint64_t *out_pointer);
loom_status_t loom_device_free(loom_device_t device, uint64_t pointer);
loom_status_t loom_device_upload(loom_device_t device, uint64_t target, const void *source,
                                 size_t bytes);
loom_status_t loom_device_download(loom_device_t device, void *target, uint64_t source,
                                   size_t bytes);
/* Copies `bytes` between two device allocations (ordered after launched work). */
loom_status_t loom_device_copy(loom_device_t device, uint64_t target, uint64_t source,
                               size_t bytes);
/* Waits for all launched work; reports a kernel fault here. */
loom_status_t loom_device_synchronize(loom_device_t device);
/* Free and total device memory now. */
loom_status_t loom_device_memory_info(loom_device_t device, size_t *out_free,
                                      size_t *out_total);
/* Copies queued on the device's stream after launched work, returning at once; the
 * host memory must stay valid until the stream reaches them (loom_device_synchronize).
 * Page-locked host memory (loom_host_alloc) makes them truly asynchronous. */
loom_status_t loom_device_upload_async(loom_device_t device, uint64_t target,
                                       const void *source, size_t bytes);
loom_status_t loom_device_download_async(loom_device_t device, void *target,
                                         uint64_t source, size_t bytes);
/* Sets `bytes` of device memory to zero (queued on the device's stream). */
loom_status_t loom_device_zero(loom_device_t device, uint64_t target, size_t bytes);
/* Page-locked host memory for fast asynchronous copies. */
loom_status_t loom_host_alloc(loom_device_t device, size_t bytes, void **out_pointer);
void loom_host_free(loom_device_t device, void *pointer);

/* CUDA graphs: launches made on the device between capture_begin and capture_end are
 * recorded instead of run; launching the graph replays them with the same arguments
 * (pointers and sizes as they were when captured) at a fraction of the launch cost. */
typedef struct loom_graph_s *loom_graph_t;
loom_status_t loom_graph_capture_begin(loom_device_t device);
loom_status_t loom_graph_capture_end(loom_device_t device, loom_graph_t *out_graph);
loom_status_t loom_graph_launch(loom_graph_t graph);
void loom_graph_destroy(loom_graph_t graph);

/* A loaded cubin or PTX image (from loom_compile_cuda). */
typedef struct loom_module_s *loom_module_t;
loom_status_t loom_module_load(loom_device_t device, const void *image, size_t size,
                               loom_module_t *out_module);
void loom_module_unload(loom_module_t module);
/* Launches `kernel` on `grid` blocks of `threads` threads; `args[i]` points at the i-th
 * parameter's value (a uint64_t device pointer or an int64_t size). Asynchronous. */
loom_status_t loom_module_launch(loom_module_t module, const char *kernel,
                                 const uint32_t grid[3], uint32_t threads, void **args);
/* loom_module_launch with `shared_bytes` of dynamic shared memory per block (above
 * 48 KiB the kernel is opted in to the device's maximum first). */
loom_status_t loom_module_launch_shared(loom_module_t module, const char *kernel,
                                        const uint32_t grid[3], uint32_t threads,
                                        uint32_t shared_bytes, void **args);
/* loom_module_launch_shared with flags. LOOM_LAUNCH_PROGRAMMATIC: programmatic
 * dependent launch, the kernel may start while the previous kernel in the stream
 * finishes; it must wait for it itself (griddepcontrol.wait) before reading anything
 * that kernel may write. Honoured on sm_90 and later with a driver that has
 * cuLaunchKernelEx; elsewhere the launch is plain. */
#define LOOM_LAUNCH_PROGRAMMATIC 1u
loom_status_t loom_module_launch_ex(loom_module_t module, const char *kernel,
                                    const uint32_t grid[3], uint32_t threads,
                                    uint32_t shared_bytes, void **args, uint32_t flags);

/* GPU timestamps: record two events around launched work, then read the time between
 * them (waits for the second). */
typedef struct loom_event_s *loom_event_t;
loom_status_t loom_event_create(loom_device_t device, loom_event_t *out_event);
loom_status_t loom_event_record(loom_event_t event);
loom_status_t loom_event_elapsed_ms(loom_event_t start, loom_event_t end, float *out_ms);
/* Waits until the work queued before the event's last record has finished. */
loom_status_t loom_event_synchronize(loom_event_t event);
void loom_event_destroy(loom_event_t event);

/*===--------------------------------------------------------------------===*
 * Compiled models (artifacts written by `loom compile`)
 *===--------------------------------------------------------------------===*/

/* A host tensor: `dtype` is a safetensors name ("F32", "BF16", "I64", ...), the data
 * row-major little-endian. */
typedef struct loom_host_tensor_t {
  const char *name;
  const char *dtype;
  int32_t rank;
  int64_t shape[8];
  void *data;
  size_t bytes;
} loom_host_tensor_t;

/* A device tensor: like loom_host_tensor_t, with the data in device memory. */
typedef struct loom_device_tensor_t {
  const char *name;
  const char *dtype;
  int32_t rank;
  int64_t shape[8];
  uint64_t pointer;
  size_t bytes;
} loom_device_tensor_t;

typedef struct loom_model_s *loom_model_t;
/* Loads the artifact folder `artifact` (manifest.json, kernels.cu) for `device`,
 * compiling its kernels with NVRTC for the device's architecture, or taking them from
 * the kernel cache: $LOOM_CACHE_DIR (LOOM_CACHE_DIR=off bypasses it), else
 * $XDG_CACHE_HOME/loom, else ~/.cache/loom. */
loom_status_t loom_model_load(loom_device_t device, const char *artifact,
                              loom_model_t *out_model);
void loom_model_free(loom_model_t model);
/* Uploads every weight the manifest names from `path` (a Hugging Face folder or one
 * .safetensors file), converted to the compiled element type. */
loom_status_t loom_model_bind_weights(loom_model_t model, const char *path);
/* Called after each weight is uploaded: weights done of total, checkpoint bytes done of
 * total. */
typedef void (*loom_progress_fn)(void *user, size_t done, size_t total, uint64_t done_bytes,
                                 uint64_t total_bytes);
/* loom_model_bind_weights, reporting progress to `progress` (may be NULL). */
loom_status_t loom_model_bind_weights_with_progress(loom_model_t model, const char *path,
                                                    loom_progress_fn progress, void *user);
size_t loom_model_num_outputs(loom_model_t model);
/* 1 when all of the model's kernels came from the kernel cache, else 0. Kernels are
 * compiled as several NVRTC programs in parallel threads ($LOOM_COMPILE_THREADS, else
 * one per core up to 16). */
int loom_model_kernels_cached(loom_model_t model);
/* What went wrong with the cache while loading ("" when nothing did); a static string
 * valid until the model is freed. */
const char *loom_model_cache_note(loom_model_t model);
/* Runs the model. Inputs are matched by name (ones with a default may be left out);
 * `outputs` receives the outputs in manifest order, each `data` allocated by the
 * runtime and released with loom_free. */
loom_status_t loom_model_run(loom_model_t model, const loom_host_tensor_t *inputs,
                             size_t num_inputs, loom_host_tensor_t *outputs,
                             size_t num_outputs);
/* loom_model_run on device tensors: inputs are read in place and must have the compiled
 * element types; each output is copied to device memory allocated for it, which the
 * caller releases with loom_device_free. An output the model updates in place (a KV
 * cache written by a serving step) is its input: its slot gets the input's pointer,
 * which the caller must not free twice. */
loom_status_t loom_model_run_device(loom_model_t model, const loom_device_tensor_t *inputs,
                                    size_t num_inputs, loom_device_tensor_t *outputs,
                                    size_t num_outputs);
/* Profiling: with `on` nonzero, every later run times each launch with GPU events and
 * adds it to per-kernel totals, and times its host phases (input conversion, memory
 * plan, uploads, launches, the wait, downloads); this call resets them. Runs are slower
 * while on. */
loom_status_t loom_model_set_profiling(loom_model_t model, int on);
/* The per-kernel totals since profiling was turned on, as a text table sorted by time
 * (kernel, launches, total and mean time, share); valid until the next call or
 * until the model is freed. */
const char *loom_model_profile(loom_model_t model);

/*===--------------------------------------------------------------------===*
 * Kernel compilation (NVRTC, loaded with dlopen; needs no GPU)
 *===--------------------------------------------------------------------===*/

/* Compiles CUDA C++ `source` (called `name` in messages) for GPU architecture `arch`:
 * "sm_80", "sm_90a", ... give a cubin, "compute_90" PTX. On success *out_binary holds
 * *out_size bytes, released with loom_free. Fails with LOOM_STATUS_UNAVAILABLE when
 * NVRTC cannot be loaded and LOOM_STATUS_INVALID_ARGUMENT, carrying the compiler's log,
 * when the source does not compile. */
loom_status_t loom_compile_cuda(const char *source, const char *name, const char *arch,
                                void **out_binary, size_t *out_size);

/* NVRTC's version as "MAJOR.MINOR", written to `out` (`capacity` bytes, NUL included). */
loom_status_t loom_nvrtc_version(char *out, size_t capacity);

/* Releases memory the runtime handed out. NULL is ignored. */
void loom_free(void *memory);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LOOM_RUNTIME_H */
