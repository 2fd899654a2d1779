//===- Passes.h - Loom's passes and their registration ------------*- C++ -*-===//

#ifndef LOOM_PASSES_PASSES_H
#define LOOM_PASSES_PASSES_H

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/Schedule.h"

#include "mlir/Pass/Pass.h"

namespace mlir {
class OpPassManager;
class RewritePatternSet;
} // namespace mlir

namespace loom {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

/// Adds the canonicalization patterns of every loom op to `patterns`.
void populateLoomCanonicalizationPatterns(mlir::RewritePatternSet &patterns);

/// The schedule loom-choose-tiles gives `kernel` for `target` ("sm_90a").
KernelSchedule chooseSchedule(KernelOp kernel, llvm::StringRef target);
/// The kernel's `schedule` attribute, or the choice for sm_80 when it has none.
KernelSchedule scheduleOf(KernelOp kernel);

/// Adds the default pipeline (`loom-default-pipeline` in loom-opt) to `pm`.
void buildDefaultPipeline(mlir::OpPassManager &pm, llvm::StringRef target = "sm_90a");
/// Registers the named pipelines with MLIR's pass registry.
void registerLoomPipelines();

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace loom

#endif // LOOM_PASSES_PASSES_H
