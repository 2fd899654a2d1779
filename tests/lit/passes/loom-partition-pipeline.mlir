// RUN: loom-opt %s -loom-partition-pipeline=stages=2 | FileCheck %s
// RUN: loom-opt %s -loom-partition-pipeline=stages=1 | FileCheck %s --check-prefix=ONE

// Three layers over two stages (2 + 1): stage 0 computes the free op (%c, read by
// every layer) and layers 0 and 1, sends the residual to stage 1 and receives the
// output; stage 1 computes %c itself, receives the residual, runs layer 2 and the op
// after it, and sends the output back.
// CHECK-LABEL: func.func @forward_rank0
// CHECK-SAME: attributes {loom.rank = 0 : i64, loom.world = 2 : i64}
// CHECK: %[[C:.+]] = loom.exp %arg0
// CHECK: %[[A:.+]] = loom.mul %arg0, %[[C]]
// CHECK: %[[B:.+]] = loom.mul %[[A]], %[[C]]
// CHECK: loom.send %[[B]] to 1 tag 0
// CHECK: %[[O:.+]] = loom.recv from 1 tag 1
// CHECK: return %[[O]]
// CHECK-LABEL: func.func @forward_rank1
// CHECK-SAME: attributes {loom.rank = 1 : i64, loom.world = 2 : i64}
// CHECK: %[[C1:.+]] = loom.exp %arg0
// CHECK: %[[B1:.+]] = loom.recv from 0 tag 0
// CHECK: %[[D:.+]] = loom.mul %[[B1]], %[[C1]]
// CHECK: %[[T:.+]] = loom.tanh %[[D]]
// CHECK: loom.send %[[T]] to 0 tag 1
// CHECK: return %[[T]]
// ONE-LABEL: func.func @forward(
// ONE-NOT: loom.send
func.func @forward(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %c = loom.exp %x : tensor<4x8xf32>
  %a = loom.mul %x, %c : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32> loc("model.layers.0")
  %b = loom.mul %a, %c : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32> loc("model.layers.1")
  %d = loom.mul %b, %c : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32> loc("model.layers.2")
  %t = loom.tanh %d : tensor<4x8xf32>
  return %t : tensor<4x8xf32>
}
