// Round trip of every loom op: parse, print, parse again; and through the generic form.
// RUN: loom-opt %s | loom-opt | FileCheck %s
// RUN: loom-opt %s --mlir-print-op-generic | loom-opt | FileCheck %s

// Weights, constants and the dimension-name encoding.
// CHECK-LABEL: func.func @sources
// CHECK-SAME: (%{{.*}}: tensor<?x?xi64, #loom.dims<batch, seq>>)
// CHECK: loom.weight "model.embed_tokens.weight" : tensor<2048x256xbf16>
// CHECK: loom.weight "q" stacked ["k", "v"] rows [64, 16, 16] : tensor<96x64xbf16>
// CHECK: loom.weight "g" quant <code = int4, group = 64, scale = f16, offset = zero, permuted = true, source = gptq> : tensor<64x128xbf16>
// CHECK: loom.weight "u" stacked ["v"] rows [32, 32] quant <code = fp8e4m3, group = 0, scale = f32, offset = none, source = ct_float> : tensor<64x128xbf16>
// CHECK: loom.constant dense<9.99999997E-7> : tensor<f32>
// CHECK: loom.constant dense<[1, 2, 3]> : tensor<3xi64>
// CHECK: loom.constant dense<true> : tensor<2x2xi1>
// CHECK: loom.iota %{{.*}} dim 1 : tensor<?x?xi64, #loom.dims<batch, seq>> -> tensor<?xi64, #loom.dims<seq>>
// CHECK: loom.iota %{{.*}} dim 0 : tensor<?x?xi64, #loom.dims<batch, seq>> -> tensor<?xf32, #loom.dims<batch>>
func.func @sources(%ids: tensor<?x?xi64, #loom.dims<batch, seq>>) {
  %w = loom.weight "model.embed_tokens.weight" : tensor<2048x256xbf16>
  %qkv = loom.weight "q" stacked ["k", "v"] rows [64, 16, 16] : tensor<96x64xbf16>
  %g = loom.weight "g" quant <code = int4, group = 64, scale = f16, offset = zero, permuted = true, source = gptq> : tensor<64x128xbf16>
  %u = loom.weight "u" stacked ["v"] rows [32, 32] quant <code = fp8e4m3, group = 0, scale = f32, offset = none, source = ct_float> : tensor<64x128xbf16>
  %eps = loom.constant dense<1.0e-6> : tensor<f32>
  %idx = loom.constant dense<[1, 2, 3]> : tensor<3xi64>
  %t = loom.constant dense<true> : tensor<2x2xi1>
  %pos = loom.iota %ids dim 1 : tensor<?x?xi64, #loom.dims<batch, seq>> -> tensor<?xi64, #loom.dims<seq>>
  %fpos = loom.iota %ids dim 0 : tensor<?x?xi64, #loom.dims<batch, seq>> -> tensor<?xf32, #loom.dims<batch>>
  return
}

// Every elementwise unary op, with the GELU forms.
// CHECK-LABEL: func.func @unary
// CHECK: loom.neg %{{.*}} : tensor<?x4xf32, #loom.dims<seq>>
// CHECK: loom.relu %{{.*}} : tensor<?x4xf32, #loom.dims<seq>>
// CHECK: loom.exp
// CHECK: loom.log
// CHECK: loom.sqrt
// CHECK: loom.rsqrt
// CHECK: loom.reciprocal
// CHECK: loom.tanh
// CHECK: loom.cos
// CHECK: loom.sin
// CHECK: loom.erf
// CHECK: loom.sigmoid
// CHECK: loom.silu
// CHECK: loom.gelu erf
// CHECK: loom.gelu tanh
// CHECK: loom.neg %{{.*}} : tensor<3xi32>
// CHECK: loom.relu %{{.*}} : tensor<3xbf16>
// CHECK: loom.not %{{.*}} : tensor<3xi1>
func.func @unary(%x: tensor<?x4xf32, #loom.dims<seq>>, %i: tensor<3xi32>,
                 %h: tensor<3xbf16>, %b: tensor<3xi1>) {
  %0 = loom.neg %x : tensor<?x4xf32, #loom.dims<seq>>
  %1 = loom.relu %x : tensor<?x4xf32, #loom.dims<seq>>
  %2 = loom.exp %x : tensor<?x4xf32, #loom.dims<seq>>
  %3 = loom.log %x : tensor<?x4xf32, #loom.dims<seq>>
  %4 = loom.sqrt %x : tensor<?x4xf32, #loom.dims<seq>>
  %5 = loom.rsqrt %x : tensor<?x4xf32, #loom.dims<seq>>
  %6 = loom.reciprocal %x : tensor<?x4xf32, #loom.dims<seq>>
  %7 = loom.tanh %x : tensor<?x4xf32, #loom.dims<seq>>
  %c = loom.cos %x : tensor<?x4xf32, #loom.dims<seq>>
  %s = loom.sin %x : tensor<?x4xf32, #loom.dims<seq>>
  %8 = loom.erf %x : tensor<?x4xf32, #loom.dims<seq>>
  %9 = loom.sigmoid %x : tensor<?x4xf32, #loom.dims<seq>>
  %10 = loom.silu %x : tensor<?x4xf32, #loom.dims<seq>>
  %11 = loom.gelu erf %x : tensor<?x4xf32, #loom.dims<seq>>
  %12 = loom.gelu tanh %x : tensor<?x4xf32, #loom.dims<seq>>
  %13 = loom.neg %i : tensor<3xi32>
  %14 = loom.relu %h : tensor<3xbf16>
  %15 = loom.not %b : tensor<3xi1>
  return
}

// Every binary op, broadcasting static and named dimensions.
// CHECK-LABEL: func.func @binary
// CHECK: loom.add %{{.*}}, %{{.*}} : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<256xf32>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
// CHECK: loom.sub %{{.*}}, %{{.*}} : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<?x?x1xf32, #loom.dims<batch, seq>>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
// CHECK: loom.mul
// CHECK: loom.div
// CHECK: loom.pow
// CHECK: loom.max
// CHECK: loom.min
// CHECK: loom.add %{{.*}}, %{{.*}} : (tensor<4x1xi64>, tensor<3xi64>) -> tensor<4x3xi64>
// CHECK: loom.and
// CHECK: loom.or
func.func @binary(%x: tensor<?x?x256xf32, #loom.dims<batch, seq>>, %w: tensor<256xf32>,
                  %m: tensor<?x?x1xf32, #loom.dims<batch, seq>>, %s: tensor<f32>,
                  %a: tensor<4x1xi64>, %b: tensor<3xi64>, %p: tensor<2xi1>, %q: tensor<2xi1>) {
  %0 = loom.add %x, %w : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<256xf32>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
  %1 = loom.sub %x, %m : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<?x?x1xf32, #loom.dims<batch, seq>>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
  %2 = loom.mul %x, %s : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<f32>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
  %3 = loom.div %x, %m : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<?x?x1xf32, #loom.dims<batch, seq>>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
  %4 = loom.pow %x, %s : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<f32>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
  %5 = loom.max %x, %w : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<256xf32>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
  %6 = loom.min %w, %s : (tensor<256xf32>, tensor<f32>) -> tensor<256xf32>
  %7 = loom.add %a, %b : (tensor<4x1xi64>, tensor<3xi64>) -> tensor<4x3xi64>
  %8 = loom.and %p, %q : (tensor<2xi1>, tensor<2xi1>) -> tensor<2xi1>
  %9 = loom.or %p, %q : (tensor<2xi1>, tensor<2xi1>) -> tensor<2xi1>
  return
}

// Comparisons (every predicate), select and cast; a causal mask from positions.
// CHECK-LABEL: func.func @compare_select_cast
// CHECK: loom.compare le, %{{.*}}, %{{.*}} : (tensor<?x1xi64, #loom.dims<seq>>, tensor<1x?xi64, #loom.dims<seq>>) -> tensor<?x?xi1, #loom.dims<seq, seq>>
// CHECK: loom.compare eq
// CHECK: loom.compare ne
// CHECK: loom.compare lt
// CHECK: loom.compare gt
// CHECK: loom.compare ge
// CHECK: loom.select %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x?xi1, #loom.dims<seq, seq>>, tensor<f32>, tensor<f32>) -> tensor<?x?xf32, #loom.dims<seq, seq>>
// CHECK: loom.cast %{{.*}} : tensor<?x?xf32, #loom.dims<seq, seq>> to tensor<?x?xbf16, #loom.dims<seq, seq>>
// CHECK: loom.cast %{{.*}} : tensor<?x1xi64, #loom.dims<seq>> to tensor<?x1xf32, #loom.dims<seq>>
func.func @compare_select_cast(%i: tensor<?x1xi64, #loom.dims<seq>>, %j: tensor<1x?xi64, #loom.dims<seq>>,
                               %zero: tensor<f32>, %neg: tensor<f32>) {
  %le = loom.compare le, %i, %j : (tensor<?x1xi64, #loom.dims<seq>>, tensor<1x?xi64, #loom.dims<seq>>) -> tensor<?x?xi1, #loom.dims<seq, seq>>
  %eq = loom.compare eq, %i, %j : (tensor<?x1xi64, #loom.dims<seq>>, tensor<1x?xi64, #loom.dims<seq>>) -> tensor<?x?xi1, #loom.dims<seq, seq>>
  %ne = loom.compare ne, %i, %j : (tensor<?x1xi64, #loom.dims<seq>>, tensor<1x?xi64, #loom.dims<seq>>) -> tensor<?x?xi1, #loom.dims<seq, seq>>
  %lt = loom.compare lt, %i, %j : (tensor<?x1xi64, #loom.dims<seq>>, tensor<1x?xi64, #loom.dims<seq>>) -> tensor<?x?xi1, #loom.dims<seq, seq>>
  %gt = loom.compare gt, %i, %j : (tensor<?x1xi64, #loom.dims<seq>>, tensor<1x?xi64, #loom.dims<seq>>) -> tensor<?x?xi1, #loom.dims<seq, seq>>
  %ge = loom.compare ge, %i, %j : (tensor<?x1xi64, #loom.dims<seq>>, tensor<1x?xi64, #loom.dims<seq>>) -> tensor<?x?xi1, #loom.dims<seq, seq>>
  %mask = loom.select %le, %zero, %neg : (tensor<?x?xi1, #loom.dims<seq, seq>>, tensor<f32>, tensor<f32>) -> tensor<?x?xf32, #loom.dims<seq, seq>>
  %h = loom.cast %mask : tensor<?x?xf32, #loom.dims<seq, seq>> to tensor<?x?xbf16, #loom.dims<seq, seq>>
  %f = loom.cast %i : tensor<?x1xi64, #loom.dims<seq>> to tensor<?x1xf32, #loom.dims<seq>>
  return
}

// Matmul (plain, transposed, broadcast batch), reductions, softmax and norms.
// CHECK-LABEL: func.func @contractions
// CHECK: loom.matmul %{{.*}}, %{{.*}} transpose_rhs : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<512x256xf32>) -> tensor<?x?x512xf32, #loom.dims<batch, seq>>
// CHECK: loom.matmul %{{.*}}, %{{.*}} : (tensor<2x8x16xf32>, tensor<16x4xf32>) -> tensor<2x8x4xf32>
// CHECK: loom.matmul %{{.*}}, %{{.*}} transpose_lhs transpose_rhs : (tensor<3x1x16x8xf32>, tensor<5x4x16xf32>) -> tensor<3x5x8x4xf32>
// CHECK: loom.reduce sum %{{.*}} axes [1, 2] : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?xf32, #loom.dims<batch>>
// CHECK: loom.reduce mean %{{.*}} axes [2] keep_dims : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?x?x1xf32, #loom.dims<batch, seq>>
// CHECK: loom.reduce max
// CHECK: loom.reduce min %{{.*}} axes [0] : tensor<4x3xi32> -> tensor<3xi32>
// CHECK: loom.softmax %{{.*}} axis 2 : tensor<?x?x256xf32, #loom.dims<batch, seq>>
// CHECK: loom.cumsum %{{.*}} axis 1 : tensor<4x3xi32>
// CHECK: loom.cumsum %{{.*}} axis 0 exclusive reverse : tensor<4x3xi32>
// CHECK: loom.layer_norm %{{.*}}, %{{.*}}, %{{.*}} axis 2 epsilon 9.99999974E-6 : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<256xf32>, tensor<256xf32>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
// CHECK: loom.layer_norm %{{.*}}, %{{.*}} axis 1 epsilon 9.99999974E-6 : (tensor<4x2x8xf32>, tensor<2x8xf32>) -> tensor<4x2x8xf32>
// CHECK: loom.rms_norm %{{.*}}, %{{.*}} axis 2 epsilon 9.99999997E-7
func.func @contractions(%x: tensor<?x?x256xf32, #loom.dims<batch, seq>>, %w: tensor<512x256xf32>,
                        %a: tensor<2x8x16xf32>, %b: tensor<16x4xf32>, %c: tensor<3x1x16x8xf32>,
                        %d: tensor<5x4x16xf32>, %g: tensor<256xf32>, %i: tensor<4x3xi32>,
                        %y: tensor<4x2x8xf32>, %g2: tensor<2x8xf32>) {
  %0 = loom.matmul %x, %w transpose_rhs : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<512x256xf32>) -> tensor<?x?x512xf32, #loom.dims<batch, seq>>
  %1 = loom.matmul %a, %b : (tensor<2x8x16xf32>, tensor<16x4xf32>) -> tensor<2x8x4xf32>
  %2 = loom.matmul %c, %d transpose_lhs transpose_rhs : (tensor<3x1x16x8xf32>, tensor<5x4x16xf32>) -> tensor<3x5x8x4xf32>
  %3 = loom.reduce sum %x axes [1, 2] : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?xf32, #loom.dims<batch>>
  %4 = loom.reduce mean %x axes [2] keep_dims : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?x?x1xf32, #loom.dims<batch, seq>>
  %5 = loom.reduce max %x axes [2] keep_dims : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?x?x1xf32, #loom.dims<batch, seq>>
  %6 = loom.reduce min %i axes [0] : tensor<4x3xi32> -> tensor<3xi32>
  %7 = loom.softmax %x axis 2 : tensor<?x?x256xf32, #loom.dims<batch, seq>>
  %cs = loom.cumsum %i axis 1 : tensor<4x3xi32>
  %cr = loom.cumsum %i axis 0 exclusive reverse : tensor<4x3xi32>
  %8 = loom.layer_norm %x, %g, %g axis 2 epsilon 1.0e-5 : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<256xf32>, tensor<256xf32>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
  %9 = loom.layer_norm %y, %g2 axis 1 epsilon 1.0e-5 : (tensor<4x2x8xf32>, tensor<2x8xf32>) -> tensor<4x2x8xf32>
  %10 = loom.rms_norm %x, %g axis 2 epsilon 1.0e-6 : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<256xf32>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
  return
}

// Gather (embedding lookup and along an inner axis) and the layout ops.
// CHECK-LABEL: func.func @layout
// CHECK: loom.gather %{{.*}}, %{{.*}} axis 0 : (tensor<2048x256xf32>, tensor<?x?xi64, #loom.dims<batch, seq>>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
// CHECK: loom.gather %{{.*}}, %{{.*}} axis 1 : (tensor<4x10x3xf32>, tensor<2xi32>) -> tensor<4x2x3xf32>
// CHECK: loom.gather_elements %{{.*}}, %{{.*}} axis 1 : (tensor<4x10x3xf32>, tensor<4x2x3xi64>) -> tensor<4x2x3xf32>
// CHECK: loom.gather_nd %{{.*}}, %{{.*}} batch_dims 0 : (tensor<4x10x3xf32>, tensor<?x2xi64, #loom.dims<seq>>) -> tensor<?x3xf32, #loom.dims<seq>>
// CHECK: loom.gather_nd %{{.*}}, %{{.*}} batch_dims 1 : (tensor<4x10x3xf32>, tensor<4x5x1xi64>) -> tensor<4x5x3xf32>
// CHECK: loom.reshape %{{.*}} : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?x?x8x32xf32, #loom.dims<batch, seq>>
// CHECK: loom.transpose %{{.*}} [0, 2, 1, 3] : tensor<?x?x8x32xf32, #loom.dims<batch, seq>> -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
// CHECK: loom.concat %{{.*}}, %{{.*}} axis 1 : (tensor<2x3xf32>, tensor<2x5xf32>) -> tensor<2x8xf32>
// CHECK: loom.concat %{{.*}}, %{{.*}} axis 2 : (tensor<?x8x?x32xf32, #loom.dims<batch, past>>, tensor<?x8x?x32xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, "past+seq">>
// CHECK: loom.reshape %{{.*}} : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?x256xf32, #loom.dims<"batch*seq">>
// CHECK: loom.slice %{{.*}} axes [1] starts [-1] ends [9223372036854775807] steps [1] : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?x1x256xf32, #loom.dims<batch>>
// CHECK: loom.slice %{{.*}} axes [0, 1] starts [0, 8] ends [2, 0] steps [1, -2] : tensor<4x10xf32> -> tensor<2x4xf32>
// CHECK: loom.broadcast %{{.*}} : tensor<1x1x?x?xf32, #loom.dims<seq, seq>> -> tensor<?x8x?x?xf32, #loom.dims<batch, seq, seq>>
func.func @layout(%table: tensor<2048x256xf32>, %ids: tensor<?x?xi64, #loom.dims<batch, seq>>,
                  %t: tensor<4x10x3xf32>, %k: tensor<2xi32>, %x: tensor<?x?x256xf32, #loom.dims<batch, seq>>,
                  %a: tensor<2x3xf32>, %b: tensor<2x5xf32>,
                  %past: tensor<?x8x?x32xf32, #loom.dims<batch, past>>,
                  %new: tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, %s: tensor<4x10xf32>,
                  %mask: tensor<1x1x?x?xf32, #loom.dims<seq, seq>>, %ge: tensor<4x2x3xi64>,
                  %nd: tensor<?x2xi64, #loom.dims<seq>>, %nb: tensor<4x5x1xi64>) {
  %0 = loom.gather %table, %ids axis 0 : (tensor<2048x256xf32>, tensor<?x?xi64, #loom.dims<batch, seq>>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
  %1 = loom.gather %t, %k axis 1 : (tensor<4x10x3xf32>, tensor<2xi32>) -> tensor<4x2x3xf32>
  %g1 = loom.gather_elements %t, %ge axis 1 : (tensor<4x10x3xf32>, tensor<4x2x3xi64>) -> tensor<4x2x3xf32>
  %g2 = loom.gather_nd %t, %nd batch_dims 0 : (tensor<4x10x3xf32>, tensor<?x2xi64, #loom.dims<seq>>) -> tensor<?x3xf32, #loom.dims<seq>>
  %g3 = loom.gather_nd %t, %nb batch_dims 1 : (tensor<4x10x3xf32>, tensor<4x5x1xi64>) -> tensor<4x5x3xf32>
  %2 = loom.reshape %x : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?x?x8x32xf32, #loom.dims<batch, seq>>
  %3 = loom.transpose %2 [0, 2, 1, 3] : tensor<?x?x8x32xf32, #loom.dims<batch, seq>> -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  %4 = loom.concat %a, %b axis 1 : (tensor<2x3xf32>, tensor<2x5xf32>) -> tensor<2x8xf32>
  %5 = loom.concat %past, %new axis 2 : (tensor<?x8x?x32xf32, #loom.dims<batch, past>>, tensor<?x8x?x32xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, "past+seq">>
  %flat = loom.reshape %x : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?x256xf32, #loom.dims<"batch*seq">>
  %6 = loom.slice %x axes [1] starts [-1] ends [9223372036854775807] steps [1] : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?x1x256xf32, #loom.dims<batch>>
  %7 = loom.slice %s axes [0, 1] starts [0, 8] ends [2, 0] steps [1, -2] : tensor<4x10xf32> -> tensor<2x4xf32>
  %8 = loom.broadcast %mask : tensor<1x1x?x?xf32, #loom.dims<seq, seq>> -> tensor<?x8x?x?xf32, #loom.dims<batch, seq, seq>>
  return
}

// Rotary embeddings (half-rotation, interleaved, partial) and attention: MHA with a
// mask, GQA with causal masking, MQA with an explicit scale, decode over a cache.
// CHECK-LABEL: func.func @transformer_blocks
// CHECK: loom.rope %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x1x?x16xf32, #loom.dims<batch, seq>>, tensor<?x1x?x16xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
// CHECK: loom.rope %{{.*}}, %{{.*}}, %{{.*}} interleaved : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x16xf32, #loom.dims<seq>>, tensor<?x16xf32, #loom.dims<seq>>)
// CHECK: loom.rope %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x8xf32, #loom.dims<seq>>, tensor<?x8xf32, #loom.dims<seq>>)
// CHECK: loom.attention %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x1x1x?xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
// CHECK: loom.attention %{{.*}}, %{{.*}}, %{{.*}} causal : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
// CHECK: loom.attention %{{.*}}, %{{.*}}, %{{.*}} causal scale 1.250000e-01 : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x1x?x32xf32, #loom.dims<batch, seq>>, tensor<?x1x?x64xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x64xf32, #loom.dims<batch, seq>>
// CHECK: loom.attention %{{.*}}, %{{.*}}, %{{.*}} causal softcap 5.000000e+01 : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
// CHECK: loom.attention %{{.*}}, %{{.*}}, %{{.*}} causal : (tensor<?x8x1x32xbf16, #loom.dims<batch>>, tensor<?x2x?x32xbf16, #loom.dims<batch, kv_len>>, tensor<?x2x?x32xbf16, #loom.dims<batch, kv_len>>) -> tensor<?x8x1x32xbf16, #loom.dims<batch>>
func.func @transformer_blocks(%q: tensor<?x8x?x32xf32, #loom.dims<batch, seq>>,
    %cos: tensor<?x1x?x16xf32, #loom.dims<batch, seq>>, %sin: tensor<?x1x?x16xf32, #loom.dims<batch, seq>>,
    %c2: tensor<?x16xf32, #loom.dims<seq>>, %s2: tensor<?x16xf32, #loom.dims<seq>>,
    %c3: tensor<?x8xf32, #loom.dims<seq>>, %s3: tensor<?x8xf32, #loom.dims<seq>>,
    %mask: tensor<?x1x1x?xf32, #loom.dims<batch, seq>>,
    %kv2: tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, %k1: tensor<?x1x?x32xf32, #loom.dims<batch, seq>>,
    %v1: tensor<?x1x?x64xf32, #loom.dims<batch, seq>>, %qd: tensor<?x8x1x32xbf16, #loom.dims<batch>>,
    %cache: tensor<?x2x?x32xbf16, #loom.dims<batch, kv_len>>) {
  %0 = loom.rope %q, %cos, %sin : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x1x?x16xf32, #loom.dims<batch, seq>>, tensor<?x1x?x16xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  %1 = loom.rope %q, %c2, %s2 interleaved : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x16xf32, #loom.dims<seq>>, tensor<?x16xf32, #loom.dims<seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  %2 = loom.rope %q, %c3, %s3 : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x8xf32, #loom.dims<seq>>, tensor<?x8xf32, #loom.dims<seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  %3 = loom.attention %q, %q, %q mask %mask : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x1x1x?xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  %4 = loom.attention %q, %kv2, %kv2 causal : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  %5 = loom.attention %q, %k1, %v1 causal scale 0.125 : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x1x?x32xf32, #loom.dims<batch, seq>>, tensor<?x1x?x64xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x64xf32, #loom.dims<batch, seq>>
  %7 = loom.attention %q, %kv2, %kv2 causal softcap 50.0 : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  %6 = loom.attention %qd, %cache, %cache causal : (tensor<?x8x1x32xbf16, #loom.dims<batch>>, tensor<?x2x?x32xbf16, #loom.dims<batch, kv_len>>, tensor<?x2x?x32xbf16, #loom.dims<batch, kv_len>>) -> tensor<?x8x1x32xbf16, #loom.dims<batch>>
  return
}

// Linear layers: [K, N] and [N, K] weights, with and without a bias.
// CHECK-LABEL: func.func @linear
// CHECK: loom.linear %{{.*}}, %{{.*}} bias %{{.*}} transpose_weight : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<512x256xf32>, tensor<512xf32>) -> tensor<?x?x512xf32, #loom.dims<batch, seq>>
// CHECK: loom.linear %{{.*}}, %{{.*}} : (tensor<8xbf16>, tensor<8x3xbf16>) -> tensor<3xbf16>
func.func @linear(%x: tensor<?x?x256xf32, #loom.dims<batch, seq>>, %w: tensor<512x256xf32>,
                  %b: tensor<512xf32>, %v: tensor<8xbf16>, %m: tensor<8x3xbf16>) {
  %0 = loom.linear %x, %w bias %b transpose_weight : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<512x256xf32>, tensor<512xf32>) -> tensor<?x?x512xf32, #loom.dims<batch, seq>>
  %1 = loom.linear %v, %m : (tensor<8xbf16>, tensor<8x3xbf16>) -> tensor<3xbf16>
  return
}

// Rows rounded to a low-bit type with a scale each (dynamic FP8 or int8 activations).
// CHECK-LABEL: func.func @quantize_rows
// CHECK: loom.quantize_rows %{{.*}} code fp8e4m3 : tensor<?x256xbf16, #loom.dims<tokens>>
// CHECK: loom.quantize_rows %{{.*}} code int8 : tensor<?x256xbf16, #loom.dims<tokens>>
func.func @quantize_rows(%x: tensor<?x256xbf16, #loom.dims<tokens>>) {
  %0 = loom.quantize_rows %x code fp8e4m3 : tensor<?x256xbf16, #loom.dims<tokens>>
  %1 = loom.quantize_rows %x code int8 : tensor<?x256xbf16, #loom.dims<tokens>>
  return
}

// A kernel: inputs as block arguments, outputs yielded.
// CHECK-LABEL: func.func @kernel
// CHECK: loom.kernel matmul(%{{.*}}, %{{.*}}) : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<64x16xf32>) -> (tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>) {
// CHECK: loom.yield %{{.*}}, %{{.*}} : tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>
func.func @kernel(%x: tensor<?x64xf32, #loom.dims<tokens>>, %w: tensor<64x16xf32>) {
  %y:2 = loom.kernel matmul(%x, %w) : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<64x16xf32>) -> (tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>) {
  ^bb0(%a: tensor<?x64xf32, #loom.dims<tokens>>, %b: tensor<64x16xf32>):
    %l = loom.linear %a, %b : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<64x16xf32>) -> tensor<?x16xf32, #loom.dims<tokens>>
    %g = loom.gelu tanh %l : tensor<?x16xf32, #loom.dims<tokens>>
    loom.yield %l, %g : tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x16xf32, #loom.dims<tokens>>
  }
  return
}

// The paged KV cache: new keys written at slots, ragged attention through block tables.
// CHECK-LABEL: func.func @paged
// CHECK: loom.cache_write %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x32xbf16, #loom.dims<blocks>>
// CHECK: loom.paged_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} scale 1.250000e-01 : (tensor<?x8x32xbf16, #loom.dims<tokens>>
func.func @paged(%kc: tensor<?x16x2x32xbf16, #loom.dims<blocks>>, %k: tensor<?x2x32xbf16, #loom.dims<tokens>>,
                 %slots: tensor<?xi64, #loom.dims<tokens>>, %q: tensor<?x8x32xbf16, #loom.dims<tokens>>,
                 %tables: tensor<?x?xi64, #loom.dims<seqs, table>>, %lens: tensor<?xi64, #loom.dims<seqs>>,
                 %starts: tensor<?xi64, #loom.dims<seqs>>) {
  %c = loom.cache_write %kc, %k, %slots : (tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x32xbf16, #loom.dims<blocks>>
  %o = loom.paged_attention %q, %c, %c, %tables, %lens, %starts scale 1.250000e-01 : (tensor<?x8x32xbf16, #loom.dims<tokens>>, tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x?xi64, #loom.dims<seqs, table>>, tensor<?xi64, #loom.dims<seqs>>, tensor<?xi64, #loom.dims<seqs>>) -> tensor<?x8x32xbf16, #loom.dims<tokens>>
  return
}

// A cache of 8-bit codes: the write returns the cache and its scales (one per slot and
// head), the attention reads both caches' scales.
// CHECK-LABEL: func.func @paged_int8
// CHECK: %[[C:.*]], %[[S:.*]] = loom.cache_write %{{.*}}, %{{.*}}, %{{.*}} scales %{{.*}} : (tensor<?x16x2x32xi8, #loom.dims<blocks>>, tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>, tensor<?x16x2xf32, #loom.dims<blocks>>) -> (tensor<?x16x2x32xi8, #loom.dims<blocks>>, tensor<?x16x2xf32, #loom.dims<blocks>>)
// CHECK: loom.paged_attention %{{.*}}, %[[C]], %[[C]], %{{.*}}, %{{.*}}, %{{.*}} scales %[[S]], %[[S]] :
// CHECK: loom.cache_write %{{.*}} scales %{{.*}} : (tensor<?x16x2x32xf8E4M3FN, #loom.dims<blocks>>,
func.func @paged_int8(%kc: tensor<?x16x2x32xi8, #loom.dims<blocks>>, %ks: tensor<?x16x2xf32, #loom.dims<blocks>>,
                      %fc: tensor<?x16x2x32xf8E4M3FN, #loom.dims<blocks>>,
                      %k: tensor<?x2x32xbf16, #loom.dims<tokens>>,
                      %slots: tensor<?xi64, #loom.dims<tokens>>, %q: tensor<?x8x32xbf16, #loom.dims<tokens>>,
                      %tables: tensor<?x?xi64, #loom.dims<seqs, table>>, %lens: tensor<?xi64, #loom.dims<seqs>>,
                      %starts: tensor<?xi64, #loom.dims<seqs>>) {
  %c, %s = loom.cache_write %kc, %k, %slots scales %ks : (tensor<?x16x2x32xi8, #loom.dims<blocks>>, tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>, tensor<?x16x2xf32, #loom.dims<blocks>>) -> (tensor<?x16x2x32xi8, #loom.dims<blocks>>, tensor<?x16x2xf32, #loom.dims<blocks>>)
  %o = loom.paged_attention %q, %c, %c, %tables, %lens, %starts scales %s, %s : (tensor<?x8x32xbf16, #loom.dims<tokens>>, tensor<?x16x2x32xi8, #loom.dims<blocks>>, tensor<?x16x2x32xi8, #loom.dims<blocks>>, tensor<?x?xi64, #loom.dims<seqs, table>>, tensor<?xi64, #loom.dims<seqs>>, tensor<?xi64, #loom.dims<seqs>>, tensor<?x16x2xf32, #loom.dims<blocks>>, tensor<?x16x2xf32, #loom.dims<blocks>>) -> tensor<?x8x32xbf16, #loom.dims<tokens>>
  %f, %fs = loom.cache_write %fc, %k, %slots scales %ks : (tensor<?x16x2x32xf8E4M3FN, #loom.dims<blocks>>, tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>, tensor<?x16x2xf32, #loom.dims<blocks>>) -> (tensor<?x16x2x32xf8E4M3FN, #loom.dims<blocks>>, tensor<?x16x2xf32, #loom.dims<blocks>>)
  return
}

// Training: the cross-entropy loss and the backward ops.
// CHECK-LABEL: func.func @training
// CHECK: loom.cross_entropy %{{.*}}, %{{.*}} shift_labels ignore_index -100 : (tensor<?x?x64xf32, #loom.dims<batch, seq>>, tensor<?x?xi64, #loom.dims<batch, seq>>) -> tensor<f32>
// CHECK: loom.cross_entropy %{{.*}}, %{{.*}} ignore_index 0 : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<?xi32, #loom.dims<tokens>>) -> tensor<f32>
// CHECK: loom.cross_entropy_grad %{{.*}}, %{{.*}}, %{{.*}} shift_labels ignore_index -100 : (tensor<?x?x64xf32, #loom.dims<batch, seq>>, tensor<?x?xi64, #loom.dims<batch, seq>>, tensor<f32>) -> tensor<?x?x64xf32, #loom.dims<batch, seq>>
// CHECK: loom.scatter_add %{{.*}}, %{{.*}} axis 0 : (tensor<?x?x16xf32, #loom.dims<batch, seq>>, tensor<?x?xi64, #loom.dims<batch, seq>>) -> tensor<64x16xf32>
// CHECK: loom.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} causal scale 1.250000e-01 softcap 5.000000e+01 : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x1x1x?xf32, #loom.dims<batch, seq>>) -> (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>)
func.func @training(%logits: tensor<?x?x64xf32, #loom.dims<batch, seq>>, %labels: tensor<?x?xi64, #loom.dims<batch, seq>>,
                    %flat: tensor<?x64xf32, #loom.dims<tokens>>, %targets: tensor<?xi32, #loom.dims<tokens>>,
                    %dh: tensor<?x?x16xf32, #loom.dims<batch, seq>>,
                    %q: tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, %k: tensor<?x2x?x32xf32, #loom.dims<batch, seq>>,
                    %do: tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, %mask: tensor<?x1x1x?xf32, #loom.dims<batch, seq>>) {
  %l = loom.cross_entropy %logits, %labels shift_labels ignore_index -100 : (tensor<?x?x64xf32, #loom.dims<batch, seq>>, tensor<?x?xi64, #loom.dims<batch, seq>>) -> tensor<f32>
  %l2 = loom.cross_entropy %flat, %targets ignore_index 0 : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<?xi32, #loom.dims<tokens>>) -> tensor<f32>
  %dl = loom.cross_entropy_grad %logits, %labels, %l shift_labels ignore_index -100 : (tensor<?x?x64xf32, #loom.dims<batch, seq>>, tensor<?x?xi64, #loom.dims<batch, seq>>, tensor<f32>) -> tensor<?x?x64xf32, #loom.dims<batch, seq>>
  %dt = loom.scatter_add %dh, %labels axis 0 : (tensor<?x?x16xf32, #loom.dims<batch, seq>>, tensor<?x?xi64, #loom.dims<batch, seq>>) -> tensor<64x16xf32>
  %dq, %dk, %dv = loom.attention_grad %q, %k, %k, %do mask %mask causal scale 0.125 softcap 50.0 : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x1x1x?xf32, #loom.dims<batch, seq>>) -> (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>)
  return
}
