//===- Fuse.cpp - Group ops into the kernels the CUDA emitter will write ----===//
//
// The cost rule. A value that crosses a kernel boundary is written to GPU memory and
// read back; inside a kernel it stays in registers or shared memory. So the pass fuses
// where that removes a round trip without adding memory traffic:
//   - epilogue: a pointwise op joins the kernel that produces its operand when it is
//     that value's only reader and computes as many elements (the value is consumed
//     where it is made and never stored);
//   - prologue: a pointwise kernel joins the normalization, reduction or attention
//     kernel that is the only reader of all its outputs (its elements are computed as
//     the anchor loads them, instead of stored and loaded). Attention's key and value
//     operands take only layout prologues (transposes, reshapes, broadcasts): every
//     query block reads every key, so a computed prologue there (rope on K) would be
//     recomputed once per query block and query head, which costs more than the one
//     store and load it saves.
// An anchor (matmul/linear, attention, normalization, reduction) decides its kernel's
// parallel decomposition, so two anchors never share a kernel. Matmuls take no prologue
// (tensor-core tiles stage raw operands through shared memory) and only elementwise
// epilogues (applied to the accumulator tile); attention also takes a transpose as
// epilogue (a permuted store). A matmul whose result is read only by step-1 windows
// (the merged Q/K/V projection of loom-merge-linears) takes every window as an
// epilogue and stores each as its own output. Reshapes are views of contiguous buffers:
// one joins a kernel as a free epilogue or between fused ops, and otherwise stays outside
// as a view; weights and constants are inputs. A merge that would make the kernel graph
// cyclic is refused.
//
//===----------------------------------------------------------------------===//

#include "passes/KernelBuild.h"
#include "passes/Passes.h"

#include "dialects/loom/Shape.h"

#include "mlir/Analysis/TopologicalSortUtils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-fuse"

namespace loom {
#define GEN_PASS_DEF_LOOMFUSE
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// Sources: never inside a kernel (weights are inputs, constants are copied in).
bool staysOutside(Operation *op) {
  return !llvm::isa<LoomDialect>(op->getDialect()) ||
         llvm::isa<WeightOp, ConstantOp, KernelOp, YieldOp>(op);
}

/// Ops whose output element i depends only on element i of each (broadcast) operand.
bool isElementwise(Operation *op) {
  return llvm::isa<NegOp, ReluOp, ExpOp, LogOp, SqrtOp, RsqrtOp, ReciprocalOp, TanhOp,
                   CosOp, SinOp, ErfOp, SigmoidOp, SiluOp, NotOp, GeluOp, AddOp, SubOp,
                   MulOp, DivOp, PowOp, MaxOp, MinOp, AndOp, OrOp, CompareOp, SelectOp,
                   CastOp>(op);
}

bool sameElementCount(Value a, Value b) {
  std::optional<SizeExpr> x = elementCount(shapeOf(a)), y = elementCount(shapeOf(b));
  return x && y && *x == *y;
}

/// Groups of ops as a union-find over the ops of one block, in program order.
class Grouping {
public:
  explicit Grouping(Block &block) {
    for (Operation &op : block)
      if (!staysOutside(&op)) {
        index_[&op] = ops_.size();
        ops_.push_back(&op);
        parent_.push_back(parent_.size());
        members_.push_back({&op});
        kind_.push_back(KernelOp::anchorKindOf(&op));
      }
  }

  ArrayRef<Operation *> ops() const { return ops_; }
  /// The group of `op`; nullopt for ops outside every group.
  std::optional<unsigned> groupOf(Operation *op) {
    auto it = index_.find(op);
    if (it == index_.end())
      return std::nullopt;
    return find(it->second);
  }
  std::optional<KernelKind> anchor(unsigned group) const { return kind_[group]; }
  ArrayRef<Operation *> members(unsigned group) const { return members_[group]; }

  /// Moves every op of `from` into `into` (which keeps its anchor, or takes from's).
  void merge(unsigned into, unsigned from) {
    parent_[from] = into;
    if (!kind_[into])
      kind_[into] = kind_[from];
    members_[into].append(members_[from].begin(), members_[from].end());
    members_[from].clear();
  }

  /// True when a path of data dependences leads from group `from` to group `to`
  /// through at least one other group: merging the two would then make a cycle.
  bool reachesIndirectly(unsigned from, unsigned to) {
    SmallVector<unsigned> work;
    llvm::DenseSet<unsigned> seen{from, to};
    for (unsigned next : successors(from))
      if (seen.insert(next).second)
        work.push_back(next);
    while (!work.empty()) {
      unsigned group = work.pop_back_val();
      for (unsigned next : successors(group)) {
        if (next == to)
          return true;
        if (seen.insert(next).second)
          work.push_back(next);
      }
    }
    return false;
  }

  /// True when every reader of a value made in `group` (outside it) is in `reader`.
  bool feedsOnly(unsigned group, unsigned reader) {
    for (unsigned next : successors(group))
      if (next != reader)
        return false;
    return !readByOutside(group);
  }

private:
  unsigned find(unsigned i) {
    while (parent_[i] != i)
      i = parent_[i] = parent_[parent_[i]];
    return i;
  }

  /// Groups that read a value of `group`.
  SmallVector<unsigned> successors(unsigned group) {
    SmallVector<unsigned> result;
    for (Operation *op : members_[group])
      for (Operation *user : op->getUsers()) {
        std::optional<unsigned> next = groupOf(user);
        if (next && *next != group && !llvm::is_contained(result, *next))
          result.push_back(*next);
      }
    return result;
  }

  /// True when a value of `group` is read by something that is not a group (a return).
  bool readByOutside(unsigned group) {
    for (Operation *op : members_[group])
      for (Operation *user : op->getUsers())
        if (!groupOf(user))
          return true;
    return false;
  }

  llvm::DenseMap<Operation *, unsigned> index_;
  SmallVector<Operation *> ops_;
  SmallVector<unsigned> parent_;
  SmallVector<SmallVector<Operation *, 4>> members_;
  SmallVector<std::optional<KernelKind>> kind_;
};

/// Whether `op` may run on the output of a kernel of `kind` inside that kernel.
bool isEpilogueOf(Operation *op, std::optional<KernelKind> kind) {
  if (kind == KernelKind::Scatter)
    return false; // its output is the cache it updates in place
  if (!kind || llvm::isa<ReshapeOp>(op))
    return true; // pointwise chains, and views of any kernel's output
  if (*kind == KernelKind::Attention && llvm::isa<TransposeOp>(op))
    return true;
  return isElementwise(op);
}

/// A step-1 window of static axes, which a kernel can store as a separate output.
bool isWindow(Operation *op) {
  auto slice = llvm::dyn_cast<SliceOp>(op);
  if (!slice)
    return false;
  for (size_t i = 0; i < slice.getAxes().size(); ++i)
    if (!slice.getWindowStart(i))
      return false;
  return true;
}

/// Whether `op` joins the kernel that makes its `operand`: it is the operand's only
/// reader and keeps its element count (an epilogue the kernel applies in place), or
/// the kernel is a matmul whose result is read only by windows of it (a merged linear
/// layer: each window is stored as an output of its own).
bool joinsProducer(Operation *op, Value operand, std::optional<KernelKind> kind) {
  if (kind == KernelKind::Matmul && isWindow(op) &&
      llvm::all_of(operand.getUsers(), isWindow))
    return true;
  return llvm::all_of(operand.getUsers(), [&](Operation *user) { return user == op; }) &&
         sameElementCount(operand, op->getResult(0)) && isEpilogueOf(op, kind);
}

void fuseEpilogues(Grouping &grouping) {
  for (Operation *op : grouping.ops()) {
    if (KernelOp::anchorKindOf(op))
      continue;
    unsigned self = *grouping.groupOf(op);
    for (Value operand : op->getOperands()) {
      Operation *producer = operand.getDefiningOp();
      std::optional<unsigned> group =
          producer ? grouping.groupOf(producer) : std::nullopt;
      if (!group || *group == self ||
          !joinsProducer(op, operand, grouping.anchor(*group)) ||
          grouping.reachesIndirectly(*group, self))
        continue;
      grouping.merge(*group, self);
      break;
    }
  }
}

/// The values that flow into `attention`'s key or value operand through the ops of
/// group `self` (and the operands those ops read from outside it).
llvm::DenseSet<Value> keyValueSide(Grouping &grouping, unsigned self,
                                   AttentionOp attention) {
  llvm::DenseSet<Value> seen;
  SmallVector<Value> work = {attention.getKey(), attention.getValue()};
  while (!work.empty()) {
    Value value = work.pop_back_val();
    if (!seen.insert(value).second)
      continue;
    Operation *producer = value.getDefiningOp();
    if (producer && grouping.groupOf(producer) == self)
      work.append(producer->operand_begin(), producer->operand_end());
  }
  return seen;
}

bool onlyLayout(ArrayRef<Operation *> ops) {
  return llvm::all_of(ops, [](Operation *op) {
    return llvm::isa<TransposeOp, ReshapeOp, BroadcastOp>(op);
  });
}

/// Whether `operand` of `anchor` may be computed inside the anchor's kernel. The paged
/// ops read their caches, block tables and lengths as they are in memory (a cache is
/// updated in place), so only paged attention's query and the new rows of a cache
/// write take a prologue.
bool acceptsPrologue(Operation *anchor, Value operand) {
  if (auto paged = llvm::dyn_cast<PagedAttentionOp>(anchor))
    return operand == paged.getQuery();
  if (auto write = llvm::dyn_cast<CacheWriteOp>(anchor))
    return operand == write.getValues();
  return true;
}

/// Merges into `self` (anchored by `anchor`) one pointwise group whose outputs only
/// `self` reads; false if there is none. Attention's key and value take only layout
/// prologues: every query block reads all keys and values, so computing them there
/// (rope on K) would repeat the work once per query block and query head.
bool absorbOnePrologue(Grouping &grouping, unsigned self, Operation *anchor) {
  auto attention = llvm::dyn_cast<AttentionOp>(anchor);
  llvm::DenseSet<Value> keyValue;
  if (attention)
    keyValue = keyValueSide(grouping, self, attention);
  for (Operation *member : grouping.members(self))
    for (Value operand : member->getOperands()) {
      if (member == anchor && !acceptsPrologue(anchor, operand))
        continue;
      Operation *producer = operand.getDefiningOp();
      std::optional<unsigned> group =
          producer ? grouping.groupOf(producer) : std::nullopt;
      if (!group || *group == self || grouping.anchor(*group) ||
          !grouping.feedsOnly(*group, self) || grouping.reachesIndirectly(*group, self))
        continue;
      if (attention && keyValue.contains(operand) &&
          !onlyLayout(grouping.members(*group)))
        continue;
      grouping.merge(self, *group);
      return true;
    }
  return false;
}

void fusePrologues(Grouping &grouping) {
  for (Operation *op : grouping.ops()) {
    std::optional<KernelKind> kind = KernelOp::anchorKindOf(op);
    if (!kind || *kind == KernelKind::Matmul)
      continue;
    // Absorbing one prologue can expose the next (a transpose feeding a rope).
    while (absorbOnePrologue(grouping, *grouping.groupOf(op), op)) {
    }
  }
}

/// Replaces the ops of one group by a loom.kernel holding them.
void outline(ArrayRef<Operation *> members, KernelKind kind, OpBuilder &builder) {
  llvm::SmallPtrSet<Operation *, 16> inGroup(members.begin(), members.end());
  SmallVector<Operation *> ordered(members.begin(), members.end());
  llvm::sort(ordered, [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });

  SmallVector<Value> inputs, outputs;
  SmallVector<Operation *> constants;
  for (Operation *op : ordered) {
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (def && inGroup.contains(def))
        continue;
      if (auto constant = llvm::dyn_cast_or_null<ConstantOp>(def)) {
        if (!llvm::is_contained(constants, def))
          constants.push_back(def);
      } else if (!llvm::is_contained(inputs, operand)) {
        inputs.push_back(operand);
      }
    }
    for (Value result : op->getResults())
      if (llvm::any_of(result.getUsers(),
                       [&](Operation *u) { return !inGroup.contains(u); }))
        outputs.push_back(result);
  }

  builder.setInsertionPoint(ordered.back());
  SmallVector<Type> resultTypes;
  for (Value output : outputs)
    resultTypes.push_back(output.getType());
  KernelOp kernel = createKernel(builder, ordered.front()->getLoc(), resultTypes, kind,
                                 inputs, /*schedule=*/nullptr);
  IRMapping mapping;
  mapping.map(inputs, kernel.getBody().getArguments());
  for (Operation *constant : constants)
    builder.clone(*constant, mapping);
  for (Operation *op : ordered)
    builder.clone(*op, mapping);
  SmallVector<Value> yielded;
  for (Value output : outputs)
    yielded.push_back(mapping.lookup(output));
  YieldOp::create(builder, kernel.getLoc(), yielded);

  for (auto [output, result] : llvm::zip(outputs, kernel.getResults()))
    output.replaceUsesWithIf(
        result, [&](OpOperand &use) { return !inGroup.contains(use.getOwner()); });
  for (Operation *op : llvm::reverse(ordered))
    op->erase();
}

struct LoomFusePass : loom::impl::LoomFuseBase<LoomFusePass> {
  void runOnOperation() override {
    getOperation()->walk([&](func::FuncOp func) {
      if (func.isExternal())
        return;
      Block &block = func.getBody().front();
      // loom.recompute only kept CSE from merging recomputed ops into the forward's;
      // kernels need no marker.
      for (Operation &op : llvm::make_early_inc_range(block))
        if (auto marker = dyn_cast<RecomputeOp>(op)) {
          marker.getResult().replaceAllUsesWith(marker.getOperand());
          marker.erase();
        }
      Grouping grouping(block);
      fuseEpilogues(grouping);
      fusePrologues(grouping);

      // One kernel per group, in the order of the groups' first ops.
      SmallVector<unsigned> roots;
      for (Operation *op : grouping.ops()) {
        unsigned group = *grouping.groupOf(op);
        if (!llvm::is_contained(roots, group))
          roots.push_back(group);
      }
      SmallVector<std::pair<SmallVector<Operation *>, KernelKind>> groups;
      for (unsigned root : roots)
        groups.emplace_back(SmallVector<Operation *>(grouping.members(root)),
                            grouping.anchor(root).value_or(KernelKind::Pointwise));
      OpBuilder builder(func.getContext());
      for (auto &[members, kind] : groups) {
        // A reshape nothing was fused with stays a view.
        if (llvm::all_of(members, [](Operation *op) { return llvm::isa<ReshapeOp>(op); }))
          continue;
        outline(members, kind, builder);
        ++numKernels;
        LLVM_DEBUG(llvm::dbgs()
                   << DEBUG_TYPE ": numKernels " << numKernels.getValue() << "\n");
      }
      // A kernel sits where its last op was; readers of its earlier outputs move after
      // it.
      if (!sortTopologically(&block)) {
        func.emitError("fusion made the kernel graph cyclic");
        return signalPassFailure();
      }
      // Constants and weights now read only by kernels stay as kernel inputs or copies.
      for (Operation &op : llvm::make_early_inc_range(block))
        if (llvm::isa<ConstantOp>(op) && op.use_empty())
          op.erase();
    });
  }
};

} // namespace
