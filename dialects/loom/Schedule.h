//===- Schedule.h - How a loom.kernel is laid out on the GPU ------*- C++ -*-===//
//
// The `schedule` attribute of a loom.kernel as a struct: tile sizes, warps, pipeline
// stages, vector width. `loom-choose-tiles` chooses it per kernel and target; the CUDA
// emitter reads it; the kernel op's verifier checks it with `verifySchedule`.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DIALECTS_LOOM_SCHEDULE_H
#define LOOM_DIALECTS_LOOM_SCHEDULE_H

#include "dialects/loom/LoomDialect.h"

#include <optional>
#include <string>

namespace loom {

struct KernelSchedule {
  // matmul: the block's output tile, its k-slice, and shared-memory slices in flight.
  int64_t tileM = 0, tileN = 0, tileK = 0, stages = 0;
  // attention: queries per block, keys per step.
  int64_t tileQ = 0, tileKv = 0;
  // attention: the most shared memory (KiB) a block may take on the target, which the
  // paged kernels size their one-token whole-context tiles by.
  int64_t sharedKib = 0;
  // matmul, attention: warps per block; pointwise and the row kinds: threads per block.
  int64_t warps = 0, threads = 0;
  // pointwise: consecutive elements per thread.
  int64_t vector = 0;
  bool tensorCores = false;

  /// Threads per block of the kernel this schedule lays out.
  int64_t blockThreads() const { return warps ? warps * 32 : threads; }

  /// The attribute for a kernel of `kind` (only that kind's keys).
  mlir::DictionaryAttr toAttr(mlir::MLIRContext *context, KernelKind kind) const;
  /// Reads `attr`; nullopt with the reason in `why` for an unknown key, a key another
  /// kind uses, a non-positive size or a missing key.
  static std::optional<KernelSchedule> fromAttr(mlir::DictionaryAttr attr, KernelKind kind,
                                                std::string &why);
};

} // namespace loom

#endif // LOOM_DIALECTS_LOOM_SCHEDULE_H
