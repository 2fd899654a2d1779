// RUN: loom-opt %s -split-input-file -loom-autodiff | FileCheck %s

// A weight broadcast against rows: its gradient sums the rows of the other factor.
// CHECK-LABEL: func.func @broadcast_mul
// CHECK-SAME: -> (tensor<f32> {loom.name = "loss"}, tensor<8xf32> {loom.name = "grad.w"})
// CHECK: %[[W:.+]] = loom.weight "w"
// CHECK: %[[L:.+]] = loom.reduce sum
// CHECK: %[[ONE:.+]] = loom.constant dense<1.000000e+00> : tensor<f32>
// CHECK: %[[G:.+]] = loom.broadcast
// CHECK: %[[GX:.+]] = loom.mul %[[G]], %arg0
// CHECK: %[[S:.+]] = loom.reduce sum %[[GX]] axes [0] keep_dims : tensor<4x8xf32> -> tensor<1x8xf32>
// CHECK: %[[DW:.+]] = loom.reshape %[[S]] : tensor<1x8xf32> -> tensor<8xf32>
// CHECK: return %[[L]], %[[DW]]
// CHECK-NOT: loom.autodiff
func.func @broadcast_mul(%x: tensor<4x8xf32>) -> (tensor<f32> {loom.name = "loss"}) attributes {loom.autodiff} {
  %w = loom.weight "w" : tensor<8xf32>
  %y = loom.mul %x, %w : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %l = loom.reduce sum %y axes [0, 1] : tensor<4x8xf32> -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// Two uses of one weight name (a tied embedding) add up; a weight the loss does not
// read gets zeros.
// CHECK-LABEL: func.func @tied_and_unused
// CHECK-SAME: -> (tensor<f32>, tensor<16x4xf32> {loom.name = "grad.emb"}, tensor<3xf32> {loom.name = "grad.unused"})
// CHECK: %[[H:.+]] = loom.matmul %{{.+}}, %{{.+}} transpose_lhs : (tensor<?x16xf32, #loom.dims<tokens>>, tensor<?x4xf32, #loom.dims<tokens>>) -> tensor<16x4xf32>
// CHECK: %[[T:.+]] = loom.scatter_add %{{.+}}, %arg0 axis 0 : (tensor<?x4xf32, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<16x4xf32>
// CHECK: %[[SUM:.+]] = loom.add %[[T]], %[[H]] : (tensor<16x4xf32>, tensor<16x4xf32>) -> tensor<16x4xf32>
// CHECK: %[[Z:.+]] = loom.broadcast %{{.+}} : tensor<f32> -> tensor<3xf32>
// CHECK: return %{{.+}}, %[[SUM]], %[[Z]]
func.func @tied_and_unused(%ids: tensor<?xi64, #loom.dims<tokens>>) -> tensor<f32> attributes {loom.autodiff} {
  %e = loom.weight "emb" : tensor<16x4xf32>
  %u = loom.weight "unused" : tensor<3xf32>
  %h = loom.gather %e, %ids axis 0 : (tensor<16x4xf32>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x4xf32, #loom.dims<tokens>>
  %e2 = loom.weight "emb" : tensor<16x4xf32>
  %logits = loom.matmul %h, %e2 transpose_rhs : (tensor<?x4xf32, #loom.dims<tokens>>, tensor<16x4xf32>) -> tensor<?x16xf32, #loom.dims<tokens>>
  %l = loom.cross_entropy %logits, %ids ignore_index -100 : (tensor<?x16xf32, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// A weight read by a batched activation gets one GEMM over the flattened rows; the
// attention's backward is one op whose key and value gradients flow on through rope
// (sin negated) and the head layout.
// CHECK-LABEL: func.func @layer
// CHECK: %[[DQ:.+]], %[[DK:.+]], %[[DV:.+]] = loom.attention_grad %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} causal
// CHECK: %[[NS:.+]] = loom.neg %arg1
// CHECK: loom.rope %[[DQ]], %arg1, %[[NS]]
// CHECK: loom.reshape %{{.+}} : tensor<?x?x32xf32, #loom.dims<batch, seq>> -> tensor<?x32xf32, #loom.dims<"batch*seq">>
// CHECK: loom.matmul %{{.+}}, %{{.+}} transpose_lhs : (tensor<?x32xf32, #loom.dims<"batch*seq">>, tensor<?x32xf32, #loom.dims<"batch*seq">>) -> tensor<32x32xf32>
// CHECK: return
func.func @layer(%x: tensor<?x?x32xf32, #loom.dims<batch, seq>>, %cs: tensor<?x8xf32, #loom.dims<seq>>) -> tensor<f32> attributes {loom.autodiff} {
  %w = loom.weight "q" : tensor<32x32xf32>
  %q = loom.matmul %x, %w transpose_rhs : (tensor<?x?x32xf32, #loom.dims<batch, seq>>, tensor<32x32xf32>) -> tensor<?x?x32xf32, #loom.dims<batch, seq>>
  %q4 = loom.reshape %q : tensor<?x?x32xf32, #loom.dims<batch, seq>> -> tensor<?x?x2x16xf32, #loom.dims<batch, seq>>
  %qt = loom.transpose %q4 [0, 2, 1, 3] : tensor<?x?x2x16xf32, #loom.dims<batch, seq>> -> tensor<?x2x?x16xf32, #loom.dims<batch, seq>>
  %qr = loom.rope %qt, %cs, %cs : (tensor<?x2x?x16xf32, #loom.dims<batch, seq>>, tensor<?x8xf32, #loom.dims<seq>>, tensor<?x8xf32, #loom.dims<seq>>) -> tensor<?x2x?x16xf32, #loom.dims<batch, seq>>
  %o = loom.attention %qr, %qt, %qt causal : (tensor<?x2x?x16xf32, #loom.dims<batch, seq>>, tensor<?x2x?x16xf32, #loom.dims<batch, seq>>, tensor<?x2x?x16xf32, #loom.dims<batch, seq>>) -> tensor<?x2x?x16xf32, #loom.dims<batch, seq>>
  %l = loom.reduce mean %o axes [0, 1, 2, 3] : tensor<?x2x?x16xf32, #loom.dims<batch, seq>> -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// A function without loom.autodiff is left alone.
// CHECK-LABEL: func.func @untouched
// CHECK-SAME: -> tensor<f32> {
// CHECK-NEXT: loom.weight "w"
// CHECK-NEXT: loom.reduce sum
// CHECK-NEXT: return
func.func @untouched() -> tensor<f32> {
  %w = loom.weight "w" : tensor<8xf32>
  %l = loom.reduce sum %w axes [0] : tensor<8xf32> -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// With a list of names (a LoRA adapter over a frozen base) only those weights get a
// gradient; the frozen base is a constant of the backward, not a result.
// CHECK-LABEL: func.func @only_named
// CHECK-SAME: -> (tensor<f32>, tensor<2x8xf32> {loom.name = "grad.lora_A"})
// CHECK-NOT: grad.base
// CHECK: return
// CHECK-NOT: loom.autodiff
func.func @only_named(%x: tensor<4x8xf32>) -> tensor<f32> attributes {loom.autodiff = ["lora_A"]} {
  %w = loom.weight "base" : tensor<8x8xf32>
  %a = loom.weight "lora_A" : tensor<2x8xf32>
  %y = loom.matmul %x, %w transpose_rhs : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %h = loom.matmul %y, %a transpose_rhs : (tensor<4x8xf32>, tensor<2x8xf32>) -> tensor<4x2xf32>
  %l = loom.reduce sum %h axes [0, 1] : tensor<4x2xf32> -> tensor<f32>
  return %l : tensor<f32>
}
