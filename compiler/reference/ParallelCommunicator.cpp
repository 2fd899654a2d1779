//===- ParallelCommunicator.cpp - Collectives between threads --------------===//
//
// Each collective of a group is a slot keyed by the group and how many collectives
// that group has made; members leave their tensors in it and wait, under one lock,
// until all are there. The result is computed from the parts in the group's order, so
// it is the same bits on every member and in every run.
//
//===----------------------------------------------------------------------===//

#include "compiler/reference/Kernels.h"
#include "compiler/reference/Parallel.h"

#include <algorithm>

namespace loom::reference {

namespace {

std::string groupText(const std::vector<int64_t> &group) {
  std::string text = "[";
  for (size_t i = 0; i < group.size(); ++i)
    text += (i ? ", " : "") + std::to_string(group[i]);
  return text + "]";
}

/// The elementwise sum of same-shaped parts, accumulated in order and rounded once.
bool sumParts(const std::vector<Tensor> &parts, Tensor &out, std::string &error) {
  out = parts.front();
  for (const Tensor &part : parts)
    if (part.shape != out.shape || part.type != out.type) {
      error = "ranks contribute " + out.describe() + " and " + part.describe() +
              " to one reduction";
      return false;
    }
  for (int64_t i = 0, e = out.numElements(); i < e; ++i) {
    if (out.isFloat()) {
      double sum = 0;
      for (const Tensor &part : parts)
        sum += part.floats[i];
      out.floats[i] = roundTo(out.type, sum);
    } else {
      int64_t sum = 0;
      for (const Tensor &part : parts)
        sum += part.ints[i];
      out.ints[i] = wrapTo(out.type, sum);
    }
  }
  return true;
}

/// Position of `rank` in `group`, or -1.
int64_t positionIn(const std::vector<int64_t> &group, int64_t rank) {
  auto it = std::find(group.begin(), group.end(), rank);
  return it == group.end() ? -1 : it - group.begin();
}

} // namespace

Communicator::Communicator(int64_t world, std::chrono::milliseconds timeout)
    : world_(world), timeout_(timeout) {}

bool Communicator::failed(std::string &error) const {
  if (abortedBy_ < 0)
    return false;
  error = "rank " + std::to_string(abortedBy_) + " failed: " + abortReason_;
  return true;
}

void Communicator::abort(int64_t rank, const std::string &why) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (abortedBy_ < 0) {
      abortedBy_ = rank;
      abortReason_ = why;
    }
  }
  changed_.notify_all();
}

int64_t Communicator::abortedBy() {
  std::lock_guard<std::mutex> lock(mutex_);
  return abortedBy_;
}

void Communicator::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  slots_.clear();
  sequence_.clear();
  mailboxes_.clear();
  abortedBy_ = -1;
  abortReason_.clear();
}

bool Communicator::exchange(int64_t rank, const std::vector<int64_t> &group,
                            const std::string &kind, const Tensor &in,
                            std::vector<Tensor> &all, std::string &error) {
  if (positionIn(group, rank) < 0) {
    error = "rank " + std::to_string(rank) + " is not in the group " + groupText(group);
    return false;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  if (failed(error))
    return false;
  auto key = std::make_pair(group, sequence_[{rank, group}]++);
  Slot &slot = slots_[key];
  if (slot.kind.empty())
    slot.kind = kind;
  if (slot.kind != kind) {
    error = "rank " + std::to_string(rank) + " makes " + kind + " where another rank of " +
            groupText(group) + " makes " + slot.kind;
    return false;
  }
  slot.parts[rank] = in;
  changed_.notify_all();
  bool complete = changed_.wait_for(lock, timeout_, [&] {
    return abortedBy_ >= 0 || slot.parts.size() == group.size();
  });
  if (failed(error))
    return false;
  if (!complete) {
    std::string missing;
    for (int64_t member : group)
      if (!slot.parts.count(member))
        missing += (missing.empty() ? "" : ", ") + std::to_string(member);
    error = kind + " over " + groupText(group) + " timed out waiting for rank(s) " + missing;
    return false;
  }
  all.clear();
  for (int64_t member : group)
    all.push_back(slot.parts[member]);
  if (++slot.taken == group.size())
    slots_.erase(key);
  return true;
}

bool Communicator::allReduce(int64_t rank, const std::vector<int64_t> &group,
                             const Tensor &in, Tensor &out, std::string &error) {
  std::vector<Tensor> all;
  return exchange(rank, group, "all_reduce", in, all, error) && sumParts(all, out, error);
}

bool Communicator::allGather(int64_t rank, const std::vector<int64_t> &group, int64_t axis,
                             const Tensor &in, Tensor &out, std::string &error) {
  std::vector<Tensor> all;
  if (!exchange(rank, group, "all_gather axis " + std::to_string(axis), in, all, error))
    return false;
  std::vector<const Tensor *> parts;
  for (const Tensor &part : all) {
    if (part.shape.size() != in.shape.size() || part.type != in.type) {
      error = "ranks gather " + in.describe() + " and " + part.describe();
      return false;
    }
    parts.push_back(&part);
  }
  out = concat(parts, axis);
  return true;
}

bool Communicator::reduceScatter(int64_t rank, const std::vector<int64_t> &group,
                                 int64_t axis, const Tensor &in, Tensor &out,
                                 std::string &error) {
  std::vector<Tensor> all;
  Tensor sum;
  if (!exchange(rank, group, "reduce_scatter axis " + std::to_string(axis), in, all,
                error) ||
      !sumParts(all, sum, error))
    return false;
  int64_t count = static_cast<int64_t>(group.size()), size = sum.shape[axis];
  if (size % count) {
    error = "reduce_scatter cannot cut " + std::to_string(size) + " into " +
            std::to_string(count) + " parts";
    return false;
  }
  int64_t part = size / count, at = positionIn(group, rank) * part;
  out = slice(sum, {axis}, {at}, {at + part}, {1});
  return true;
}

bool Communicator::broadcastFrom(int64_t rank, const std::vector<int64_t> &group,
                                 int64_t root, const Tensor &in, Tensor &out,
                                 std::string &error) {
  std::vector<Tensor> all;
  int64_t at = positionIn(group, root);
  if (at < 0) {
    error = "root " + std::to_string(root) + " is not in the group " + groupText(group);
    return false;
  }
  if (!exchange(rank, group, "broadcast_from root " + std::to_string(root), in, all, error))
    return false;
  out = all[at];
  return true;
}

bool Communicator::send(int64_t rank, int64_t peer, int64_t tag, const Tensor &in,
                        std::string &error) {
  if (peer < 0 || peer >= world_ || peer == rank) {
    error = "rank " + std::to_string(rank) + " cannot send to rank " + std::to_string(peer);
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failed(error))
      return false;
    mailboxes_[{rank, peer, tag}].push_back(in);
  }
  changed_.notify_all();
  return true;
}

bool Communicator::recv(int64_t rank, int64_t peer, int64_t tag, Tensor &out,
                        std::string &error) {
  if (peer < 0 || peer >= world_ || peer == rank) {
    error = "rank " + std::to_string(rank) + " cannot receive from rank " +
            std::to_string(peer);
    return false;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  std::deque<Tensor> &box = mailboxes_[{peer, rank, tag}];
  bool arrived =
      changed_.wait_for(lock, timeout_, [&] { return abortedBy_ >= 0 || !box.empty(); });
  if (failed(error))
    return false;
  if (!arrived) {
    error = "rank " + std::to_string(rank) + " timed out receiving tag " +
            std::to_string(tag) + " from rank " + std::to_string(peer);
    return false;
  }
  out = std::move(box.front());
  box.pop_front();
  return true;
}

} // namespace loom::reference
