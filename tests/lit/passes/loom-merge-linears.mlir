// RUN: loom-opt %s -split-input-file -loom-merge-linears | FileCheck %s

// Q, K and V read the same input: one layer over the stacked weights and biases, cut
// back into the three results by slices of the last axis.
// CHECK-LABEL: func.func @qkv
// CHECK-DAG: %[[W:.+]] = loom.weight "q.w" stacked ["k.w", "v.w"] rows [128, 32, 32] : tensor<192x128xbf16>
// CHECK-DAG: %[[B:.+]] = loom.weight "q.b" stacked ["k.b", "v.b"] rows [128, 32, 32] : tensor<192xbf16>
// CHECK: %[[Y:.+]] = loom.linear %arg0, %[[W]] bias %[[B]] transpose_weight : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<192x128xbf16>, tensor<192xbf16>) -> tensor<?x192xbf16, #loom.dims<tokens>>
// CHECK-NEXT: %[[Q:.+]] = loom.slice %[[Y]] axes [1] starts [0] ends [128] steps [1]
// CHECK-NEXT: %[[K:.+]] = loom.slice %[[Y]] axes [1] starts [128] ends [160] steps [1]
// CHECK-NEXT: %[[V:.+]] = loom.slice %[[Y]] axes [1] starts [160] ends [192] steps [1]
// CHECK-NOT: loom.linear
// CHECK-NOT: loom.weight
// CHECK: return %[[Q]], %[[K]], %[[V]]
func.func @qkv(%x: tensor<?x128xbf16, #loom.dims<tokens>>) -> (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>) {
  %wq = loom.weight "q.w" : tensor<128x128xbf16>
  %bq = loom.weight "q.b" : tensor<128xbf16>
  %wk = loom.weight "k.w" : tensor<32x128xbf16>
  %bk = loom.weight "k.b" : tensor<32xbf16>
  %wv = loom.weight "v.w" : tensor<32x128xbf16>
  %bv = loom.weight "v.b" : tensor<32xbf16>
  %q = loom.linear %x, %wq bias %bq transpose_weight : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<128x128xbf16>, tensor<128xbf16>) -> tensor<?x128xbf16, #loom.dims<tokens>>
  %k = loom.linear %x, %wk bias %bk transpose_weight : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<32x128xbf16>, tensor<32xbf16>) -> tensor<?x32xbf16, #loom.dims<tokens>>
  %v = loom.linear %x, %wv bias %bv transpose_weight : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<32x128xbf16>, tensor<32xbf16>) -> tensor<?x32xbf16, #loom.dims<tokens>>
  return %q, %k, %v : tensor<?x128xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>
}

// -----

// A SwiGLU's gate and up meet again in silu(g) * u: they merge as a pair of their own
// (the CUDA emitter pairs the halves' columns in the epilogue), and a third layer over
// the same input stays apart.
// CHECK-LABEL: func.func @swiglu
// CHECK: %[[W:.+]] = loom.weight "gate" stacked ["up"] rows [96, 96] : tensor<192x64xbf16>
// CHECK: %[[Y:.+]] = loom.linear %arg0, %[[W]] transpose_weight
// CHECK-NEXT: %[[G:.+]] = loom.slice %[[Y]] axes [1] starts [0] ends [96] steps [1]
// CHECK-NEXT: %[[U:.+]] = loom.slice %[[Y]] axes [1] starts [96] ends [192] steps [1]
// CHECK: loom.linear %arg0, %{{.+}} transpose_weight : {{.+}} -> tensor<?x96xbf16
// CHECK: %[[S:.+]] = loom.silu %[[G]]
// CHECK: loom.mul %[[S]], %[[U]]
func.func @swiglu(%x: tensor<?x64xbf16, #loom.dims<tokens>>) -> (tensor<?x96xbf16, #loom.dims<tokens>>, tensor<?x96xbf16, #loom.dims<tokens>>) {
  %wg = loom.weight "gate" : tensor<96x64xbf16>
  %wu = loom.weight "up" : tensor<96x64xbf16>
  %wo = loom.weight "other" : tensor<96x64xbf16>
  %g = loom.linear %x, %wg transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<96x64xbf16>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  %u = loom.linear %x, %wu transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<96x64xbf16>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  %o = loom.linear %x, %wo transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<96x64xbf16>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  %s = loom.silu %g : tensor<?x96xbf16, #loom.dims<tokens>>
  %y = loom.mul %s, %u : (tensor<?x96xbf16, #loom.dims<tokens>>, tensor<?x96xbf16, #loom.dims<tokens>>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  return %y, %o : tensor<?x96xbf16, #loom.dims<tokens>>, tensor<?x96xbf16, #loom.dims<tokens>>
}

// -----

// Layers that meet other than elementwise (one result also read elsewhere) stay apart.
// CHECK-LABEL: func.func @meet_apart
// CHECK-COUNT-2: loom.linear
// CHECK-NOT: stacked
func.func @meet_apart(%x: tensor<?x64xbf16, #loom.dims<tokens>>) -> (tensor<?x96xbf16, #loom.dims<tokens>>, tensor<?x96xbf16, #loom.dims<tokens>>) {
  %wg = loom.weight "gate" : tensor<96x64xbf16>
  %wu = loom.weight "up" : tensor<96x64xbf16>
  %g = loom.linear %x, %wg transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<96x64xbf16>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  %u = loom.linear %x, %wu transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<96x64xbf16>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  %s = loom.silu %g : tensor<?x96xbf16, #loom.dims<tokens>>
  %y = loom.mul %s, %u : (tensor<?x96xbf16, #loom.dims<tokens>>, tensor<?x96xbf16, #loom.dims<tokens>>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  return %y, %u : tensor<?x96xbf16, #loom.dims<tokens>>, tensor<?x96xbf16, #loom.dims<tokens>>
}

// -----

// Not merged: [K, N] weights (stacking them would interleave columns), a bias on one
// layer only, and layers over different inputs.
// CHECK-LABEL: func.func @apart
// CHECK-COUNT-5: loom.linear
// CHECK-NOT: stacked
func.func @apart(%x: tensor<?x64xf32, #loom.dims<tokens>>, %z: tensor<?x64xf32, #loom.dims<tokens>>) -> (tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>) {
  %a = loom.weight "a" : tensor<64x16xf32>
  %b = loom.weight "b" : tensor<64x16xf32>
  %c = loom.weight "c" : tensor<16x64xf32>
  %cb = loom.weight "c.bias" : tensor<16xf32>
  %d = loom.weight "d" : tensor<16x64xf32>
  %ya = loom.linear %x, %a : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<64x16xf32>) -> tensor<?x16xf32, #loom.dims<tokens>>
  %yb = loom.linear %x, %b : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<64x16xf32>) -> tensor<?x16xf32, #loom.dims<tokens>>
  %yc = loom.linear %x, %c bias %cb transpose_weight : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<16x64xf32>, tensor<16xf32>) -> tensor<?x16xf32, #loom.dims<tokens>>
  %yd = loom.linear %x, %d transpose_weight : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<16x64xf32>) -> tensor<?x16xf32, #loom.dims<tokens>>
  %ye = loom.linear %z, %d transpose_weight : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<16x64xf32>) -> tensor<?x16xf32, #loom.dims<tokens>>
  return %ya, %yb, %yc, %yd, %ye : tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>
}

// -----

// Quantized weights of one encoding stack like any others: the stacked weight keeps the
// encoding.
// CHECK-LABEL: func.func @quantized_qk
// CHECK: loom.weight "q.w" stacked ["k.w"] rows [128, 32] quant <code = int4, group = 32, scale = f16, offset = zero, source = gptq> : tensor<160x128xbf16>
// CHECK-COUNT-1: loom.linear
func.func @quantized_qk(%x: tensor<?x128xbf16, #loom.dims<tokens>>) -> (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>) {
  %wq = loom.weight "q.w" quant <code = int4, group = 32, scale = f16, offset = zero, source = gptq> : tensor<128x128xbf16>
  %wk = loom.weight "k.w" quant <code = int4, group = 32, scale = f16, offset = zero, source = gptq> : tensor<32x128xbf16>
  %q = loom.linear %x, %wq transpose_weight : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<128x128xbf16>) -> tensor<?x128xbf16, #loom.dims<tokens>>
  %k = loom.linear %x, %wk transpose_weight : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<32x128xbf16>) -> tensor<?x32xbf16, #loom.dims<tokens>>
  return %q, %k : tensor<?x128xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>
}

// -----

// Act-order (permuted) weights, and weights of different encodings, stay apart: nothing
// changes.
// CHECK-LABEL: func.func @quantized_apart
// CHECK-COUNT-4: loom.weight "{{.}}.w" quant
// CHECK-COUNT-4: loom.linear
// CHECK-NOT: stacked
func.func @quantized_apart(%x: tensor<?x128xbf16, #loom.dims<tokens>>) -> (tensor<?x32xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>) {
  %wq = loom.weight "q.w" quant <code = int4, group = 32, scale = f16, offset = zero, permuted = true, source = gptq> : tensor<32x128xbf16>
  %wk = loom.weight "k.w" quant <code = int4, group = 32, scale = f16, offset = zero, permuted = true, source = gptq> : tensor<32x128xbf16>
  %wv = loom.weight "v.w" quant <code = int8, group = 0, scale = f16, offset = none, source = rtn> : tensor<32x128xbf16>
  %wo = loom.weight "o.w" quant <code = int4, group = 32, scale = f16, offset = zero, source = rtn> : tensor<32x128xbf16>
  %q = loom.linear %x, %wq transpose_weight : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<32x128xbf16>) -> tensor<?x32xbf16, #loom.dims<tokens>>
  %k = loom.linear %x, %wk transpose_weight : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<32x128xbf16>) -> tensor<?x32xbf16, #loom.dims<tokens>>
  %v = loom.linear %x, %wv transpose_weight : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<32x128xbf16>) -> tensor<?x32xbf16, #loom.dims<tokens>>
  %o = loom.linear %x, %wo transpose_weight : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<32x128xbf16>) -> tensor<?x32xbf16, #loom.dims<tokens>>
  return %q, %k, %v, %o : tensor<?x32xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>
}

// -----

// A quantized gate and up meet in silu(g) * u but are not paired (their kernels pair no
// columns), and since they meet they do not stack either: nothing changes.
// CHECK-LABEL: func.func @quantized_swiglu
// CHECK-NOT: stacked
// CHECK-COUNT-2: loom.linear
func.func @quantized_swiglu(%x: tensor<?x64xbf16, #loom.dims<tokens>>) -> tensor<?x96xbf16, #loom.dims<tokens>> {
  %wg = loom.weight "gate" quant <code = int4, group = 32, scale = f16, offset = none, source = rtn> : tensor<96x64xbf16>
  %wu = loom.weight "up" quant <code = int4, group = 32, scale = f16, offset = none, source = rtn> : tensor<96x64xbf16>
  %g = loom.linear %x, %wg transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<96x64xbf16>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  %u = loom.linear %x, %wu transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<96x64xbf16>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  %s = loom.silu %g : tensor<?x96xbf16, #loom.dims<tokens>>
  %y = loom.mul %s, %u : (tensor<?x96xbf16, #loom.dims<tokens>>, tensor<?x96xbf16, #loom.dims<tokens>>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  return %y : tensor<?x96xbf16, #loom.dims<tokens>>
}
