// RUN: loom-opt %s -split-input-file -loom-autodiff -loom-checkpoint-activations | FileCheck %s
// RUN: loom-opt %s -split-input-file -loom-autodiff -loom-checkpoint-activations=policy=none | FileCheck %s --check-prefix=NONE
// RUN: loom-opt %s -split-input-file -loom-autodiff -loom-checkpoint-activations -loom-fuse | FileCheck %s --check-prefix=FUSED

// Two "layers": each one's ops that the backward reads are cloned before the
// backward's first use, reading the layer's input through loom.recompute; the
// backward reads the clones, the forward keeps only the layers' inputs. Weights are
// not cloned.
// CHECK-LABEL: func.func @two_layers
// CHECK: %[[W:.+]] = loom.weight "w"
// CHECK: %[[A:.+]] = loom.mul %arg0, %[[W]]
// CHECK: %[[E:.+]] = loom.tanh %[[A]]
// CHECK: %[[B:.+]] = loom.mul %[[E]], %[[W]]
// CHECK: %[[F:.+]] = loom.tanh %[[B]]
// CHECK: %[[L:.+]] = loom.reduce sum %[[F]]
// The second layer's recomputation comes first (the backward visits it first).
// CHECK: %[[R1:.+]] = loom.recompute %[[E]]
// CHECK: %[[B2:.+]] = loom.mul %[[R1]], %[[W]]
// CHECK: %[[F2:.+]] = loom.tanh %[[B2]]
// CHECK: loom.mul %[[F2]], %[[F2]]
// CHECK: %[[R0:.+]] = loom.recompute %arg0
// CHECK: %[[A2:.+]] = loom.mul %[[R0]], %[[W]]
// CHECK: %[[E2:.+]] = loom.tanh %[[A2]]
// CHECK: loom.mul %[[E2]], %[[E2]]
// CHECK: return %[[L]]

// NONE-LABEL: func.func @two_layers
// NONE-NOT: loom.recompute

// The markers do not reach kernels.
// FUSED-LABEL: func.func @two_layers
// FUSED-NOT: loom.recompute
func.func @two_layers(%x: tensor<4x8xf32>) -> (tensor<f32> {loom.name = "loss"}) attributes {loom.autodiff} {
  %w = loom.weight "w" : tensor<8xf32> loc("layer.0")
  %a = loom.mul %x, %w : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32> loc("layer.0")
  %e = loom.tanh %a : tensor<4x8xf32> loc("layer.0")
  %b = loom.mul %e, %w : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32> loc("layer.1")
  %f = loom.tanh %b : tensor<4x8xf32> loc("layer.1")
  %l = loom.reduce sum %f axes [0, 1] : tensor<4x8xf32> -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// A function without gradients (a forward) is left alone.
// CHECK-LABEL: func.func @forward
// CHECK-NOT: loom.recompute
func.func @forward(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %e = loom.tanh %x : tensor<4x8xf32> loc("layer.0")
  return %e : tensor<4x8xf32>
}
