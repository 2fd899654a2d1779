//===- PartitionTensor.cpp - Megatron-style tensor parallelism --------------===//
//
// Rewrites each function of the module into one function per rank. A layout is
// followed through the function: a value is either whole on every rank, or cut into
// equal parts along one axis. Linear layers with a whole input are split by output
// columns (their result is cut along its last axis); those with an input cut along
// its last axis are split by input rows, and one all_reduce makes their result whole
// again. Reshapes, transposes, RoPE, attention and elementwise ops carry the cut; the
// results leave the function gathered. Everything else runs whole on every rank.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/loom/Shape.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-partition-tensor"

namespace loom {
#define GEN_PASS_DEF_LOOMPARTITIONTENSOR
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// How a value of the unpartitioned function lies over the ranks: whole on each
/// (`axis` < 0), or cut into `count` equal parts along `axis`, rank `r` holding part
/// `r / (degree / count)`. `count` is the degree except for KV heads replicated over
/// more ranks than there are heads.
struct Layout {
  int64_t axis = -1;
  int64_t count = 1;
  bool isCut() const { return axis >= 0; }
};

/// The ops whose elements pair up one to one after broadcasting.
bool isBroadcasting(Operation *op) {
  return isa<AddOp, SubOp, MulOp, DivOp, PowOp, MaxOp, MinOp, AndOp, OrOp, CompareOp,
             SelectOp>(op);
}

/// Unary elementwise ops (not softmax or cumsum, which mix elements along an axis).
bool isElementwiseUnary(Operation *op) {
  return isa<NegOp, ReluOp, ExpOp, LogOp, SqrtOp, RsqrtOp, ReciprocalOp, TanhOp, CosOp, SinOp,
             ErfOp, SigmoidOp, SiluOp, NotOp, GeluOp, CastOp>(op);
}

/// Builds one rank's function from the unpartitioned one.
class RankBuilder {
public:
  RankBuilder(int64_t degree, int64_t rank, const DenseMap<Operation *, int64_t> &kvCounts,
              bool report)
      : degree(degree), rank(rank), kvCounts(kvCounts), report(report) {}

  /// Fills `into` (an empty function of `from`'s type); false if an op cannot be
  /// partitioned (each reported once when `report` is set).
  bool build(func::FuncOp from, func::FuncOp into);

private:
  int64_t degree, rank;
  const DenseMap<Operation *, int64_t> &kvCounts;
  bool report;
  bool ok = true;
  DenseMap<Value, Layout> layouts;
  IRMapping mapping;
  OpBuilder *builder = nullptr;

  Layout layoutOf(Value v) const { return layouts.lookup(v); }
  int64_t partOf(Layout l) const { return rank / (degree / l.count); }
  SmallVector<int64_t> group() const {
    return llvm::to_vector(llvm::seq<int64_t>(0, degree));
  }

  /// Reports `op` (once, on the first rank built) and marks the build failed.
  void refuse(Operation *op, const Twine &why) {
    if (report)
      op->emitOpError() << "cannot be partitioned: " << why;
    ok = false;
  }
  std::string describe(Layout l) const {
    return "cut along axis " + std::to_string(l.axis) + " into " + std::to_string(l.count) +
           " parts";
  }

  /// `type` cut along `l`; null when that axis is not static or not divisible.
  RankedTensorType localType(Type type, Layout l) const {
    auto tensor = cast<RankedTensorType>(type);
    if (!l.isCut())
      return tensor;
    Shape shape = getShape(tensor);
    if (!shape[l.axis].isStatic() || shape[l.axis].size % l.count)
      return nullptr;
    shape[l.axis] = Dim::fixed(shape[l.axis].size / l.count);
    return makeTensorType(shape, tensor.getElementType());
  }

  /// This rank's part of the whole value `v` (of the partitioned function) along `l`.
  Value slicePart(Location loc, Value v, Layout l) {
    RankedTensorType type = localType(v.getType(), l);
    int64_t size = cast<RankedTensorType>(v.getType()).getDimSize(l.axis) / l.count;
    int64_t start = partOf(l) * size;
    return SliceOp::create(*builder, loc, type, v, builder->getDenseI64ArrayAttr({l.axis}),
                           builder->getDenseI64ArrayAttr({start}),
                           builder->getDenseI64ArrayAttr({start + size}),
                           builder->getDenseI64ArrayAttr({1}));
  }

  /// This rank's part of the weight op `weight` cut along `l`.
  Value shardWeight(WeightOp weight, Layout l) {
    if (!l.isCut())
      return mapping.lookup(weight.getResult());
    auto shard = ShardAttr::get(weight.getContext(), l.axis, partOf(l), l.count);
    return WeightOp::create(*builder, weight.getLoc(), localType(weight.getType(), l),
                            weight.getName(), nullptr, nullptr, nullptr, shard);
  }

  /// Clones `op` with its operands mapped and its result cut along `l`.
  void cloneWithLayout(Operation *op, Layout l) {
    Operation *copy = builder->clone(*op, mapping);
    copy->getResult(0).setType(localType(op->getResult(0).getType(), l));
    layouts[op->getResult(0)] = l;
  }

  void partitionOp(Operation *op);
  void partitionLinear(LinearOp op);
  void partitionReshape(ReshapeOp op);
  void partitionAttention(AttentionOp op);
  void partitionBroadcasting(Operation *op);
  void partitionReturn(func::ReturnOp op);
};

bool RankBuilder::build(func::FuncOp from, func::FuncOp into) {
  Block *entry = into.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockEnd(entry);
  builder = &b;
  for (auto [old, now] : llvm::zip(from.getArguments(), entry->getArguments()))
    mapping.map(old, now);
  for (Operation &op : from.getBody().front()) {
    partitionOp(&op);
    // After a refusal, a plain copy stands in so that the walk can go on and report
    // the other ops; the function is dropped.
    if (!ok && llvm::any_of(op.getResults(), [&](Value r) { return !mapping.contains(r); }))
      builder->clone(op, mapping);
  }
  // Weights whose every use took a shard of them instead.
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(*entry)))
    if (isa<WeightOp, ConstantOp>(op) && op.use_empty())
      op.erase();
  return ok;
}

void RankBuilder::partitionOp(Operation *op) {
  if (auto ret = dyn_cast<func::ReturnOp>(op))
    return partitionReturn(ret);
  if (auto linear = dyn_cast<LinearOp>(op))
    return partitionLinear(linear);
  if (auto reshape = dyn_cast<ReshapeOp>(op))
    return partitionReshape(reshape);
  if (auto attention = dyn_cast<AttentionOp>(op))
    return partitionAttention(attention);
  if (isBroadcasting(op))
    return partitionBroadcasting(op);

  SmallVector<unsigned> cut;
  for (OpOperand &operand : op->getOpOperands())
    if (layoutOf(operand.get()).isCut())
      cut.push_back(operand.getOperandNumber());
  if (cut.empty()) {
    builder->clone(*op, mapping);
    return;
  }
  Layout l = layoutOf(op->getOperand(cut.front()));
  if (isElementwiseUnary(op))
    return cloneWithLayout(op, l);
  if (auto transpose = dyn_cast<TransposeOp>(op)) {
    ArrayRef<int64_t> perm = transpose.getPermutation();
    auto at = llvm::find(perm, l.axis);
    return cloneWithLayout(op, Layout{at - perm.begin(), l.count});
  }
  if (auto rope = dyn_cast<RopeOp>(op)) {
    int64_t last = cast<RankedTensorType>(rope.getType()).getRank() - 1;
    if (cut.size() == 1 && cut.front() == 0 && l.axis != last)
      return cloneWithLayout(op, l);
    return refuse(op, "RoPE needs its input cut along heads and its tables whole");
  }
  refuse(op, "operand #" + Twine(cut.front()) + " is " + describe(l) +
                 " and no rule partitions this op");
}

void RankBuilder::partitionLinear(LinearOp op) {
  Layout in = layoutOf(op.getInput());
  auto weight = op.getWeight().getDefiningOp<WeightOp>();
  auto bias = op.getBias() ? op.getBias().getDefiningOp<WeightOp>() : WeightOp();
  bool transposed = op.getTransposeWeight();
  int64_t outAxis = transposed ? 0 : 1, inAxis = transposed ? 1 : 0;
  int64_t last = op.getType().getRank() - 1;
  if (!weight || weight.getStacked() || weight.getQuantAttr() || weight.getShardAttr() ||
      (op.getBias() && !bias))
    return refuse(op, "its weight and bias must be plain loom.weight ops (not stacked, "
                      "quantized or already sharded)");
  if (layoutOf(op.getWeight()).isCut() || (bias && layoutOf(op.getBias()).isCut()))
    return refuse(op, "its weight is already cut");
  Location loc = op.getLoc();

  if (!in.isCut()) {
    // Column parallel: each rank computes its part of the output features.
    Layout outCut{outAxis, kvCounts.lookup(op) ? kvCounts.lookup(op) : degree};
    if (outCut.count == 1) {
      builder->clone(*op, mapping);
      return;
    }
    Layout result{last, outCut.count};
    RankedTensorType type = localType(op.getType(), result);
    if (!type)
      return refuse(op, "its " + Twine(op.getType().getDimSize(last)) +
                            " output features do not split into " + Twine(outCut.count) +
                            " parts");
    Value w = shardWeight(weight, outCut);
    Value b = bias ? shardWeight(bias, Layout{0, outCut.count}) : Value();
    auto split = LinearOp::create(*builder, loc, type, mapping.lookup(op.getInput()), w, b,
                                  op.getTransposeWeightAttr());
    mapping.map(op.getResult(), split.getResult());
    layouts[op.getResult()] = result;
    return;
  }

  // Row parallel: each rank multiplies its part of the input features, the partial
  // sums meet in one all_reduce, and the bias is added once, after it.
  if (in.axis != last || in.count != degree)
    return refuse(op, "its input is " + describe(in) +
                          "; a row-parallel layer needs it cut along its features into " +
                          Twine(degree) + " parts");
  Value w = shardWeight(weight, Layout{inAxis, degree});
  Value partial = LinearOp::create(*builder, loc, op.getType(), mapping.lookup(op.getInput()),
                                   w, Value(), op.getTransposeWeightAttr());
  Value sum = AllReduceOp::create(*builder, loc, partial, group());
  if (bias)
    sum = AddOp::create(*builder, loc, op.getType(), sum, mapping.lookup(op.getBias()));
  mapping.map(op.getResult(), sum);
}

void RankBuilder::partitionReshape(ReshapeOp op) {
  Layout in = layoutOf(op.getOperand());
  if (!in.isCut()) {
    builder->clone(*op, mapping);
    return;
  }
  // Rank r's part is one contiguous block of the dimensions from the cut axis on, so
  // the reshape keeps it when the dimensions before the axis stay and the result's
  // dimension at the axis splits into as many parts.
  Shape from = shapeOf(op.getOperand()), to = shapeOf(op.getResult());
  bool prefixKept = static_cast<int64_t>(to.size()) > in.axis &&
                    llvm::equal(ArrayRef<Dim>(from).take_front(in.axis),
                                ArrayRef<Dim>(to).take_front(in.axis));
  if (!prefixKept || !localType(op.getType(), in))
    return refuse(op, "its operand is " + describe(in) +
                          ", and the reshape changes the dimensions before that axis or "
                          "the axis does not split into as many parts");
  cloneWithLayout(op, in);
}

void RankBuilder::partitionAttention(AttentionOp op) {
  Layout q = layoutOf(op.getQuery()), k = layoutOf(op.getKey()), v = layoutOf(op.getValue());
  if (op.getMask() && layoutOf(op.getMask()).isCut())
    return refuse(op, "its mask is cut");
  if (!q.isCut() && !k.isCut() && !v.isCut()) {
    builder->clone(*op, mapping);
    return;
  }
  int64_t kvHeads = cast<RankedTensorType>(op.getKey().getType()).getDimSize(1);
  bool kvMatch = k.axis == v.axis && k.count == v.count;
  bool kvSplit = kvMatch && k.axis == 1 && (k.count == degree || k.count < degree);
  bool kvWhole = !k.isCut() && !v.isCut() && kvHeads == 1;
  if (q.axis != 1 || q.count != degree || !(kvSplit || kvWhole))
    return refuse(op, "its query must be cut along heads into " + Twine(degree) +
                          " parts and its key and value along heads alike (or whole with "
                          "one KV head)");
  // A mask with a heads dimension is cut like the query.
  Operation *copy = builder->clone(*op, mapping);
  if (Value mask = op.getMask()) {
    auto type = cast<RankedTensorType>(mask.getType());
    if (type.getRank() == 4 && type.getDimSize(1) != 1) {
      OpBuilder::InsertionGuard guard(*builder);
      builder->setInsertionPoint(copy);
      copy->setOperand(3, slicePart(op.getLoc(), mapping.lookup(mask), q));
    }
  }
  copy->getResult(0).setType(localType(op.getType(), q));
  layouts[op.getResult()] = q;
}

void RankBuilder::partitionBroadcasting(Operation *op) {
  // The result is cut like its cut operands (which must agree); whole operands that
  // span the cut axis are sliced to this rank's part.
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  int64_t rank = resultType.getRank();
  std::optional<Layout> result;
  for (Value operand : op->getOperands()) {
    Layout l = layoutOf(operand);
    if (!l.isCut())
      continue;
    Layout aligned{l.axis + rank - cast<RankedTensorType>(operand.getType()).getRank(),
                   l.count};
    if (result && (result->axis != aligned.axis || result->count != aligned.count))
      return refuse(op, "its operands are cut differently");
    result = aligned;
  }
  if (!result) {
    builder->clone(*op, mapping);
    return;
  }
  SmallVector<Value> operands;
  for (Value operand : op->getOperands()) {
    Value now = mapping.lookup(operand);
    auto type = cast<RankedTensorType>(operand.getType());
    int64_t axis = result->axis - (rank - type.getRank());
    if (!layoutOf(operand).isCut() && axis >= 0 && type.getDimSize(axis) != 1) {
      Layout l{axis, result->count};
      if (!localType(type, l))
        return refuse(op, "a whole operand does not split along the cut axis");
      now = slicePart(op->getLoc(), now, l);
    }
    operands.push_back(now);
  }
  Operation *copy = builder->clone(*op, mapping);
  copy->setOperands(operands);
  copy->getResult(0).setType(localType(resultType, *result));
  layouts[op->getResult(0)] = *result;
}

void RankBuilder::partitionReturn(func::ReturnOp op) {
  SmallVector<Value> results;
  for (Value v : op.getOperands()) {
    Layout l = layoutOf(v);
    Value now = mapping.lookup(v);
    if (l.isCut() && l.count != degree) {
      refuse(op, "a result is " + describe(l) + ", not over every rank");
      continue;
    }
    if (l.isCut())
      now = AllGatherOp::create(*builder, op.getLoc(), v.getType(), now, l.axis, group());
    results.push_back(now);
  }
  func::ReturnOp::create(*builder, op.getLoc(), results);
}

/// For attention with fewer KV heads than ranks: the linear layers that make its key
/// and value (through reshapes, transposes, RoPE and casts) are cut into as many parts
/// as there are KV heads. Reports attention the degree cannot split.
LogicalResult findKvLayers(func::FuncOp func, int64_t degree,
                           DenseMap<Operation *, int64_t> &kvCounts) {
  bool ok = true;
  func.walk([&](AttentionOp op) {
    int64_t heads = op.getQuery().getType().getDimSize(1);
    int64_t kvHeads = op.getKey().getType().getDimSize(1);
    if (ShapedType::isDynamic(heads) || ShapedType::isDynamic(kvHeads) || heads % degree ||
        (kvHeads % degree && degree % kvHeads)) {
      op.emitOpError() << "cannot be partitioned: " << heads << " query heads and "
                       << kvHeads << " KV heads do not split over " << degree << " ranks";
      ok = false;
      return;
    }
    if (kvHeads >= degree)
      return;
    for (Value v : {op.getKey(), op.getValue()}) {
      while (Operation *def = v.getDefiningOp()) {
        if (auto linear = dyn_cast<LinearOp>(def)) {
          kvCounts[linear] = kvHeads;
          break;
        }
        if (!isa<ReshapeOp, TransposeOp, RopeOp, CastOp>(def))
          break;
        v = def->getOperand(0);
      }
    }
  });
  return success(ok);
}

struct PartitionTensorPass
    : public loom::impl::LoomPartitionTensorBase<PartitionTensorPass> {
  using LoomPartitionTensorBase::LoomPartitionTensorBase;

  void runOnOperation() override {
    if (degree < 1) {
      getOperation().emitError() << "loom-partition-tensor: degree " << degree
                                 << " is below 1";
      return signalPassFailure();
    }
    if (degree == 1)
      return;
    SmallVector<func::FuncOp> funcs;
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal() && !func->hasAttr("loom.rank"))
        funcs.push_back(func);
    bool ok = true;
    for (func::FuncOp func : funcs) {
      DenseMap<Operation *, int64_t> kvCounts;
      if (failed(findKvLayers(func, degree, kvCounts))) {
        ok = false;
        continue;
      }
      OpBuilder b(func);
      b.setInsertionPointAfter(func);
      SmallVector<func::FuncOp> ranks;
      for (int64_t rank = 0; rank < degree && ok; ++rank) {
        auto copy = cast<func::FuncOp>(func->cloneWithoutRegions());
        b.insert(copy);
        b.setInsertionPointAfter(copy);
        copy.setName((func.getName() + "_rank" + Twine(rank)).str());
        copy->setAttr("loom.rank", b.getI64IntegerAttr(rank));
        copy->setAttr("loom.world", b.getI64IntegerAttr(degree));
        ranks.push_back(copy);
        // The rules do not depend on the rank: report on the first, stop on failure.
        ok = RankBuilder(degree, rank, kvCounts, /*report=*/rank == 0).build(func, copy);
      }
      if (!ok) {
        for (func::FuncOp copy : ranks)
          copy.erase();
        continue;
      }
      LLVM_DEBUG(llvm::dbgs() << "partitioned @" << func.getName() << " over " << degree
                              << " ranks\n");
      func.erase();
    }
    if (!ok)
      signalPassFailure();
  }
};

} // namespace
