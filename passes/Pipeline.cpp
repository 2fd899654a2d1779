//===- Pipeline.cpp - The default pass pipeline ----------------------------===//

#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void loom::buildDefaultPipeline(OpPassManager &pm, StringRef target) {
  // Clean up what the importer left (layout chains, identities, duplicates), raise the
  // primitive spellings in the order their patterns depend on each other, clean up again,
  // merge sibling linear layers, group what is left into kernels (norms into the linear
  // layers that read them, a layer's cache writes into one, then into the attention that
  // reads them), and choose how each kernel is laid out.
  pm.addPass(createLoomCanonicalize());
  pm.addPass(createCSEPass());
  pm.addPass(createLoomInferShapes());
  pm.addPass(createLoomFoldIndexArithmetic());
  pm.addPass(createLoomRaiseNormalization());
  pm.addPass(createLoomRaiseActivations());
  pm.addPass(createLoomRaiseRope());
  pm.addPass(createLoomRaiseAttention());
  pm.addPass(createLoomRaiseLinear());
  pm.addPass(createLoomCanonicalize());
  pm.addPass(createCSEPass());
  pm.addPass(createLoomMergeLinears());
  pm.addPass(createLoomFuse());
  pm.addPass(createLoomNormIntoLinear());
  pm.addPass(createLoomMergeCacheWrites());
  pm.addPass(createLoomWritesIntoAttention());
  pm.addPass(createLoomChooseTiles(LoomChooseTilesOptions{target.str()}));
}

void loom::registerLoomPipelines() {
  PassPipelineRegistration<>(
      "loom-default-pipeline",
      "Loom's default pipeline: clean up, raise, clean up, fuse, choose tiles "
      "(for sm_90a)",
      [](OpPassManager &pm) { buildDefaultPipeline(pm); });
}
