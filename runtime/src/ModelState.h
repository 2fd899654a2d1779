//===- ModelState.h - A loaded artifact, shared by loading and running -*- C++ -*-===//
//
// Internal to the runtime. Model.cpp loads an artifact into a loom_model_s (manifest,
// kernels, weights); ModelRun.cpp runs its launch sequence.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_MODELSTATE_H
#define LOOM_RUNTIME_MODELSTATE_H

#include "loom/runtime.h"
#include "loom/support/Json.h"
#include "loom/support/MemoryPlan.h"
#include "loom/support/Quantization.h"
#include "loom/support/Safetensors.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace loom::rt {

/// Evaluates a size expression in canonical text ("2*batch*seq-1") for `sizes`.
std::optional<int64_t> evaluate(const std::string &text,
                                const std::map<std::string, int64_t> &sizes);
/// Whether `text` is a plain dimension name.
bool isName(const std::string &text);
/// `bytes` of `from` as `to` (a copy when equal; integers move exactly, int64 ids
/// included, through int64 rather than double).
std::string convert(const std::string &bytes, DType from, DType to);
/// A safetensors dtype name, or "BOOL".
bool parseDtypeName(const std::string &text, DType &out);
/// The number of elements of `shape`.
int64_t count(const std::vector<int64_t> &shape);

struct Buffer {
  DType dtype = DType::F32;
  std::vector<std::string> shape;
  bool weight = false;
  /// Counters the kernels find zero and leave zero (EmittedKernel::counters): static
  /// shape, zero-filled once at load, outside the arena.
  bool zeroed = false;
};

struct Launch {
  std::string kernel;
  /// The module (NVRTC program) that defines the kernel.
  loom_module_t module = nullptr;
  uint32_t threads = 256;
  /// Bytes of dynamic shared memory per block.
  uint32_t shared = 0;
  struct Grid {
    std::string work;
    /// perSm: blocks per multiprocessor at most (0: unbounded), a cap once the device
    /// is known.
    int64_t per = 1, cap = 0, perSm = 0;
  } grid[3];
  std::vector<int> args;
  std::vector<std::string> sizes;
  /// Launched only when the named dimension is within [min, max] (max 0: unbounded);
  /// no name: always.
  struct When {
    std::string name;
    int64_t min = 0, max = 0;
  } when;
  /// The kernel reads weights before it waits for the kernels before it: launched
  /// programmatically, that work overlaps theirs.
  bool early = false;
};

struct Port {
  std::string name;
  int buffer = 0;
  std::optional<int64_t> fill;
  std::vector<std::string> shape;
  DType dtype = DType::F32;
};

/// A checkpoint tensor that fills a weight buffer: the whole buffer, or for a stacked
/// weight one part of it, at `offset` elements with its own `shape`.
struct WeightPart {
  std::string name;
  int buffer = 0;
  bool stacked = false;
  int64_t offset = 0;
  std::vector<int64_t> shape;
  /// A quantized weight's part: its encoding, its first row in the buffers, and the
  /// buffers of its scales, zeros, mins and input permutation (-1 when it has none);
  /// `buffer` holds the codes and `shape` is the part's [rows, K].
  std::optional<QuantEncoding> quant;
  int64_t row = 0;
  int scales = -1, zeros = -1, mins = -1, perm = -1;
};

/// Which kernels a run launches programmatically (griddepcontrol): none; those the
/// manifest marks `early`; or those and, at steps that select an early launch by its
/// upper guard (decode steps of a few rows), every kernel.
enum class ProgrammaticLaunch { Off, Marked, SmallSteps };

} // namespace loom::rt

struct loom_model_s {
  loom_device_t device = nullptr;
  /// The GPU architecture the kernels were compiled for ("sm_90a").
  std::string arch;
  /// The device's multiprocessors (for launches capped per multiprocessor).
  int64_t multiprocessors = 0;
  /// Which kernels runs launch programmatically: SmallSteps unless $LOOM_PDL is 0
  /// (Off) or `early` (Marked), Off while a profile is taken (timed kernels run alone).
  loom::rt::ProgrammaticLaunch programmaticLaunch() const;
  std::vector<loom_module_t> modules;
  std::vector<loom::rt::Buffer> buffers;
  std::vector<loom::rt::Port> inputs, outputs;
  std::vector<loom::rt::WeightPart> weights;
  /// How many distinct buffers the weights fill (counted when the manifest is read).
  size_t weightBuffers = 0;
  std::vector<loom::rt::Launch> launches;
  /// The manifest's declared bounds of named dimensions (`--max-seq`, ...).
  std::map<std::string, int64_t> bounds;
  /// Whether the kernels came from the on-disk cache, and what went wrong with it.
  bool cacheHit = false;
  std::string cacheNote;
  /// Live ranges of the buffers over the launch sequence (sizes filled per run), and
  /// whether each buffer is touched at all.
  std::vector<loom::BufferLife> lives;
  std::vector<bool> used;
  /// The arena that runs lay their buffers out in (grown when a run needs more).
  uint64_t arena = 0, arenaBytes = 0;
  /// Device memory of the bound weights, and of the zeroed buffers, by buffer.
  std::map<int, uint64_t> weightMemory, zeroedMemory;
  /// Profiling: per-kernel launch counts and milliseconds, and the last report.
  bool profiling = false;
  std::map<std::string, std::pair<int64_t, double>> profile;
  std::string profileText;

  ~loom_model_s() {
    if (arena)
      if (loom_status_t s = loom_device_free(device, arena))
        loom_status_free(s);
    for (const std::map<int, uint64_t> *memory : {&weightMemory, &zeroedMemory})
      for (auto &[buffer, pointer] : *memory)
        if (loom_status_t s = loom_device_free(device, pointer))
          loom_status_free(s);
    for (loom_module_t module : modules)
      loom_module_unload(module);
  }

  /// Reads the manifest (`path` names it in messages).
  loom_status_t parse(const loom::json::Value &manifest, const std::string &path);
  /// Allocates and zero-fills the zeroed buffers.
  loom_status_t allocateZeroed();
  /// Repacks a quantized weight part read through `reader` into the kernel layout and
  /// uploads it to its buffers (QuantizedUpload.cpp).
  loom_status_t bindQuantized(const loom::rt::WeightPart &part,
                              const loom::TensorReader &reader);
  /// The shape of `dims` for `sizes`; binds plain names from `given` when provided.
  loom_status_t shape(const std::vector<std::string> &dims, const std::string &what,
                      std::map<std::string, int64_t> &sizes, const int64_t *given,
                      std::vector<int64_t> &out);
};

namespace loom::rt {

/// Reads a quantized weight part of the manifest (`quant`, `row`, `shape`, `buffer` and
/// the buffers of its scales, zeros, mins, permutation) into `part`; `buffers` is how
/// many buffers the manifest has. Returns what is wrong, or nothing.
std::string parseQuantizedPart(const json::Value &entry, size_t buffers, WeightPart &part);

/// Lays a run's buffers out for `sizes` (every named dimension bound) in the model's
/// arena, except `pinned` ones, which live at the given device pointers (inputs read in
/// place, outputs written in place), calls `beforeLaunch` (may be empty) once `memory`
/// holds every buffer's address, then queues the manifest's launches on the device's
/// stream and returns without waiting (unless profiling, which reads its events).
loom_status_t launchSequence(loom_model_t model, const std::map<std::string, int64_t> &sizes,
                             const std::map<int, uint64_t> &pinned,
                             std::vector<uint64_t> &memory,
                             const std::function<loom_status_t()> &beforeLaunch);

} // namespace loom::rt

#endif // LOOM_RUNTIME_MODELSTATE_H
