// RUN: loom-opt %s -split-input-file -loom-fuse -loom-norm-into-linear | FileCheck %s

// A norm read by two linear layers (a SwiGLU's gate and up): each takes it as its
// prologue, reading the norm's input and scale; the norm's kernel goes.
// CHECK-LABEL: func.func @mlp
// CHECK-NOT: loom.kernel normalization
// CHECK: loom.kernel matmul(%arg0, %arg1, %arg3)
// CHECK: %[[N:.+]] = loom.rms_norm %arg{{[0-9]+}}, %arg{{[0-9]+}} axis 1
// CHECK-NEXT: loom.linear %[[N]], %arg{{[0-9]+}} transpose_weight
// CHECK: loom.kernel matmul(%arg0, %arg1, %arg2, %{{.+}})
// CHECK: %[[M:.+]] = loom.rms_norm
// CHECK-NEXT: loom.linear %[[M]], %arg{{[0-9]+}} transpose_weight
func.func @mlp(%x: tensor<?x64xbf16, #loom.dims<tokens>>, %s: tensor<64xbf16>,
               %wg: tensor<128x64xbf16>, %wu: tensor<128x64xbf16>) -> tensor<?x128xbf16, #loom.dims<tokens>> {
  %n = loom.rms_norm %x, %s axis 1 epsilon 1.000000e-06 : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<64xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>>
  %g = loom.linear %n, %wg transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<128x64xbf16>) -> tensor<?x128xbf16, #loom.dims<tokens>>
  %u = loom.linear %n, %wu transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<128x64xbf16>) -> tensor<?x128xbf16, #loom.dims<tokens>>
  %a = loom.silu %g : tensor<?x128xbf16, #loom.dims<tokens>>
  %y = loom.mul %a, %u : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<?x128xbf16, #loom.dims<tokens>>) -> tensor<?x128xbf16, #loom.dims<tokens>>
  return %y : tensor<?x128xbf16, #loom.dims<tokens>>
}

// -----

// A norm that something else reads too (here the function's result) keeps its kernel,
// and the linear layer reads its output.
// CHECK-LABEL: func.func @also_returned
// CHECK: %[[N:.+]] = loom.kernel normalization
// CHECK: loom.kernel matmul(%[[N]], %arg2)
// CHECK-NOT: loom.rms_norm
func.func @also_returned(%x: tensor<?x64xbf16, #loom.dims<tokens>>, %s: tensor<64xbf16>,
                         %w: tensor<128x64xbf16>) -> (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<?x128xbf16, #loom.dims<tokens>>) {
  %n = loom.rms_norm %x, %s axis 1 epsilon 1.000000e-06 : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<64xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>>
  %y = loom.linear %n, %w transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<128x64xbf16>) -> tensor<?x128xbf16, #loom.dims<tokens>>
  return %n, %y : tensor<?x64xbf16, #loom.dims<tokens>>, tensor<?x128xbf16, #loom.dims<tokens>>
}

// -----

// f32 layers keep their norm kernel (their decode variant is the SIMT tile).
// CHECK-LABEL: func.func @f32
// CHECK: loom.kernel normalization
func.func @f32(%x: tensor<?x64xf32, #loom.dims<tokens>>, %s: tensor<64xf32>,
               %w: tensor<128x64xf32>) -> tensor<?x128xf32, #loom.dims<tokens>> {
  %n = loom.rms_norm %x, %s axis 1 epsilon 1.000000e-06 : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<64xf32>) -> tensor<?x64xf32, #loom.dims<tokens>>
  %y = loom.linear %n, %w transpose_weight : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<128x64xf32>) -> tensor<?x128xf32, #loom.dims<tokens>>
  return %y : tensor<?x128xf32, #loom.dims<tokens>>
}

// -----

// A quantized linear layer dequantizes as it reads and takes no prologue: the norm keeps
// its kernel and the layer reads its output.
// CHECK-LABEL: func.func @quantized
// CHECK: %[[N:.+]] = loom.kernel normalization
// CHECK: loom.kernel matmul(%[[N]], %{{.+}})
// CHECK-NOT: loom.rms_norm
func.func @quantized(%x: tensor<?x64xbf16, #loom.dims<tokens>>, %s: tensor<64xbf16>) -> tensor<?x128xbf16, #loom.dims<tokens>> {
  %w = loom.weight "w" quant <code = int4, group = 32, scale = f16, offset = zero, source = gptq> : tensor<128x64xbf16>
  %n = loom.rms_norm %x, %s axis 1 epsilon 1.000000e-06 : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<64xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>>
  %y = loom.linear %n, %w transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<128x64xbf16>) -> tensor<?x128xbf16, #loom.dims<tokens>>
  return %y : tensor<?x128xbf16, #loom.dims<tokens>>
}
