// RUN: loom-opt %s -split-input-file -loom-autodiff -verify-diagnostics

// An op on the path from a weight to the loss needs a gradient rule.
func.func @no_rule(%x: tensor<4x8xf32>) -> tensor<f32> attributes {loom.autodiff} {
  %w = loom.weight "w" : tensor<8xf32>
  // expected-error @+1 {{has no gradient rule (DifferentiableOpInterface)}}
  %y = loom.layer_norm %x, %w axis 1 epsilon 1.0e-05 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %l = loom.reduce sum %y axes [0, 1] : tensor<4x8xf32> -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// The loss is a scalar.
// expected-error @+1 {{its first result is not a scalar float loss}}
func.func @not_scalar(%x: tensor<4xf32>) -> tensor<4xf32> attributes {loom.autodiff} {
  return %x : tensor<4xf32>
}

// -----

// Quantized weights have no gradient.
func.func @quantized(%x: tensor<4x64xf32>) -> tensor<f32> attributes {loom.autodiff} {
  // expected-error @+1 {{is quantized or stacked}}
  %w = loom.weight "w" quant <code = int8, group = 0, scale = f16, offset = none, source = rtn> : tensor<8x64xf32>
  %y = loom.matmul %x, %w transpose_rhs : (tensor<4x64xf32>, tensor<8x64xf32>) -> tensor<4x8xf32>
  %l = loom.reduce sum %y axes [0, 1] : tensor<4x8xf32> -> tensor<f32>
  return %l : tensor<f32>
}
