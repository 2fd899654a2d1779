// RUN: loom-opt %s -split-input-file -loom-fuse -loom-choose-tiles | FileCheck %s
// RUN: loom-opt %s -split-input-file -loom-fuse -loom-choose-tiles=target=sm_80 | FileCheck %s --check-prefix=SM80
// RUN: not loom-opt %s -split-input-file -loom-fuse -loom-choose-tiles=target=sm_70 2>&1 | FileCheck %s --check-prefix=TARGET

// TARGET: loom-choose-tiles: unsupported target 'sm_70'

// A bf16 linear over dynamic rows: tensor cores, 128x128 tiles of 8 warps, 4 k-slices
// in flight on sm_90a (3 on sm_80); with 48 output columns (at most 512) 64x64 tiles
// of 4 warps; f32: SIMT 64x64x16.
// SM80: loom.kernel matmul{{.+}}schedule = {stages = 3 : i64, tensor_cores = true, tile_k = 32 : i64, tile_m = 128 : i64
// CHECK-LABEL: func.func @linears
// CHECK: loom.kernel matmul{{.+}}schedule = {stages = 4 : i64, tensor_cores = true, tile_k = 32 : i64, tile_m = 128 : i64, tile_n = 128 : i64, warps = 8 : i64}
// CHECK: loom.kernel matmul{{.+}}schedule = {stages = 4 : i64, tensor_cores = true, tile_k = 32 : i64, tile_m = 64 : i64, tile_n = 64 : i64, warps = 4 : i64}
// CHECK: loom.kernel matmul{{.+}}schedule = {stages = 1 : i64, tensor_cores = false, tile_k = 16 : i64, tile_m = 64 : i64, tile_n = 64 : i64, warps = 8 : i64}
func.func @linears(%x: tensor<?x256xbf16, #loom.dims<tokens>>, %f: tensor<?x256xf32, #loom.dims<tokens>>)
    -> (tensor<?x1024xbf16, #loom.dims<tokens>>, tensor<?x48xbf16, #loom.dims<tokens>>, tensor<?x64xf32, #loom.dims<tokens>>) {
  %w = loom.weight "w" : tensor<1024x256xbf16>
  %n = loom.weight "n" : tensor<48x256xbf16>
  %u = loom.weight "u" : tensor<64x256xf32>
  %0 = loom.linear %x, %w transpose_weight : (tensor<?x256xbf16, #loom.dims<tokens>>, tensor<1024x256xbf16>) -> tensor<?x1024xbf16, #loom.dims<tokens>>
  %1 = loom.linear %x, %n transpose_weight : (tensor<?x256xbf16, #loom.dims<tokens>>, tensor<48x256xbf16>) -> tensor<?x48xbf16, #loom.dims<tokens>>
  %2 = loom.linear %f, %u transpose_weight : (tensor<?x256xf32, #loom.dims<tokens>>, tensor<64x256xf32>) -> tensor<?x64xf32, #loom.dims<tokens>>
  return %0, %1, %2 : tensor<?x1024xbf16, #loom.dims<tokens>>, tensor<?x48xbf16, #loom.dims<tokens>>, tensor<?x64xf32, #loom.dims<tokens>>
}

// -----

// Attention: bf16 with head size 64 on tensor cores, 64 keys per step; head size 128
// takes 32 keys per step (shared memory); f32 one query per thread. Each records the
// shared memory a block may take: 227 KiB on sm_90a, 163 on sm_80.
// SM80: loom.kernel attention{{.+}}schedule = {shared_kib = 163 : i64,
// CHECK-LABEL: func.func @attention
// CHECK: loom.kernel attention{{.+}}schedule = {shared_kib = 227 : i64, tensor_cores = true, tile_kv = 64 : i64, tile_q = 64 : i64, warps = 4 : i64}
// CHECK: loom.kernel attention{{.+}}schedule = {shared_kib = 227 : i64, tensor_cores = true, tile_kv = 32 : i64, tile_q = 64 : i64, warps = 4 : i64}
// CHECK: loom.kernel attention{{.+}}schedule = {shared_kib = 227 : i64, tensor_cores = false, tile_kv = 32 : i64, tile_q = 64 : i64, warps = 2 : i64}
func.func @attention(%q: tensor<?x8x?x64xbf16, #loom.dims<batch, seq>>, %k: tensor<?x2x?x64xbf16, #loom.dims<batch, seq>>,
                     %p: tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>, %f: tensor<?x8x?x64xf32, #loom.dims<batch, seq>>)
    -> (tensor<?x8x?x64xbf16, #loom.dims<batch, seq>>, tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>, tensor<?x8x?x64xf32, #loom.dims<batch, seq>>) {
  %0 = loom.attention %q, %k, %k causal : (tensor<?x8x?x64xbf16, #loom.dims<batch, seq>>, tensor<?x2x?x64xbf16, #loom.dims<batch, seq>>, tensor<?x2x?x64xbf16, #loom.dims<batch, seq>>) -> tensor<?x8x?x64xbf16, #loom.dims<batch, seq>>
  %1 = loom.attention %p, %p, %p : (tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>, tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>, tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>) -> tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>
  %2 = loom.attention %f, %f, %f causal : (tensor<?x8x?x64xf32, #loom.dims<batch, seq>>, tensor<?x8x?x64xf32, #loom.dims<batch, seq>>, tensor<?x8x?x64xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x64xf32, #loom.dims<batch, seq>>
  return %0, %1, %2 : tensor<?x8x?x64xbf16, #loom.dims<batch, seq>>, tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>, tensor<?x8x?x64xf32, #loom.dims<batch, seq>>
}

// -----

// Pointwise: 16 bytes per thread when the innermost size allows (8 bf16, 4 f32), less
// when it does not (6 f32 -> 2), one element for a dynamic innermost size. Rows: about
// four elements per thread, 32 to 256 threads.
// CHECK-LABEL: func.func @rows_and_pointwise
// CHECK: loom.kernel pointwise{{.+}}schedule = {threads = 256 : i64, vector = 8 : i64}
// CHECK: loom.kernel pointwise{{.+}}schedule = {threads = 256 : i64, vector = 2 : i64}
// CHECK: loom.kernel pointwise{{.+}}schedule = {threads = 256 : i64, vector = 1 : i64}
// CHECK: loom.kernel normalization{{.+}}schedule = {threads = 256 : i64}
// CHECK: loom.kernel normalization{{.+}}schedule = {threads = 32 : i64}
func.func @rows_and_pointwise(%a: tensor<?x64xbf16, #loom.dims<rows>>, %b: tensor<?x6xf32, #loom.dims<rows>>,
                              %c: tensor<?xf32, #loom.dims<rows>>, %x: tensor<?x2048xf32, #loom.dims<rows>>,
                              %y: tensor<?x48xf32, #loom.dims<rows>>)
    -> (tensor<?x64xbf16, #loom.dims<rows>>, tensor<?x6xf32, #loom.dims<rows>>, tensor<?xf32, #loom.dims<rows>>,
        tensor<?x2048xf32, #loom.dims<rows>>, tensor<?x48xf32, #loom.dims<rows>>) {
  %g = loom.weight "g" : tensor<2048xf32>
  %h = loom.weight "h" : tensor<48xf32>
  %0 = loom.exp %a : tensor<?x64xbf16, #loom.dims<rows>>
  %1 = loom.exp %b : tensor<?x6xf32, #loom.dims<rows>>
  %2 = loom.exp %c : tensor<?xf32, #loom.dims<rows>>
  %3 = loom.rms_norm %x, %g axis 1 epsilon 1.0e-06 : (tensor<?x2048xf32, #loom.dims<rows>>, tensor<2048xf32>) -> tensor<?x2048xf32, #loom.dims<rows>>
  %4 = loom.rms_norm %y, %h axis 1 epsilon 1.0e-06 : (tensor<?x48xf32, #loom.dims<rows>>, tensor<48xf32>) -> tensor<?x48xf32, #loom.dims<rows>>
  return %0, %1, %2, %3, %4 : tensor<?x64xbf16, #loom.dims<rows>>, tensor<?x6xf32, #loom.dims<rows>>, tensor<?xf32, #loom.dims<rows>>,
         tensor<?x2048xf32, #loom.dims<rows>>, tensor<?x48xf32, #loom.dims<rows>>
}

// -----

// A schedule written by hand is kept.
// CHECK-LABEL: func.func @kept
// CHECK: schedule = {threads = 128 : i64, vector = 2 : i64}
func.func @kept(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %y = loom.kernel pointwise(%x) {schedule = {threads = 128, vector = 2}} : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: tensor<4x8xf32>):
    %e = loom.exp %a : tensor<4x8xf32>
    loom.yield %e : tensor<4x8xf32>
  }
  return %y : tensor<4x8xf32>
}
