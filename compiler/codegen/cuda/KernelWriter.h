//===- KernelWriter.h - One loom.kernel as a CUDA function -------*- C++ -*-===//
//
// Internal to the CUDA emitter. A KernelWriter writes the body of one kernel with an
// ElementEmitter, by kind: pointwise and normalization (KernelWriter.cpp), matmul
// (MatmulKernels.cpp), reductions (ReductionKernels.cpp), attention
// (AttentionKernel.cpp), the paged KV-cache kinds (PagedKernels.cpp, the tensor-core
// paged attention in PagedPrefillKernels.cpp, the cache writes in CacheWriteKernels.cpp).
// Anchored kinds compute their anchor's value themselves and store every output through
// storeOutputs, which follows the epilogue.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_CODEGEN_CUDA_KERNELWRITER_H
#define LOOM_COMPILER_CODEGEN_CUDA_KERNELWRITER_H

#include "compiler/codegen/cuda/CudaEmitter.h"
#include "compiler/codegen/cuda/DeviceLibrary.h"
#include "compiler/codegen/cuda/ElementEmitter.h"
#include "passes/Passes.h"

#include "llvm/ADT/DenseSet.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace loom::cuda {

/// The statement storing compute-typed `value` into `target` of `element` storage.
std::string store(mlir::Type element, const std::string &target,
                  const std::string &value);
/// `x` as a literal of compute type `type` ("(float)1.250000000e-01").
std::string floatLiteral(double x, const std::string &type);
/// The softmax scale of an attention: its `scale`, else 1 / sqrt(head size).
double softmaxScale(std::optional<llvm::APFloat> scale, int64_t headSize);
/// The product of `dims` as size-expression text ("?" if one is anonymous).
std::string work(llvm::ArrayRef<Dim> dims);
/// The product of `dims` as a C++ expression over the `s_<name>` parameters.
std::string product(llvm::ArrayRef<Dim> dims);
/// The name of `dim` when it is one plain dimension name, which a launch guard can
/// test; nullopt otherwise.
std::optional<std::string> guardName(const Dim &dim);
/// The kernel parameters (C++ element type, name) of kernel input `input` named
/// `name` when it is a quantized weight: its codes (`name`), scales, zeros or mins and
/// permutation, in the order the artifact passes them (QuantizedWeights.h); empty for
/// other inputs (QuantizedKernels.cpp).
std::vector<std::pair<std::string, std::string>> quantParameters(mlir::Value input,
                                                                 const std::string &name);

class KernelWriter {
public:
  KernelWriter(KernelOp kernel, std::string name);
  /// Writes the kernel's function to `os`, or reports on the kernel op why it cannot.
  mlir::LogicalResult write(llvm::raw_ostream &os);
  const EmittedKernel &info() const { return info_; }
  /// The device files the kernel's code uses (see require).
  const DeviceFileSet &deviceFiles() const { return deviceFiles_; }

private:
  mlir::Block &body() { return kernel_.getBody().front(); }
  mlir::ValueRange yielded() { return body().getTerminator()->getOperands(); }

  /// Places device file `name` (compiler/codegen/cuda/device/<name>, a skeleton or
  /// helpers) once into kernels.cu ahead of the kernels: called by the method whose
  /// code instantiates or calls what the file defines.
  void require(std::string_view name) { deviceFiles_.require(name); }

  bool refuse(const std::string &why) {
    why_ = why;
    return false;
  }

  bool pointwise();
  bool normalization();
  /// Normalizes the rows of `norm` (rms_norm or layer_norm), a block of `threads` per
  /// row (setting `grid`), handing each value to `store` with its index.
  bool normalizeRows(mlir::Operation *norm, int64_t threads, EmittedKernel::GridDim &grid,
                     const std::function<bool(const Index &, const std::string &)> &store);
  /// `loom.quantize_rows`: a block per row finds max|x| and rounds each element
  /// (QuantizedKernels.cpp).
  bool quantizeRows(QuantizeRowsOp op);
  bool matmul();
  bool tensorCoreLinear(LinearOp op, const std::string &a, const std::string &b);
  bool fewRowsLinear(LinearOp op, const std::string &a, const std::string &b);
  bool fewRowsBody(LinearOp op, const std::string &a, const std::string &b, int64_t most,
                   int64_t warpsPerRow, bool preload);
  bool warpgroupLinear(LinearOp op, const std::string &a, const std::string &b);
  /// Refuses a kernel that reads a quantized weight other than as its anchor linear
  /// layer's weight (QuantizedKernels.cpp).
  bool checkQuantizedInputs();
  /// A linear layer with a quantized weight: the tiled kernel and the decode phases.
  bool quantizedLinear(LinearOp op);
  bool quantFewRows(LinearOp op, const std::string &a, const std::string &b);
  bool quantPreamble(LinearOp op, const std::string &b, const std::string &skeleton);
  void quantWeight(LinearOp op, const std::string &b);
  bool storeLinear(LinearOp op, const std::string &acc);
  bool reduction();
  bool reduceKernel(ReduceOp op);
  bool softmaxKernel(SoftmaxOp op);
  bool cumsumKernel(CumsumOp op);
  /// Training ops (TrainingKernels.cpp).
  bool crossEntropyKernel(CrossEntropyOp op);
  bool crossEntropyGradKernel(CrossEntropyGradOp op);
  bool scatterAddKernel(ScatterAddOp op);
  bool attentionGradKernel(AttentionGradOp op);
  bool attention();
  bool pagedAttention(PagedAttentionOp op);
  bool scatter();
  /// A grid-stride loop per cache write storing its rows at their slots.
  void emitCacheWrites(llvm::ArrayRef<CacheWriteOp> writes);
  void emitQuantizedWrite(CacheWriteOp write);
  /// The one-token step's new row of `write` (see PagedKernels.cpp).
  void emitNewRow(CacheWriteOp write, int64_t width, const std::string &tile,
                  const std::string &stores, int64_t first);
  /// The index of the kernel output that yields `value`.
  unsigned outputOf(mlir::Value value);
  /// The parameter a paged op reads a cache from: the input, or for a cache a write in
  /// the kernel updates (in place), the output.
  std::string cacheParameter(mlir::Value cache);
  /// A fresh emitter over the kernel's inputs.
  std::unique_ptr<ElementEmitter> newEmitter();
  /// Writes a later phase or a variant of the kernel (`phase`): `body` writes its code
  /// with a fresh emitter in `emitter_`; the phase and its code are kept if it succeeds.
  bool writePhase(EmittedKernel::Phase phase, const std::function<bool()> &body);
  /// Writes one `extern "C"` function with the kernel's parameters around `code`.
  void writeFunction(llvm::raw_ostream &os, const EmittedKernel::Phase &phase,
                     const std::string &code);
  bool tensorCoreAttention(AttentionOp op);
  bool pagedPrefill(PagedAttentionOp op);
  void flashTile(int64_t d, int64_t dv, int64_t tileKv, const std::string &kind,
                 bool causal, double scale, const std::function<void()> &adjust);
  bool flashFinish(int64_t dv, const std::function<bool()> &store);
  void flashQueryFragments(int64_t d);
  std::string kvEnd(AttentionOp op, const std::string &tileQ,
                    const std::string &queryTile);
  void adjustScore(AttentionOp op, const std::string &score, const std::string &row,
                   const std::string &col, const std::string &type);
  static std::string identity(ReduceKind kind, const std::string &type);

  llvm::DenseSet<mlir::Value> computedFrom(mlir::Value anchor);
  std::optional<std::string> forward(mlir::Value anchor,
                                     llvm::ArrayRef<mlir::Operation *> chain,
                                     const Index &index, std::string &value);
  bool storeOutputs(mlir::Value anchor, const Index &index, const std::string &value);

  /// A linear layer of 2H outputs (a pair merged by loom-merge-linears) whose result
  /// is read only by the windows of its two halves, [0, H) and [H, 2H) of the last
  /// axis, every output being an elementwise function of those windows (silu(g) * u):
  /// each output element needs the two accumulators of columns n and H + n.
  struct Gate {
    SliceOp low, high;
    int64_t half;
    /// The scratch buffer the tiled kernels store the layer's result to, which a phase
    /// after them (writeGatePhase) reads back in pairs; empty for the matrix-vector
    /// variants, which pair the columns in the block.
    std::string scratch;
    /// When the tiled kernel's warpgroup path (sm_90a) runs, which pairs the columns
    /// itself: its condition, which the `_gate` phase tests to leave at once; empty
    /// when it has none.
    std::string pairedWhen;
  };
  static std::optional<Gate> gatedHalves(LinearOp op);
  /// The `_gate` phase: every output at every window index, from the two halves of
  /// the scratch the tiled kernel stored.
  bool writeGatePhase(LinearOp op);
  /// Stores every output at window index `index` given the values of the two halves
  /// there.
  bool storeGated(const Index &index, const std::string &low, const std::string &high);
  std::string parameter(mlir::Value value);
  /// Whether the kernel input `value` is an input of the run (an entry argument or a
  /// reshape of one), which no kernel writes: safe to read before loom_wait_prior().
  bool isRunInput(mlir::Value value);

  KernelOp kernel_;
  /// How the kernel is laid out: its `schedule`, or the default choice without one.
  KernelSchedule schedule_;
  std::string name_;
  std::unique_ptr<ElementEmitter> emitter_;
  EmittedKernel info_;
  /// Set while writing a gated pair's kernel (see Gate).
  std::optional<Gate> gate_;
  /// The bodies of info_.phases, in order.
  std::vector<std::string> phaseCode_;
  DeviceFileSet deviceFiles_;
  std::string why_;
};

} // namespace loom::cuda

#endif // LOOM_COMPILER_CODEGEN_CUDA_KERNELWRITER_H
