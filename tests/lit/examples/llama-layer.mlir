// The README's example: the layer verifies and canonicalization removes exactly the
// importer leftovers (a transpose pair, a reshape round trip, a multiply by one).
// RUN: loom-opt --loom-canonicalize %loom_src/examples/llama-layer.mlir \
// RUN:   | FileCheck %s --implicit-check-not=loom.constant --implicit-check-not="[0, 1, 3, 2]"

// CHECK-LABEL: func.func @layer0
// CHECK-COUNT-3: loom.reshape
// CHECK: loom.attention %{{.*}}, %{{.*}}, %{{.*}} causal
// CHECK-NEXT: loom.transpose %{{.*}} [0, 2, 1, 3]
// CHECK-NEXT: loom.reshape
// CHECK-NOT: loom.reshape
// CHECK: %[[O:.+]] = loom.matmul
// CHECK-NEXT: loom.add %{{.*}}, %[[O]]
// CHECK: loom.silu
// CHECK: return
