//===- DataParallel.h - The ranks of `loom launch`, over Gloo -------*- C++ -*-===//
//
// A process group for data-parallel training on CPUs: the ranks `loom launch` starts
// meet in its rendezvous folder (a Gloo file store) and exchange float32 tensors over
// TCP on the loopback. The GPU path will take NCCL behind the same calls.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TOOLS_LOOM_DATAPARALLEL_H
#define LOOM_TOOLS_LOOM_DATAPARALLEL_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace loom::cli {

class ProcessGroup {
public:
  /// The group LOOM_RANK, LOOM_WORLD and LOOM_RENDEZVOUS describe (set by `loom
  /// launch`); null with an empty `error` when they are not set (one process), null
  /// with `error` when they are wrong or the ranks do not all arrive in `timeoutSeconds`.
  static std::unique_ptr<ProcessGroup> fromEnvironment(int timeoutSeconds,
                                                       std::string &error);
  ~ProcessGroup();

  int rank() const { return rank_; }
  int world() const { return world_; }
  /// Every rank's `data` summed into each rank's `data`, in place. False with `error`
  /// when a rank is gone or the timeout passes.
  bool allReduceSum(float *data, size_t count, std::string &error);
  bool allReduceSum(double *data, size_t count, std::string &error);
  /// Rank `root`'s `data` into every rank's.
  bool broadcast(float *data, size_t count, int root, std::string &error);

private:
  struct Impl;
  ProcessGroup(int rank, int world, std::unique_ptr<Impl> impl);
  int rank_, world_;
  std::unique_ptr<Impl> impl_;
};

} // namespace loom::cli

#endif // LOOM_TOOLS_LOOM_DATAPARALLEL_H
