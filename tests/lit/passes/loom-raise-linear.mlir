// RUN: loom-opt %s -split-input-file -loom-raise-linear | FileCheck %s

// The ONNX Gemm spelling: flatten rows, multiply, add the bias, unflatten. The
// flattening moves past the layer and cancels with its inverse.
// CHECK-LABEL: func.func @gemm_with_flattening
// CHECK-NEXT: %[[W:.+]] = loom.weight "w"
// CHECK-NEXT: %[[B:.+]] = loom.weight "b"
// CHECK-NEXT: %[[Y:.+]] = loom.linear %arg0, %[[W]] bias %[[B]] : (tensor<?x?x128xf32, #loom.dims<batch, seq>>, tensor<128x384xf32>, tensor<384xf32>) -> tensor<?x?x384xf32, #loom.dims<batch, seq>>
// CHECK-NEXT: return %[[Y]]
func.func @gemm_with_flattening(%x: tensor<?x?x128xf32, #loom.dims<batch, seq>>) -> tensor<?x?x384xf32, #loom.dims<batch, seq>> {
  %w = loom.weight "w" : tensor<128x384xf32>
  %b = loom.weight "b" : tensor<384xf32>
  %f = loom.reshape %x : tensor<?x?x128xf32, #loom.dims<batch, seq>> -> tensor<?x128xf32, #loom.dims<"batch*seq">>
  %m = loom.matmul %f, %w : (tensor<?x128xf32, #loom.dims<"batch*seq">>, tensor<128x384xf32>) -> tensor<?x384xf32, #loom.dims<"batch*seq">>
  %a = loom.add %b, %m : (tensor<384xf32>, tensor<?x384xf32, #loom.dims<"batch*seq">>) -> tensor<?x384xf32, #loom.dims<"batch*seq">>
  %y = loom.reshape %a : tensor<?x384xf32, #loom.dims<"batch*seq">> -> tensor<?x?x384xf32, #loom.dims<batch, seq>>
  return %y : tensor<?x?x384xf32, #loom.dims<batch, seq>>
}

// -----

// Heads merged and rows flattened in one reshape: the features merge before the
// layer, the rows are regrouped after it and cancel.
// CHECK-LABEL: func.func @merged_heads
// CHECK: %[[M:.+]] = loom.reshape %arg0 : tensor<?x?x4x32xf32, #loom.dims<batch, seq>> -> tensor<?x?x128xf32, #loom.dims<batch, seq>>
// CHECK-NEXT: %[[Y:.+]] = loom.linear %[[M]], %{{.+}} transpose_weight : (tensor<?x?x128xf32, #loom.dims<batch, seq>>, tensor<64x128xf32>) -> tensor<?x?x64xf32, #loom.dims<batch, seq>>
// CHECK-NEXT: return %[[Y]]
func.func @merged_heads(%x: tensor<?x?x4x32xf32, #loom.dims<batch, seq>>) -> tensor<?x?x64xf32, #loom.dims<batch, seq>> {
  %w = loom.weight "w" : tensor<64x128xf32>
  %f = loom.reshape %x : tensor<?x?x4x32xf32, #loom.dims<batch, seq>> -> tensor<?x128xf32, #loom.dims<"batch*seq">>
  %t = loom.transpose %w [1, 0] : tensor<64x128xf32> -> tensor<128x64xf32>
  %m = loom.matmul %f, %t : (tensor<?x128xf32, #loom.dims<"batch*seq">>, tensor<128x64xf32>) -> tensor<?x64xf32, #loom.dims<"batch*seq">>
  %y = loom.reshape %m : tensor<?x64xf32, #loom.dims<"batch*seq">> -> tensor<?x?x64xf32, #loom.dims<batch, seq>>
  return %y : tensor<?x?x64xf32, #loom.dims<batch, seq>>
}

// -----

// A transpose of the last two dims of an activation operand becomes a flag.
// CHECK-LABEL: func.func @scores_transpose
// CHECK-NEXT: %[[S:.+]] = loom.matmul %arg0, %arg1 transpose_rhs
// CHECK-NEXT: return %[[S]]
func.func @scores_transpose(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>) -> tensor<2x4x8x8xf32> {
  %kt = loom.transpose %k [0, 1, 3, 2] : tensor<2x4x8x16xf32> -> tensor<2x4x16x8xf32>
  %s = loom.matmul %q, %kt : (tensor<2x4x8x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x8x8xf32>
  return %s : tensor<2x4x8x8xf32>
}

// -----

// Must not fire: a product of two activations (batched right operand) stays a
// matmul, a bias that varies along rows stays an add, a transpose that moves a batch
// dimension stays a transpose.
// CHECK-LABEL: func.func @not_linear
// CHECK-NOT: loom.linear
// CHECK: loom.transpose %arg1 [1, 0, 2]
// CHECK: loom.matmul
// CHECK: loom.add
func.func @not_linear(%x: tensor<2x8x16xf32>, %y: tensor<16x2x8xf32>, %rowbias: tensor<8x1xf32>) -> tensor<2x8x8xf32> {
  %yt = loom.transpose %y [1, 0, 2] : tensor<16x2x8xf32> -> tensor<2x16x8xf32>
  %m = loom.matmul %x, %yt : (tensor<2x8x16xf32>, tensor<2x16x8xf32>) -> tensor<2x8x8xf32>
  %a = loom.add %m, %rowbias : (tensor<2x8x8xf32>, tensor<8x1xf32>) -> tensor<2x8x8xf32>
  return %a : tensor<2x8x8xf32>
}

// -----

// Must not fire on the bias: the layer's result has another user.
// CHECK-LABEL: func.func @shared_result
// CHECK: %[[L:.+]] = loom.linear %arg0, %{{.+}} : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
// CHECK: loom.add %[[L]]
func.func @shared_result(%x: tensor<4x16xf32>, %b: tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %w = loom.weight "w" : tensor<16x8xf32>
  %m = loom.matmul %x, %w : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %a = loom.add %m, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %a, %m : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// An outer product (the rope angle table) is a broadcast multiply.
// CHECK-LABEL: func.func @outer_product
// CHECK-NEXT: %[[P:.+]] = loom.mul %arg0, %arg1 : (tensor<1x16x1xf32>, tensor<1x1x?xf32, #loom.dims<seq>>) -> tensor<1x16x?xf32, #loom.dims<seq>>
// CHECK-NEXT: return %[[P]]
func.func @outer_product(%f: tensor<1x16x1xf32>, %p: tensor<1x1x?xf32, #loom.dims<seq>>) -> tensor<1x16x?xf32, #loom.dims<seq>> {
  %a = loom.matmul %f, %p : (tensor<1x16x1xf32>, tensor<1x1x?xf32, #loom.dims<seq>>) -> tensor<1x16x?xf32, #loom.dims<seq>>
  return %a : tensor<1x16x?xf32, #loom.dims<seq>>
}
