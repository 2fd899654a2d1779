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
