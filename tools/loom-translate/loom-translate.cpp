//===- loom-translate.cpp - Translations out of loom IR --------------------===//
//
// `loom-translate --loom-to-cuda file.mlir` prints the CUDA C++ of a fused module (the
// output of the default pipeline), so lit tests can check the generated kernels.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/CudaEmitter.h"
#include "dialects/loom/LoomDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"

int main(int argc, char **argv) {
  mlir::TranslateFromMLIRRegistration toCuda(
      "loom-to-cuda", "Write the CUDA C++ of every loom.kernel",
      [](mlir::Operation *op, llvm::raw_ostream &os) -> mlir::LogicalResult {
        auto module = llvm::dyn_cast<mlir::ModuleOp>(op);
        if (!module)
          return op->emitError("expected a module");
        return loom::cuda::emitCuda(module, os);
      },
      [](mlir::DialectRegistry &registry) {
        registry.insert<loom::LoomDialect, mlir::func::FuncDialect>();
      });
  return mlir::failed(mlir::mlirTranslateMain(argc, argv, "Loom translations"));
}
