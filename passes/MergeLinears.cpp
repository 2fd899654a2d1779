//===- MergeLinears.cpp - Sibling linear layers become one -----------------===//
//
//   q = linear(x, Wq), k = linear(x, Wk), v = linear(x, Wv)
//     -> y = linear(x, [Wq; Wk; Wv]), q = y[.., 0:Nq], k = y[.., Nq:Nq+Nk], ...
//
// Linear layers that read the same input with PyTorch-layout weights ([N, K], so
// stacking is appending rows) become one layer over a stacked weight (`loom.weight
// ... stacked`, placed by the runtime at bind time) whose result is cut back into the
// old results by slices. One GEMM streams the input once and fills the GPU better
// than three narrow ones; at decode it is one launch instead of three. The fuser
// stores each slice as an output of the merged kernel, so readers are unchanged.
//
// Two layers of the same width whose results meet again in an elementwise op (a
// SwiGLU's gate and up projections, `silu(g) * u`) are merged as a pair of their own,
// never with a third: the merged layer's two halves then meet in its epilogue, which
// the CUDA emitter computes from the two accumulators of each output column (see
// KernelWriter::gatedHalves), so one GEMM of twice the width replaces two. Layers
// that meet in any other way are left apart. Biases are stacked the same way when
// every layer of a group has one.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/loom/Shape.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-merge-linears"

namespace loom {
#define GEN_PASS_DEF_LOOMMERGELINEARS
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

/// A plain (not yet stacked) weight; null otherwise.
WeightOp plainWeight(Value value) {
  auto weight = value ? value.getDefiningOp<WeightOp>() : WeightOp();
  // A shard is a part of its checkpoint tensor; stacking shards is not done yet.
  return weight && !weight.getStacked() && !weight.getShardAttr() ? weight : WeightOp();
}

/// Whether `op` can be stacked with others: a [N, K] weight and bias bound by name.
bool isCandidate(LinearOp op) {
  if (!op.getTransposeWeight() || !plainWeight(op.getWeight()))
    return false;
  return !op.getBias() ||
         (plainWeight(op.getBias()) &&
          llvm::cast<RankedTensorType>(op.getBias().getType()).getRank() == 1);
}

/// Whether two layers over the same input (so of the same rank) can share a weight.
bool compatible(LinearOp a, LinearOp b) {
  auto wa = llvm::cast<RankedTensorType>(a.getWeight().getType()),
       wb = llvm::cast<RankedTensorType>(b.getWeight().getType());
  // Quantized weights stack only with weights of the same encoding; act-order
  // weights never do (each orders its inputs its own way).
  QuantAttr qa = plainWeight(a.getWeight()).getQuantAttr(),
            qb = plainWeight(b.getWeight()).getQuantAttr();
  if (qa != qb || (qa && qa.getPermuted()))
    return false;
  return wa.getElementType() == wb.getElementType() &&
         wa.getDimSize(1) == wb.getDimSize(1) &&
         static_cast<bool>(a.getBias()) == static_cast<bool>(b.getBias());
}

/// Whether an op reached from `from`'s result in at most `depth` steps of users reads
/// `to`'s result: the two are combined again (gate and up of a SwiGLU).
bool meets(LinearOp from, LinearOp to, int depth = 3) {
  SmallVector<Operation *> frontier(from->getUsers().begin(), from->getUsers().end());
  for (int step = 0; step < depth && !frontier.empty(); ++step) {
    SmallVector<Operation *> next;
    for (Operation *op : frontier) {
      if (!llvm::isa<LoomDialect>(op->getDialect()))
        continue; // a return only passes both on
      if (llvm::is_contained(op->getOperands(), to.getResult()))
        return true;
      next.append(op->getUsers().begin(), op->getUsers().end());
    }
    frontier = std::move(next);
  }
  return false;
}

/// Whether `a` and `b` (of one width) meet in an elementwise op that reads `b`'s result
/// and, through single-reader elementwise ops of the same shape, `a`'s (silu(g) * u):
/// a pair whose merged layer computes that op from its two halves.
bool meetsElementwise(LinearOp a, LinearOp b) {
  if (a.getType() != b.getType())
    return false;
  Value current = a.getResult();
  for (int step = 0; step < 3; ++step) {
    if (!current.hasOneUse())
      return false;
    Operation *user = *current.getUsers().begin();
    if (!isa<SiluOp, SigmoidOp, GeluOp, TanhOp, ReluOp, MulOp, AddOp, SubOp>(user))
      return false;
    if (user->getNumResults() != 1 || user->getResult(0).getType() != a.getType())
      return false;
    if (llvm::is_contained(user->getOperands(), b.getResult()))
      return b.getResult().hasOneUse();
    current = user->getResult(0);
  }
  return false;
}

/// A weight stacking `parts` (weights or biases) along dimension 0, at the builder's
/// insertion point.
Value stack(OpBuilder &builder, Location loc, ArrayRef<Value> parts) {
  SmallVector<Attribute> names;
  SmallVector<int64_t> rows;
  auto first = llvm::cast<RankedTensorType>(parts.front().getType());
  for (Value part : parts) {
    auto type = llvm::cast<RankedTensorType>(part.getType());
    if (part != parts.front())
      names.push_back(builder.getStringAttr(plainWeight(part).getName()));
    rows.push_back(type.getDimSize(0));
  }
  SmallVector<int64_t> shape(first.getShape());
  shape[0] = 0;
  for (int64_t r : rows)
    shape[0] += r;
  // Parts share their encoding (compatible() checked it); biases are never quantized.
  return WeightOp::create(
      builder, loc, RankedTensorType::get(shape, first.getElementType()),
      plainWeight(parts.front()).getName(), builder.getArrayAttr(names),
      builder.getDenseI64ArrayAttr(rows), plainWeight(parts.front()).getQuantAttr(),
      /*shard=*/nullptr);
}

/// Replaces the layers of `group` (all reading one input) by one over stacked weights.
void merge(ArrayRef<LinearOp> group) {
  LinearOp first = group.front();
  OpBuilder builder(first);
  Location loc = first.getLoc();
  SmallVector<Value> weights, biases;
  for (LinearOp op : group) {
    weights.push_back(op.getWeight());
    if (op.getBias())
      biases.push_back(op.getBias());
  }
  Value weight = stack(builder, loc, weights);
  Value bias = biases.empty() ? Value() : stack(builder, loc, biases);
  int64_t total = llvm::cast<RankedTensorType>(weight.getType()).getDimSize(0);
  auto resultType = llvm::cast<RankedTensorType>(first.getType());
  Shape shape = getShape(resultType);
  shape.back() = Dim::fixed(total);
  auto merged =
      LinearOp::create(builder, loc, makeTensorType(shape, resultType.getElementType()),
                       first.getInput(), weight, bias, /*transpose_weight=*/true);
  int64_t axis = static_cast<int64_t>(shape.size()) - 1, offset = 0;
  for (LinearOp op : group) {
    int64_t n = llvm::cast<RankedTensorType>(op.getWeight().getType()).getDimSize(0);
    Value window = SliceOp::create(
        builder, op.getLoc(), op.getType(), merged, builder.getDenseI64ArrayAttr({axis}),
        builder.getDenseI64ArrayAttr({offset}),
        builder.getDenseI64ArrayAttr({offset + n}), builder.getDenseI64ArrayAttr({1}));
    offset += n;
    op.getResult().replaceAllUsesWith(window);
  }
  for (LinearOp op : group) {
    Operation *w = op.getWeight().getDefiningOp(),
              *b = op.getBias() ? op.getBias().getDefiningOp() : nullptr;
    op.erase();
    for (Operation *source : {w, b})
      if (source && source->use_empty())
        source->erase();
  }
}

struct LoomMergeLinearsPass : loom::impl::LoomMergeLinearsBase<LoomMergeLinearsPass> {
  void runOnOperation() override {
    getOperation()->walk([&](func::FuncOp func) {
      if (func.isExternal())
        return;
      // Groups per input, in program order; each layer joins the first group it fits,
      // or pairs with a lone layer it meets elementwise (the pair then takes no more).
      llvm::MapVector<Value, SmallVector<SmallVector<LinearOp>>> byInput;
      llvm::SmallPtrSet<Operation *, 8> paired;
      func.walk([&](LinearOp op) {
        if (!isCandidate(op))
          return;
        auto &groups = byInput[op.getInput()];
        for (auto &group : groups) {
          if (!compatible(group.front(), op) || paired.contains(group.front()))
            continue;
          bool quantized = plainWeight(op.getWeight()).getQuantAttr() != nullptr;
          // Quantized layers are not paired: their kernels pair no columns.
          if (group.size() == 1 && !quantized &&
              (meetsElementwise(group.front(), op) ||
               meetsElementwise(op, group.front()))) {
            group.push_back(op);
            paired.insert(group.front());
            return;
          }
          if (llvm::none_of(group, [&](LinearOp other) {
                return meets(other, op) || meets(op, other);
              })) {
            group.push_back(op);
            return;
          }
        }
        groups.push_back({op});
      });
      for (auto &[input, groups] : byInput)
        for (auto &group : groups)
          if (group.size() > 1) {
            merge(group);
            ++numMerged;
            LLVM_DEBUG(llvm::dbgs()
                       << DEBUG_TYPE ": numMerged " << numMerged.getValue() << "\n");
          }
    });
  }
};

} // namespace
