// RUN: loom-opt %s -split-input-file -loom-raise-attention | FileCheck %s

// The exporter's grouped-query attention: K and V heads repeated with expand, K^T
// through a merge/transpose/split of dimensions, D^-1/4 on each side, a causal mask
// built from iotas, and the NaN guard after the softmax.
// CHECK-LABEL: func.func @gqa_causal
// CHECK-SAME: (%[[Q:.+]]: tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, %[[K:.+]]: tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, %[[V:.+]]: tensor<?x2x?x32xf32, #loom.dims<batch, seq>>)
// CHECK: %[[O:.+]] = loom.attention %[[Q]], %[[K]], %[[V]] causal : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
// CHECK-NEXT: return %[[O]]
func.func @gqa_causal(%q: tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, %k: tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, %v: tensor<?x2x?x32xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>> {
  %c = loom.constant dense<0.420448214> : tensor<f32>
  %zero = loom.constant dense<0.0> : tensor<f32>
  %lowest = loom.constant dense<-3.40282347E+38> : tensor<f32>
  %pos = loom.iota %q dim 2 : tensor<?x8x?x32xf32, #loom.dims<batch, seq>> -> tensor<?xi64, #loom.dims<seq>>
  %rows = loom.reshape %pos : tensor<?xi64, #loom.dims<seq>> -> tensor<?x1xi64, #loom.dims<seq>>
  %allowed = loom.compare le, %pos, %rows : (tensor<?xi64, #loom.dims<seq>>, tensor<?x1xi64, #loom.dims<seq>>) -> tensor<?x?xi1, #loom.dims<seq, seq>>
  %mask = loom.select %allowed, %zero, %lowest : (tensor<?x?xi1, #loom.dims<seq, seq>>, tensor<f32>, tensor<f32>) -> tensor<?x?xf32, #loom.dims<seq, seq>>
  %k1 = loom.reshape %k : tensor<?x2x?x32xf32, #loom.dims<batch, seq>> -> tensor<?x2x1x?x32xf32, #loom.dims<batch, seq>>
  %k2 = loom.broadcast %k1 : tensor<?x2x1x?x32xf32, #loom.dims<batch, seq>> -> tensor<?x2x4x?x32xf32, #loom.dims<batch, seq>>
  %k3 = loom.reshape %k2 : tensor<?x2x4x?x32xf32, #loom.dims<batch, seq>> -> tensor<?x?x32xf32, #loom.dims<"8*batch", seq>>
  %k4 = loom.transpose %k3 [0, 2, 1] : tensor<?x?x32xf32, #loom.dims<"8*batch", seq>> -> tensor<?x32x?xf32, #loom.dims<"8*batch", seq>>
  %kt = loom.reshape %k4 : tensor<?x32x?xf32, #loom.dims<"8*batch", seq>> -> tensor<?x8x32x?xf32, #loom.dims<batch, seq>>
  %v1 = loom.reshape %v : tensor<?x2x?x32xf32, #loom.dims<batch, seq>> -> tensor<?x2x1x?x32xf32, #loom.dims<batch, seq>>
  %v2 = loom.broadcast %v1 : tensor<?x2x1x?x32xf32, #loom.dims<batch, seq>> -> tensor<?x2x4x?x32xf32, #loom.dims<batch, seq>>
  %v3 = loom.reshape %v2 : tensor<?x2x4x?x32xf32, #loom.dims<batch, seq>> -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  %qs = loom.mul %q, %c : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<f32>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  %ks = loom.mul %kt, %c : (tensor<?x8x32x?xf32, #loom.dims<batch, seq>>, tensor<f32>) -> tensor<?x8x32x?xf32, #loom.dims<batch, seq>>
  %s = loom.matmul %qs, %ks : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x8x32x?xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x?xf32, #loom.dims<batch, seq, seq>>
  %l = loom.add %s, %mask : (tensor<?x8x?x?xf32, #loom.dims<batch, seq, seq>>, tensor<?x?xf32, #loom.dims<seq, seq>>) -> tensor<?x8x?x?xf32, #loom.dims<batch, seq, seq>>
  %p = loom.softmax %l axis 3 : tensor<?x8x?x?xf32, #loom.dims<batch, seq, seq>>
  %nan = loom.compare ne, %p, %p : (tensor<?x8x?x?xf32, #loom.dims<batch, seq, seq>>, tensor<?x8x?x?xf32, #loom.dims<batch, seq, seq>>) -> tensor<?x8x?x?xi1, #loom.dims<batch, seq, seq>>
  %pg = loom.select %nan, %zero, %p : (tensor<?x8x?x?xi1, #loom.dims<batch, seq, seq>>, tensor<f32>, tensor<?x8x?x?xf32, #loom.dims<batch, seq, seq>>) -> tensor<?x8x?x?xf32, #loom.dims<batch, seq, seq>>
  %o = loom.matmul %pg, %v3 : (tensor<?x8x?x?xf32, #loom.dims<batch, seq, seq>>, tensor<?x8x?x32xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  return %o : tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
}

// -----

// A padding mask stays an additive mask; a scale that is not 1/sqrt(D) is kept.
// CHECK-LABEL: func.func @padding_mask
// CHECK: loom.attention %arg0, %arg1, %arg2 mask %arg3 scale 1.250000e-01 :
func.func @padding_mask(%q: tensor<2x4x6x16xf32>, %k: tensor<2x4x6x16xf32>, %v: tensor<2x4x6x16xf32>, %mask: tensor<2x1x1x6xf32>) -> tensor<2x4x6x16xf32> {
  %c = loom.constant dense<0.125> : tensor<f32>
  %s = loom.matmul %q, %k transpose_rhs : (tensor<2x4x6x16xf32>, tensor<2x4x6x16xf32>) -> tensor<2x4x6x6xf32>
  %t = loom.mul %s, %c : (tensor<2x4x6x6xf32>, tensor<f32>) -> tensor<2x4x6x6xf32>
  %l = loom.add %t, %mask : (tensor<2x4x6x6xf32>, tensor<2x1x1x6xf32>) -> tensor<2x4x6x6xf32>
  %p = loom.softmax %l axis 3 : tensor<2x4x6x6xf32>
  %o = loom.matmul %p, %v : (tensor<2x4x6x6xf32>, tensor<2x4x6x16xf32>) -> tensor<2x4x6x16xf32>
  return %o : tensor<2x4x6x16xf32>
}

// -----

// The mask `key < query` (strict) is not causal; it stays a mask.
// CHECK-LABEL: func.func @strict_mask_is_not_causal
// CHECK: loom.attention %arg0, %arg1, %arg2 mask
// CHECK-NOT: causal
func.func @strict_mask_is_not_causal(%q: tensor<1x2x5x8xf32>, %k: tensor<1x2x5x8xf32>, %v: tensor<1x2x5x8xf32>) -> tensor<1x2x5x8xf32> {
  %zero = loom.constant dense<0.0> : tensor<f32>
  %ninf = loom.constant dense<0xFF800000> : tensor<f32>
  %pos = loom.iota %q dim 2 : tensor<1x2x5x8xf32> -> tensor<5xi64>
  %rows = loom.reshape %pos : tensor<5xi64> -> tensor<5x1xi64>
  %allowed = loom.compare lt, %pos, %rows : (tensor<5xi64>, tensor<5x1xi64>) -> tensor<5x5xi1>
  %mask = loom.select %allowed, %zero, %ninf : (tensor<5x5xi1>, tensor<f32>, tensor<f32>) -> tensor<5x5xf32>
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>) -> tensor<1x2x5x5xf32>
  %l = loom.add %s, %mask : (tensor<1x2x5x5xf32>, tensor<5x5xf32>) -> tensor<1x2x5x5xf32>
  %p = loom.softmax %l axis 3 : tensor<1x2x5x5xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x5x5xf32>, tensor<1x2x5x8xf32>) -> tensor<1x2x5x8xf32>
  return %o : tensor<1x2x5x8xf32>
}

// -----

// Must not fire: the softmax runs over the query axis.
// CHECK-LABEL: func.func @softmax_wrong_axis
// CHECK-NOT: loom.attention
func.func @softmax_wrong_axis(%q: tensor<1x2x5x8xf32>, %k: tensor<1x2x5x8xf32>, %v: tensor<1x2x5x8xf32>) -> tensor<1x2x5x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>) -> tensor<1x2x5x5xf32>
  %p = loom.softmax %s axis 2 : tensor<1x2x5x5xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x5x5xf32>, tensor<1x2x5x8xf32>) -> tensor<1x2x5x8xf32>
  return %o : tensor<1x2x5x8xf32>
}
