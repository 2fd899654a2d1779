//===- Passes.td - Loom's passes, grouped by pipeline stage ------*- tablegen -*-===//
//
// Every pass is declared here and registered by the generated code. Groups follow the
// order of the default pipeline; passes are alphabetical inside a group.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_PASSES_TD
#define LOOM_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Cleanup
//===----------------------------------------------------------------------===//

def LoomCanonicalize : Pass<"loom-canonicalize"> {
  let summary = "Applies the folders and canonicalization patterns of the loom ops";
  let description = [{
    Runs the loom dialect's folders and canonicalization patterns to a fixed point and
    erases loom ops whose results are unused. Unlike the upstream `canonicalize` pass it
    applies only loom's own rewrites, so a pipeline can clean up loom IR without touching
    other dialects. Every rewrite is exact (bit for bit): reshape/broadcast chains
    collapse, transposes compose, identity layout ops and `x * 1`, `x / 1`, `x - 0.0`,
    `x + -0.0` disappear, double negations cancel, layout ops of constants fold.

    Before:
    ```mlir
    %0 = loom.transpose %x [1, 0] : tensor<4x8xf32> -> tensor<8x4xf32>
    %1 = loom.transpose %0 [1, 0] : tensor<8x4xf32> -> tensor<4x8xf32>
    %one = loom.constant dense<1.0> : tensor<f32>
    %2 = loom.mul %1, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    ```
    After: every use of `%2` reads `%x`.
  }];
  let options = [
    Option<"maxIterations", "max-iterations", "int64_t", /*default=*/"10",
           "Stop after this many sweeps over the IR even if rewrites still apply">
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

#endif // LOOM_PASSES_TD
