//===- LoomParallelOps.cpp - Verifiers of shards and collectives ------------===//
//
// The rules of the ops in LoomParallelOps.td: groups are sets of ranks that include
// the function's own rank, gathered and scattered axes multiply by the group's size,
// and a weight's shard is a part of its checkpoint tensor it can be cut into.
//
//===----------------------------------------------------------------------===//

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/Shape.h"

#include "llvm/ADT/SmallSet.h"

using namespace mlir;
using namespace loom;

LogicalResult ShardAttr::verify(function_ref<InFlightDiagnostic()> emitError, int64_t axis,
                                int64_t index, int64_t count) {
  if (axis < 0)
    return emitError() << "#loom.shard axis " << axis << " is negative";
  if (count < 2)
    return emitError() << "#loom.shard count " << count
                       << " is below 2; a weight in one part has no shard";
  if (index < 0 || index >= count)
    return emitError() << "#loom.shard index " << index << " is outside [0, " << count
                       << ")";
  return success();
}

LogicalResult loom::verifyWeightShard(WeightOp op) {
  ShardAttr shard = op.getShardAttr();
  if (!shard)
    return success();
  if (shard.getAxis() >= op.getType().getRank())
    return op.emitOpError() << "is sharded along axis " << shard.getAxis()
                            << " but has rank " << op.getType().getRank();
  if (op.getStacked() || op.getQuantAttr())
    return op.emitOpError("is sharded and stacked or quantized; a shard is a plain "
                          "weight's part (stacked and quantized shards are not done yet)");
  return success();
}

/// The rank and world size of the function around `op`, when it is one rank's program.
static std::optional<std::pair<int64_t, int64_t>> rankOf(Operation *op) {
  for (Operation *parent = op->getParentOp(); parent; parent = parent->getParentOp()) {
    auto rank = parent->getAttrOfType<IntegerAttr>("loom.rank");
    auto world = parent->getAttrOfType<IntegerAttr>("loom.world");
    if (rank && world)
      return std::make_pair(rank.getInt(), world.getInt());
  }
  return std::nullopt;
}

/// Checks that `group` is a set of distinct ranks holding the function's own rank.
static LogicalResult verifyGroup(Operation *op, ArrayRef<int64_t> group) {
  if (group.empty())
    return op->emitOpError("has an empty group");
  llvm::SmallSet<int64_t, 8> seen;
  for (int64_t rank : group) {
    if (rank < 0)
      return op->emitOpError() << "group holds the negative rank " << rank;
    if (!seen.insert(rank).second)
      return op->emitOpError() << "group holds rank " << rank << " twice";
  }
  std::optional<std::pair<int64_t, int64_t>> self = rankOf(op);
  if (!self)
    return success();
  auto [rank, world] = *self;
  for (int64_t member : group)
    if (member >= world)
      return op->emitOpError() << "group holds rank " << member
                               << ", but the world has " << world << " ranks";
  if (!seen.contains(rank))
    return op->emitOpError() << "runs in rank " << rank << " but its group does not hold it";
  return success();
}

/// Checks that `large` is `small` with dimension `axis` multiplied by `factor`.
static LogicalResult verifyScaledAxis(Operation *op, int64_t axis, Value small, Value large,
                                      int64_t factor, StringRef smallName,
                                      StringRef largeName) {
  Shape s = shapeOf(small), l = shapeOf(large);
  if (axis < 0 || axis >= static_cast<int64_t>(s.size()))
    return op->emitOpError() << "axis " << axis << " is outside the operand's rank "
                             << s.size();
  if (s.size() != l.size())
    return op->emitOpError() << "the " << smallName << " has rank " << s.size() << " and the "
                             << largeName << " " << l.size();
  for (int64_t d = 0, e = s.size(); d < e; ++d) {
    if (d != axis) {
      if (!areCompatible(s[d], l[d]))
        return op->emitOpError() << "dimension " << d << " is " << toString(s[d])
                                 << " in the " << smallName << " and " << toString(l[d])
                                 << " in the " << largeName
                                 << "; only the axis " << axis << " changes";
      continue;
    }
    if (!s[d].isStatic() || !l[d].isStatic())
      return op->emitOpError() << "axis " << axis << " must be static in the operand and "
                               << "the result";
    if (l[d].size != s[d].size * factor)
      return op->emitOpError() << "the " << largeName << "'s axis " << axis << " is "
                               << l[d].size << ", not " << factor << " (the group's size) times "
                               << s[d].size;
  }
  return success();
}

LogicalResult AllReduceOp::verify() { return verifyGroup(*this, getGroup()); }

LogicalResult AllGatherOp::verify() {
  if (failed(verifyGroup(*this, getGroup())))
    return failure();
  return verifyScaledAxis(*this, getAxis(), getOperand(), getResult(), getGroup().size(),
                          "operand", "result");
}

LogicalResult ReduceScatterOp::verify() {
  if (failed(verifyGroup(*this, getGroup())))
    return failure();
  return verifyScaledAxis(*this, getAxis(), getResult(), getOperand(), getGroup().size(),
                          "result", "operand");
}

LogicalResult BroadcastFromOp::verify() {
  if (failed(verifyGroup(*this, getGroup())))
    return failure();
  if (!llvm::is_contained(getGroup(), getRoot()))
    return emitOpError() << "root " << getRoot() << " is not in its group";
  return success();
}

/// Checks a point-to-point peer: a rank other than the function's own.
static LogicalResult verifyPeer(Operation *op, int64_t peer, int64_t tag) {
  if (peer < 0)
    return op->emitOpError() << "peer " << peer << " is negative";
  if (tag < 0)
    return op->emitOpError() << "tag " << tag << " is negative";
  std::optional<std::pair<int64_t, int64_t>> self = rankOf(op);
  if (!self)
    return success();
  if (peer == self->first)
    return op->emitOpError() << "peer " << peer << " is the function's own rank";
  if (peer >= self->second)
    return op->emitOpError() << "peer " << peer << " is outside the world of "
                             << self->second << " ranks";
  return success();
}

LogicalResult SendOp::verify() { return verifyPeer(*this, getPeer(), getTag()); }
LogicalResult RecvOp::verify() { return verifyPeer(*this, getPeer(), getTag()); }
