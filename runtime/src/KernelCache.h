//===- KernelCache.h - Compiled kernels on disk -----------------*- C++ -*-===//
//
// NVRTC output keyed by everything that determines it: the source, the architecture,
// NVRTC's version and the compile options. Entries live in `$LOOM_CACHE_DIR`, else
// `$XDG_CACHE_HOME/loom`, else `~/.cache/loom`; `LOOM_CACHE_DIR=off` bypasses the
// cache. An entry is written to a temporary file and renamed, so readers never see a
// partial one, and carries its length and checksum, so a corrupt entry is detected,
// removed and rebuilt.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_KERNELCACHE_H
#define LOOM_RUNTIME_KERNELCACHE_H

#include "Nvrtc.h"
#include "loom/runtime.h"

#include <string>
#include <vector>

namespace loom::rt {

struct CachedCompile {
  std::string binary;
  bool hit = false;
  /// Why the cache was not used or an entry was rebuilt ("" when all went well).
  std::string note;
};

/// compileCuda through the on-disk cache. Cache trouble (an unwritable directory, a
/// corrupt entry) never fails the compile; it is reported in `result.note`.
bool compileCached(const std::string &source, const std::string &name, const std::string &arch,
                   CachedCompile &result, std::string &error);

/// Compiles a runtime-internal kernel source through the cache and loads it on
/// `device` (what `what` names in the error); the weight converter and the sampler.
loom_status_t loadRuntimeKernels(loom_device_t device, const std::string &source,
                                 const std::string &name, const std::string &arch,
                                 const std::string &what, loom_module_t *module);

/// One NVRTC program of a split compile: the kernels it defines and its cubin.
struct CompiledPart {
  std::vector<std::string> kernels;
  CachedCompile compiled;
};

/// Compiles a generated kernels.cu as several NVRTC programs in parallel threads, each
/// through the cache: the source is cut at its `//@loom-kernel <name>` marker lines
/// into the prelude (everything before the first marker) and one section per kernel;
/// the sections are dealt round-robin into at most `threads` programs, each the prelude
/// plus its sections. A source without markers is one program. `threads` 0 means
/// `$LOOM_COMPILE_THREADS`, else the number of cores, at most 16.
bool compileSplit(const std::string &source, const std::string &name, const std::string &arch,
                  unsigned threads, std::vector<CompiledPart> &parts, std::string &error);

} // namespace loom::rt

#endif // LOOM_RUNTIME_KERNELCACHE_H
