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
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace loom::cuda {

struct EmittedKernel {
  /// The function name, `loom_<kind>_<structural hash>`.
  std::string name;
  KernelKind kind;
  /// Threads per block, and the grid: C++ expressions over the `s_<name>` parameters
  /// (every kernel loops over its work, so a smaller grid is still correct).
  int threads = 256;
  std::string grid[3] = {"1", "1", "1"};
  /// The dimension names the kernel takes, in parameter order.
  std::vector<std::string> symbols;
};

/// Writes the CUDA C++ of every loom.kernel in `module` to `os`, naming each kernel op
/// with a `loom.cuda_name` attribute. Ops outside kernels must be weights, constants or
/// reshapes (run loom-fuse first). Fails with an error on the first op it cannot write.
mlir::LogicalResult emitCuda(mlir::ModuleOp module, llvm::raw_ostream &os,
                             std::vector<EmittedKernel> *kernels = nullptr);

} // namespace loom::cuda

#endif // LOOM_COMPILER_CODEGEN_CUDA_CUDAEMITTER_H
