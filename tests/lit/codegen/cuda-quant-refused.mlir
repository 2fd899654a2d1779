// A quantized weight is dequantized only as the weight operand of a linear layer
// (QuantizedKernels.cpp): every other reader is refused by name.
// RUN: not loom-translate --loom-to-cuda --split-input-file %s 2>&1 | FileCheck %s

// A pointwise kernel adding a quantized weight to an input.
// CHECK: cannot be written as CUDA: quantized weight input 1 is read by something other than the weight operand of the kernel's linear layer
func.func @forward(%x: tensor<64x64xbf16>) -> tensor<64x64xbf16> {
  %w = loom.weight "w" quant <code = int8, group = 0, scale = f16, offset = none, source = gptq> : tensor<64x64xbf16>
  %0 = loom.kernel pointwise(%x, %w) : (tensor<64x64xbf16>, tensor<64x64xbf16>) -> tensor<64x64xbf16> {
  ^bb0(%a: tensor<64x64xbf16>, %b: tensor<64x64xbf16>):
    %1 = loom.add %a, %b : (tensor<64x64xbf16>, tensor<64x64xbf16>) -> tensor<64x64xbf16>
    loom.yield %1 : tensor<64x64xbf16>
  }
  return %0 : tensor<64x64xbf16>
}

// -----

// A matmul (not a linear layer) of a quantized weight.
// CHECK: cannot be written as CUDA: quantized weight input 1 is read by something other than the weight operand
func.func @forward(%x: tensor<?x64xbf16, #loom.dims<tokens>>) -> tensor<?x64xbf16, #loom.dims<tokens>> {
  %w = loom.weight "w" quant <code = int8, group = 0, scale = f16, offset = none, source = gptq> : tensor<64x64xbf16>
  %0 = loom.kernel matmul(%x, %w) {schedule = {stages = 1 : i64, tensor_cores = false, tile_k = 16 : i64, tile_m = 64 : i64, tile_n = 64 : i64, warps = 8 : i64}} : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<64x64xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>> {
  ^bb0(%a: tensor<?x64xbf16, #loom.dims<tokens>>, %b: tensor<64x64xbf16>):
    %1 = loom.matmul %a, %b : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<64x64xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>>
    loom.yield %1 : tensor<?x64xbf16, #loom.dims<tokens>>
  }
  return %0 : tensor<?x64xbf16, #loom.dims<tokens>>
}

// -----

// An RMS norm prologue in a quantized linear layer's kernel.
// CHECK: cannot be written as CUDA: an RMS norm prologue on a linear layer with a quantized weight
func.func @forward(%x: tensor<?x64xbf16, #loom.dims<tokens>>, %s: tensor<64xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>> {
  %w = loom.weight "w" quant <code = int8, group = 0, scale = f16, offset = none, source = gptq> : tensor<64x64xbf16>
  %0 = loom.kernel matmul(%x, %s, %w) {schedule = {stages = 2 : i64, tensor_cores = true, tile_k = 32 : i64, tile_m = 64 : i64, tile_n = 64 : i64, warps = 4 : i64}} : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<64xbf16>, tensor<64x64xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>> {
  ^bb0(%a: tensor<?x64xbf16, #loom.dims<tokens>>, %c: tensor<64xbf16>, %b: tensor<64x64xbf16>):
    %1 = loom.rms_norm %a, %c axis 1 epsilon 1.0E-5 : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<64xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>>
    %2 = loom.linear %1, %b transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<64x64xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>>
    loom.yield %2 : tensor<?x64xbf16, #loom.dims<tokens>>
  }
  return %0 : tensor<?x64xbf16, #loom.dims<tokens>>
}
