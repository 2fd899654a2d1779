// RUN: loom-opt %s -loom-partition-pipeline=stages=2 -verify-diagnostics

// Fewer layers than stages.
// expected-error @+1 {{has 1 layers (ops located at "<name>.<layer>"), fewer than the 2 pipeline stages}}
func.func @small(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %a = loom.tanh %x : tensor<4x8xf32> loc("model.layers.0")
  return %a : tensor<4x8xf32>
}
