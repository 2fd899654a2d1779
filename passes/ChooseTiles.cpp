//===- ChooseTiles.cpp - Tile sizes per kernel and target ------------------===//
//
// Gives every loom.kernel without one a `schedule`: what the CUDA emitter needs to lay
// the kernel out (tile sizes, warps, pipeline stages, vector width). A schedule already
// present (written by hand to try another one) is kept. The rules, per kind:
//
// - matmul: a linear layer on 16-bit inputs runs on tensor cores (mma.sync, sm_80 and
//   up) with 128x128 output tiles of 8 warps, or 64x64 of 4 warps when the rows are
//   statically at most 64 or the columns at most 512 (a small layer in large tiles
//   leaves most of the GPU's multiprocessors idle); k-slices of 32 through dynamic
//   shared memory, 4 in flight on sm_90 and 3 on the others (what their shared memory
//   per block allows). Other matmuls (f32, batched) are SIMT: 64x64 tiles of 8 warps,
//   k-slices of 16.
// - attention: 16-bit operands with static head sizes that are multiples of 16 (at
//   most 128) use tensor cores: 64 queries per block, one warp per 16 rows, 64 keys
//   per step (32 above head size 64). Otherwise one query per thread, 64 per block,
//   32 keys per step. Paged attention: one token and KV head per block, 64 keys per
//   slice of a split context, 4 warps. Both record the shared memory a block may take
//   on the target (`shared_kib`: 227 KiB on sm_90, 163 on sm_80, 99 on sm_86 and
//   sm_89), which sizes the paged kernels' one-token whole-context tiles.
// - pointwise: 256 threads; each handles `vector` consecutive elements, 16 bytes'
//   worth when every output's innermost dimension is static and divisible by it.
// - normalization, reduction: one block per row of a power of two threads, about
//   four elements each, from 32 to 256.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/loom/Schedule.h"
#include "dialects/loom/Shape.h"

#include "llvm/Support/MathExtras.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "loom-choose-tiles"

namespace loom {
#define GEN_PASS_DEF_LOOMCHOOSETILES
#include "passes/Passes.h.inc"
} // namespace loom

using namespace mlir;
using namespace loom;

namespace {

bool isHalf(Value v) {
  Type t = llvm::cast<RankedTensorType>(v.getType()).getElementType();
  return t.isBF16() || t.isF16();
}

/// The static size of `dims` multiplied out, or nullopt.
std::optional<int64_t> staticCount(ArrayRef<Dim> dims) {
  int64_t n = 1;
  for (const Dim &d : dims) {
    if (!d.isStatic())
      return std::nullopt;
    n *= d.size;
  }
  return n;
}

/// The most shared memory a block may opt in to: 227 KiB on sm_90, 163 on sm_80, 99 on
/// sm_86 and sm_89.
int64_t sharedKibOf(StringRef target) {
  if (target.starts_with("sm_90"))
    return 227;
  return target == "sm_80" ? 163 : 99;
}

KernelSchedule matmulSchedule(Operation *anchor, StringRef target) {
  KernelSchedule s;
  auto linear = llvm::dyn_cast<LinearOp>(anchor);
  if (linear && isHalf(linear.getInput())) {
    Shape in = shapeOf(linear.getInput()), out = shapeOf(linear.getResult());
    std::optional<int64_t> rows = staticCount(ArrayRef<Dim>(in).drop_back());
    std::optional<int64_t> cols = staticCount(ArrayRef<Dim>(out).take_back());
    bool small = (rows && *rows <= 64) || (cols && *cols <= 512);
    s.tensorCores = true;
    s.tileM = s.tileN = small ? 64 : 128;
    s.warps = small ? 4 : 8;
    s.tileK = 32;
    // Slices in flight hide the global memory latency: 4 (80 KiB for 128x128 tiles)
    // where a block may use 227 KiB of shared memory (sm_90), 3 where 99 KiB (sm_86,
    // sm_89; sm_80 has 163 KiB).
    s.stages = target.starts_with("sm_90") ? 4 : 3;
    return s;
  }
  s.tileM = s.tileN = 64;
  s.tileK = 16;
  s.warps = 8;
  s.stages = 1;
  return s;
}

KernelSchedule attentionSchedule(AttentionOp op, StringRef target) {
  KernelSchedule s;
  s.sharedKib = sharedKibOf(target);
  Shape q = shapeOf(op.getQuery()), v = shapeOf(op.getValue());
  auto fits = [](const Dim &d) {
    return d.isStatic() && d.size % 16 == 0 && d.size <= 128;
  };
  s.tensorCores = isHalf(op.getQuery()) && isHalf(op.getKey()) && isHalf(op.getValue()) &&
                  fits(q.back()) && fits(v.back());
  s.tileQ = 64;
  // Q, K and V tiles (rows padded by 8) must fit in 48 KiB: 64 keys up to head size 64.
  s.tileKv = s.tensorCores && q.back().size <= 64 && v.back().size <= 64 ? 64 : 32;
  s.warps = s.tensorCores ? 4 : 2;
  return s;
}

/// Paged attention: one query token and KV head per block (its query heads share the
/// key and value loads), `tile_kv` keys per block of a split context (flash-decoding:
/// long contexts spread over blocks, the last of a context's to finish combining their
/// partial results; steps of a few tokens take a variant of 8 warps).
KernelSchedule pagedAttentionSchedule(StringRef target) {
  KernelSchedule s;
  s.sharedKib = sharedKibOf(target);
  s.tileQ = 1;
  s.tileKv = 64;
  s.warps = 4;
  s.tensorCores = false;
  return s;
}

KernelSchedule pointwiseSchedule(KernelOp kernel) {
  KernelSchedule s;
  s.threads = 256;
  s.vector = 1;
  ValueRange outputs = kernel.getBody().front().getTerminator()->getOperands();
  int64_t vector = 16;
  for (Value out : outputs) {
    Type element = llvm::cast<RankedTensorType>(out.getType()).getElementType();
    unsigned bits = element.getIntOrFloatBitWidth();
    if (bits < 8)
      return s;
    vector = std::min<int64_t>(vector, 128 / bits);
    Shape shape = shapeOf(out);
    if (shape.empty() || !shape.back().isStatic())
      return s;
  }
  for (Value out : outputs)
    while (vector > 1 && shapeOf(out).back().size % vector != 0)
      vector /= 2;
  s.vector = vector;
  return s;
}

KernelSchedule rowSchedule(KernelOp kernel) {
  KernelSchedule s;
  s.threads = 256;
  Operation *anchor = kernel.getAnchor();
  Shape in = shapeOf(anchor->getOperand(0));
  int64_t row = 0;
  if (auto rms = llvm::dyn_cast<RmsNormOp>(anchor))
    row = staticCount(ArrayRef<Dim>(in).drop_front(rms.getAxis())).value_or(0);
  else if (auto layer = llvm::dyn_cast<LayerNormOp>(anchor))
    row = staticCount(ArrayRef<Dim>(in).drop_front(layer.getAxis())).value_or(0);
  else if (llvm::isa<QuantizeRowsOp>(anchor))
    row = in.empty() ? 0 : staticCount(ArrayRef<Dim>(in).take_back()).value_or(0);
  if (row > 0)
    s.threads = std::clamp<int64_t>(llvm::PowerOf2Ceil((row + 3) / 4), 32, 256);
  return s;
}

struct ChooseTiles : public loom::impl::LoomChooseTilesBase<ChooseTiles> {
  using Base::Base;

  void runOnOperation() override {
    if (target != "sm_80" && target != "sm_86" && target != "sm_89" &&
        target != "sm_90" && target != "sm_90a") {
      getOperation()->emitError() << "loom-choose-tiles: unsupported target '" << target
                                  << "' (sm_80, sm_86, sm_89, sm_90, sm_90a)";
      return signalPassFailure();
    }
    getOperation()->walk([&](KernelOp kernel) {
      if (kernel.getSchedule())
        return;
      KernelSchedule s = chooseSchedule(kernel, target);
      kernel.setScheduleAttr(s.toAttr(kernel.getContext(), kernel.getKind()));
      ++numScheduled;
      LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": numScheduled " << numScheduled.getValue()
                              << "\n");
    });
  }
};

} // namespace

KernelSchedule loom::chooseSchedule(KernelOp kernel, StringRef target) {
  // Every target accepted (sm_80 and up) has mma.sync; they differ in shared memory.
  switch (kernel.getKind()) {
  case KernelKind::Matmul:
    return matmulSchedule(kernel.getAnchor(), target);
  case KernelKind::Attention:
    if (auto attention = llvm::dyn_cast<AttentionOp>(kernel.getAnchor()))
      return attentionSchedule(attention, target);
    return pagedAttentionSchedule(target);
  case KernelKind::Pointwise:
    return pointwiseSchedule(kernel);
  default:
    return rowSchedule(kernel);
  }
}

KernelSchedule loom::scheduleOf(KernelOp kernel) {
  std::string why;
  if (std::optional<DictionaryAttr> attr = kernel.getSchedule())
    if (std::optional<KernelSchedule> s =
            KernelSchedule::fromAttr(*attr, kernel.getKind(), why))
      return *s;
  return chooseSchedule(kernel, "sm_80");
}
