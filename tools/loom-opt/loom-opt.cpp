//===- loom-opt.cpp - Runs loom passes on .mlir files ----------------------===//
//
// MlirOptMain with the loom dialect, every loom pass and the upstream transforms
// (canonicalize, cse, ...), so passes can be tried in any order on IR text.
//
//===----------------------------------------------------------------------===//

#include "dialects/loom/LoomDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<loom::LoomDialect, mlir::func::FuncDialect>();
  loom::registerLoomPasses();
  loom::registerLoomPipelines();
  mlir::registerTransformsPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Loom optimizer: runs loom passes on MLIR\n", registry));
}
