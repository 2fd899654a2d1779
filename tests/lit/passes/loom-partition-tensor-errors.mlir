// RUN: loom-opt %s -split-input-file -loom-partition-tensor=degree=2 -verify-diagnostics

// A softmax over the cut features is not elementwise: reported, and the pass fails.
func.func @softmax(%x: tensor<?x4xf32, #loom.dims<tokens>>) -> tensor<?x6xf32, #loom.dims<tokens>> {
  %w = loom.weight "w" : tensor<6x4xf32>
  %h = loom.linear %x, %w transpose_weight : (tensor<?x4xf32, #loom.dims<tokens>>, tensor<6x4xf32>) -> tensor<?x6xf32, #loom.dims<tokens>>
  // expected-error @+1 {{cannot be partitioned: operand #0 is cut along axis 1 into 2 parts and no rule partitions this op}}
  %s = loom.softmax %h axis 1 : tensor<?x6xf32, #loom.dims<tokens>>
  return %s : tensor<?x6xf32, #loom.dims<tokens>>
}

// -----

// Output features that do not split evenly.
func.func @odd_features(%x: tensor<?x4xf32, #loom.dims<tokens>>) -> tensor<?x5xf32, #loom.dims<tokens>> {
  %w = loom.weight "w" : tensor<5x4xf32>
  // expected-error @+1 {{cannot be partitioned: its 5 output features do not split into 2 parts}}
  %h = loom.linear %x, %w transpose_weight : (tensor<?x4xf32, #loom.dims<tokens>>, tensor<5x4xf32>) -> tensor<?x5xf32, #loom.dims<tokens>>
  return %h : tensor<?x5xf32, #loom.dims<tokens>>
}

// -----

// Heads that do not split over the ranks; every such attention is reported.
func.func @heads(%q: tensor<1x3x4x2xf32>, %k: tensor<1x3x4x2xf32>) -> (tensor<1x3x4x2xf32>, tensor<1x3x4x2xf32>) {
  // expected-error @+1 {{cannot be partitioned: 3 query heads and 3 KV heads do not split over 2 ranks}}
  %a = loom.attention %q, %k, %k causal : (tensor<1x3x4x2xf32>, tensor<1x3x4x2xf32>, tensor<1x3x4x2xf32>) -> tensor<1x3x4x2xf32>
  // expected-error @+1 {{cannot be partitioned: 3 query heads and 3 KV heads do not split over 2 ranks}}
  %b = loom.attention %q, %k, %k : (tensor<1x3x4x2xf32>, tensor<1x3x4x2xf32>, tensor<1x3x4x2xf32>) -> tensor<1x3x4x2xf32>
  return %a, %b : tensor<1x3x4x2xf32>, tensor<1x3x4x2xf32>
}
