//===- CudaEmitter.h - loom.kernel regions to CUDA C++ -------------*- C++ -*-===//
//
// Writes one `extern "C" __global__` function per distinct loom.kernel of a fused
// module (kernels identical in structure, such as the same op of every layer, are
// written once). A kernel's parameters are its inputs (`in0`, ...), its outputs
// (`out0`, ...) and the sizes of the named dimensions its shapes use (`s_batch`, ...),
// all `long long`. Every kernel is a grid-stride loop, so any grid size is correct;
// `EmittedKernel::launch` says which one is efficient.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_CODEGEN_CUDA_CUDAEMITTER_H
#define LOOM_COMPILER_CODEGEN_CUDA_CUDAEMITTER_H

#include "dialects/loom/LoomDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace loom::cuda {

struct EmittedKernel {
  /// The function name, `loom_<kind>_<structural hash>`.
  std::string name;
  KernelKind kind;
  /// One dimension of the grid: `ceil(work / per)` blocks, at most `cap` (0: no cap;
  /// a capped dimension is a grid-stride loop, so fewer blocks are still correct).
  /// `work` is a size expression over the kernel's dimension names ("batch*seq").
  struct GridDim {
    std::string work = "1";
    int64_t per = 1;
    int64_t cap = 0;
    /// Blocks per multiprocessor at most (0: no bound), which the runtime turns into a
    /// cap from the device's multiprocessor count: a kernel that leaves room on every
    /// SM for the blocks of a kernel after it to start while it runs.
    int64_t perSm = 0;
    /// The number of blocks for the given sizes (perSm not applied: the device is not
    /// known); nullopt if a name is unbound.
    std::optional<int64_t> blocks(const std::map<std::string, int64_t> &sizes) const;
  };
  int threads = 256;
  /// Bytes of dynamic shared memory the launch must provide (0: none).
  int64_t sharedBytes = 0;
  /// Its code calls loom_wait_prior() itself, after reading what no kernel of the run
  /// writes (Phase::waitsInside).
  bool waitsInside = false;
  GridDim grid[3];
  /// The dimension names the kernel takes, in parameter order.
  std::vector<std::string> symbols;
  /// Per output: the input it updates in place (the artifact gives both one buffer; a
  /// cache write stores only the rows it changes), or -1.
  std::vector<int> inPlace;
  /// A scratch buffer: its shape (size expressions) and element type (f32, bf16 or
  /// f16).
  struct Scratch {
    std::vector<std::string> shape;
    mlir::Type element;
  };
  /// Scratch buffers the kernel needs; passed as `ws0`, ... after the outputs and
  /// alive for the kernel's launches only.
  std::vector<Scratch> scratch;
  /// Unsigned 32-bit counters the kernel needs (0: none), passed as `counters` after
  /// the scratch buffers. They are zero when a launch starts and the kernel leaves them
  /// zero (the last block to count resets its counter), so one zero-filled buffer
  /// serves every kernel of an artifact; it outlives runs.
  int64_t counters = 0;
  /// Launch only when the named dimension's size is within [min, max] (max 0: no
  /// upper bound); an empty name always launches.
  struct Guard {
    std::string name;
    int64_t min = 0, max = 0;
    /// Whether the guarded launch runs for the given sizes (an unbound name is 0).
    bool admits(const std::map<std::string, int64_t> &sizes) const;
  };
  Guard guard;
  /// Kernels launched right after this one with the same parameters (later passes of
  /// the same work), right before it (`first`: a normalized input written to scratch),
  /// or instead of it (a variant with the complementary guard, such as a matrix-vector
  /// kernel for few rows).
  struct Phase {
    std::string name;
    int threads = 256;
    /// Blocks per SM its registers must allow (`__launch_bounds__`); 0: no bound.
    int minBlocks = 0;
    /// Its code calls loom_wait_prior() itself (after reading weights early); else the
    /// call opens the function.
    bool waitsInside = false;
    /// Launched programmatically (the manifest's `early`): its blocks may start while
    /// the kernel before it runs and wait in loom_wait_prior().
    bool early = false;
    /// Launched before the kernel itself (a prologue computed into scratch), not after.
    bool first = false;
    /// Bytes of dynamic shared memory (only the kernel itself takes any).
    int64_t sharedBytes = 0;
    GridDim grid[3];
    Guard guard;
  };
  std::vector<Phase> phases;

  /// The kernel itself as a launch.
  Phase asPhase() const;
  /// Every launch, in order: the phases marked `first`, the kernel, the other phases.
  /// All take the kernel's arguments.
  std::vector<Phase> launches() const;
};

/// Writes the CUDA C++ of every loom.kernel in `module` to `os`, naming each kernel op
/// with a `loom.cuda_name` attribute. Ops outside kernels must be weights, constants or
/// reshapes (run loom-fuse first). Fails with an error on the first op it cannot write.
mlir::LogicalResult emitCuda(mlir::ModuleOp module, llvm::raw_ostream &os,
                             std::vector<EmittedKernel> *kernels = nullptr);

/// `text` as a JSON string literal (quotes and backslashes escaped), for the manifest
/// and harness writers.
std::string jsonString(llvm::StringRef text);

/// A fused module parsed from text with its CUDA written: what the artifact and harness
/// writers start from.
struct EmittedModule {
  std::unique_ptr<mlir::MLIRContext> context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::string source;
  std::vector<EmittedKernel> kernels;
};

/// Parses `ir` (loom and func dialects) and runs emitCuda on it; on failure returns
/// false with the diagnostics in `error`.
bool parseAndEmit(const std::string &ir, EmittedModule &out, std::string &error);

} // namespace loom::cuda

#endif // LOOM_COMPILER_CODEGEN_CUDA_CUDAEMITTER_H
