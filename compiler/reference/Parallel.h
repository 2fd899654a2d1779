//===- Parallel.h - Runs every rank of a partitioned program --------*- C++ -*-===//
//
// The reference executor's side of partitioning: a communicator that exchanges
// tensors between ranks running as threads of one process, and an executor that runs
// the rank functions of a partitioned module (`@forward_rank0`, ...) together. The
// collectives are exact and deterministic (sums in the group's order), so a
// partitioned run can be compared with the unpartitioned one in CI.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_REFERENCE_PARALLEL_H
#define LOOM_COMPILER_REFERENCE_PARALLEL_H

#include "compiler/reference/Reference.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <tuple>

namespace loom::reference {

/// Exchanges tensors between the ranks of one process, each rank a thread. Every
/// member of a group makes the same collectives in the same order; a collective waits
/// until its whole group has arrived. Thread-safe.
class Communicator {
public:
  explicit Communicator(int64_t world,
                        std::chrono::milliseconds timeout = std::chrono::seconds(120));
  int64_t world() const { return world_; }

  /// The elementwise sum of every member's `in`, in the order of `group`.
  bool allReduce(int64_t rank, const std::vector<int64_t> &group, const Tensor &in,
                 Tensor &out, std::string &error);
  /// Every member's `in` concatenated along `axis` in the order of `group`.
  bool allGather(int64_t rank, const std::vector<int64_t> &group, int64_t axis,
                 const Tensor &in, Tensor &out, std::string &error);
  /// The sum cut into equal parts along `axis`: the member at position i gets part i.
  bool reduceScatter(int64_t rank, const std::vector<int64_t> &group, int64_t axis,
                     const Tensor &in, Tensor &out, std::string &error);
  /// `root`'s `in`, on every member.
  bool broadcastFrom(int64_t rank, const std::vector<int64_t> &group, int64_t root,
                     const Tensor &in, Tensor &out, std::string &error);
  /// Queues `in` for rank `peer`'s receive with `tag` (does not wait).
  bool send(int64_t rank, int64_t peer, int64_t tag, const Tensor &in, std::string &error);
  /// Waits for the tensor rank `peer` sends with `tag`.
  bool recv(int64_t rank, int64_t peer, int64_t tag, Tensor &out, std::string &error);
  /// Ends every wait, now and later, with an error naming `rank` (a rank that failed
  /// calls it so that the others do not wait for it).
  void abort(int64_t rank, const std::string &why);
  /// The first rank that aborted, or -1.
  int64_t abortedBy();
  /// Forgets every exchange and abort (between runs).
  void reset();

private:
  /// One collective of one group: what each member brought.
  struct Slot {
    std::string kind;
    std::map<int64_t, Tensor> parts;
    size_t taken = 0;
  };
  /// Waits until every member of `group` brought its part to the collective `kind`
  /// (which names its attributes too); `all` gets the parts in the group's order.
  bool exchange(int64_t rank, const std::vector<int64_t> &group, const std::string &kind,
                const Tensor &in, std::vector<Tensor> &all, std::string &error);
  bool failed(std::string &error) const;

  int64_t world_;
  std::chrono::milliseconds timeout_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::pair<std::vector<int64_t>, int64_t>, Slot> slots_;
  /// Per rank and group: how many collectives it has made.
  std::map<std::pair<int64_t, std::vector<int64_t>>, int64_t> sequence_;
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::deque<Tensor>> mailboxes_;
  int64_t abortedBy_ = -1;
  std::string abortReason_;
};

/// Loads part `index` of `count` along `axis` of weight `name`, whose part has
/// `shape`: the checkpoint tensor's size along `axis` is `count` times the part's.
bool loadShard(WeightSource &weights, const std::string &name, ElementType type,
               const Shape &shape, int64_t axis, int64_t index, int64_t count, Tensor &out,
               std::string &error);

/// Runs every rank function of a partitioned module together, one thread each.
class ParallelExecutor {
public:
  /// Parses `ir` and finds `entry`'s rank functions (`@<entry>_rank<i>` with
  /// `loom.rank` and `loom.world`). Each rank gets a weight source of its own from
  /// `openWeights` (null when the IR has no weights).
  static std::unique_ptr<ParallelExecutor>
  create(const std::string &ir,
         const std::function<std::unique_ptr<WeightSource>(std::string &)> &openWeights,
         const std::string &entry, std::string &error);
  ~ParallelExecutor();

  int64_t world() const { return static_cast<int64_t>(ranks_.size()); }
  /// Rank 0's ports (every rank has the same).
  const std::vector<Port> &inputs() const { return ranks_.front()->inputs(); }
  const std::vector<Port> &outputs() const { return ranks_.front()->outputs(); }

  /// Runs every rank on the same inputs; `outputs[r]` gets rank r's. The first rank
  /// to fail names the op and why.
  bool run(const std::map<std::string, Tensor> &inputs,
           std::vector<std::vector<Tensor>> &outputs, std::string &error);

private:
  ParallelExecutor() = default;
  std::unique_ptr<Communicator> communicator_;
  std::vector<std::unique_ptr<Executor>> ranks_;
};

/// A tensor-parallel executor for a model file (as openModel takes it): the model is
/// raised, split over `degree` ranks by loom-partition-tensor (`ir` gets the result)
/// and each rank binds its shards of the weights. `degree` is 2 or more.
std::unique_ptr<ParallelExecutor> openTensorParallel(const std::string &model,
                                                     const std::string &weights,
                                                     const ImportOptions &options,
                                                     int64_t degree, std::string &ir,
                                                     std::string &error);

/// A pipeline-parallel executor for a Hugging Face folder: imported with its layers
/// split into `stages` contiguous stages (ImportOptions::pipelineStages, the pass
/// loom-partition-pipeline; `ir` gets the result), every stage a rank. `stages` is 2
/// or more.
std::unique_ptr<ParallelExecutor> openPipelineParallel(const std::string &model,
                                                       const std::string &weights,
                                                       ImportOptions options, int64_t stages,
                                                       std::string &ir, std::string &error);

} // namespace loom::reference

#endif // LOOM_COMPILER_REFERENCE_PARALLEL_H
