// RUN: loom-opt %s -split-input-file -loom-quantize-weights | FileCheck %s --check-prefix=INT4
// RUN: loom-opt %s -split-input-file -loom-quantize-weights="scheme=int4 group-size=32 symmetric=false" | FileCheck %s --check-prefix=ASYM
// RUN: loom-opt %s -split-input-file -loom-quantize-weights="scheme=int8" | FileCheck %s --check-prefix=INT8
// RUN: loom-opt %s -split-input-file -loom-quantize-weights="scheme=fp8 lm-head=true" | FileCheck %s --check-prefix=FP8
// RUN: not loom-opt %s -split-input-file -loom-quantize-weights="scheme=int3" 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: scheme 'int3' is not int8, int4 or fp8

// A linear layer's [N, K] weight gets the scheme's encoding; the embedding it gathers
// from and the LM head, whose result is returned through a cast, stay float unless
// lm-head is set.
// INT4-LABEL: func.func @layer
// INT4: loom.weight "embed" : tensor<64x256xbf16>
// INT4: loom.weight "up" quant <code = int4, group = 128, scale = f16, offset = none, source = rtn> : tensor<512x256xbf16>
// INT4: loom.weight "head" : tensor<64x512xbf16>
// ASYM: loom.weight "up" quant <code = int4, group = 32, scale = f16, offset = zero, source = rtn>
// ASYM: loom.weight "head" : tensor<64x512xbf16>
// INT8: loom.weight "up" quant <code = int8, group = 0, scale = f16, offset = none, source = rtn>
// FP8: loom.weight "embed" : tensor<64x256xbf16>
// FP8: loom.weight "up" quant <code = fp8e4m3, group = 0, scale = f32, offset = none, source = rtn>
// FP8: loom.weight "head" quant <code = fp8e4m3, group = 0, scale = f32, offset = none, source = rtn>
func.func @layer(%ids: tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x64xf32, #loom.dims<tokens>> {
  %e = loom.weight "embed" : tensor<64x256xbf16>
  %x = loom.gather %e, %ids axis 0 : (tensor<64x256xbf16>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x256xbf16, #loom.dims<tokens>>
  %w = loom.weight "up" : tensor<512x256xbf16>
  %y = loom.linear %x, %w transpose_weight : (tensor<?x256xbf16, #loom.dims<tokens>>, tensor<512x256xbf16>) -> tensor<?x512xbf16, #loom.dims<tokens>>
  %h = loom.weight "head" : tensor<64x512xbf16>
  %l = loom.matmul %y, %h transpose_rhs : (tensor<?x512xbf16, #loom.dims<tokens>>, tensor<64x512xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>>
  %c = loom.cast %l : tensor<?x64xbf16, #loom.dims<tokens>> to tensor<?x64xf32, #loom.dims<tokens>>
  return %c : tensor<?x64xf32, #loom.dims<tokens>>
}

// -----

// Nothing to change: a tied embedding (gathered and multiplied), a [K, N] weight, a
// weight whose 200 inputs groups of 128 do not divide (int4), and one already
// quantized keep what they have.
// INT4-LABEL: func.func @unchanged
// INT4: loom.weight "tied" : tensor<64x256xf32>
// INT4: loom.weight "kn" : tensor<256x128xf32>
// INT4: loom.weight "odd" : tensor<128x200xf32>
// INT4: loom.weight "gptq" quant <code = int8, group = 0, scale = f16, offset = zero, source = gptq>
// INT8-LABEL: func.func @unchanged
// INT8: loom.weight "odd" quant <code = int8
func.func @unchanged(%ids: tensor<?xi64, #loom.dims<tokens>>, %z: tensor<?x200xf32, #loom.dims<tokens>>) -> (tensor<?x64xf32, #loom.dims<tokens>>, tensor<?x128xf32, #loom.dims<tokens>>, tensor<?x128xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>) {
  %t = loom.weight "tied" : tensor<64x256xf32>
  %x = loom.gather %t, %ids axis 0 : (tensor<64x256xf32>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x256xf32, #loom.dims<tokens>>
  %l = loom.linear %x, %t transpose_weight : (tensor<?x256xf32, #loom.dims<tokens>>, tensor<64x256xf32>) -> tensor<?x64xf32, #loom.dims<tokens>>
  %kn = loom.weight "kn" : tensor<256x128xf32>
  %a = loom.linear %x, %kn : (tensor<?x256xf32, #loom.dims<tokens>>, tensor<256x128xf32>) -> tensor<?x128xf32, #loom.dims<tokens>>
  %o = loom.weight "odd" : tensor<128x200xf32>
  %b = loom.linear %z, %o transpose_weight : (tensor<?x200xf32, #loom.dims<tokens>>, tensor<128x200xf32>) -> tensor<?x128xf32, #loom.dims<tokens>>
  %g = loom.weight "gptq" quant <code = int8, group = 0, scale = f16, offset = zero, source = gptq> : tensor<16x256xf32>
  %c = loom.linear %x, %g transpose_weight : (tensor<?x256xf32, #loom.dims<tokens>>, tensor<16x256xf32>) -> tensor<?x16xf32, #loom.dims<tokens>>
  // Not returned directly: none of these layers is an LM head.
  %sl = loom.silu %l : tensor<?x64xf32, #loom.dims<tokens>>
  %sa = loom.silu %a : tensor<?x128xf32, #loom.dims<tokens>>
  %sb = loom.silu %b : tensor<?x128xf32, #loom.dims<tokens>>
  %sc = loom.silu %c : tensor<?x16xf32, #loom.dims<tokens>>
  return %sl, %sa, %sb, %sc : tensor<?x64xf32, #loom.dims<tokens>>, tensor<?x128xf32, #loom.dims<tokens>>, tensor<?x128xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>
}
