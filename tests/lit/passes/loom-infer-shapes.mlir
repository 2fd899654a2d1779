// RUN: loom-opt %s -split-input-file -loom-infer-shapes | FileCheck %s

// A slice [0:-1] of `seq+1` is `seq`; the exp after it follows, and so does the
// function's result type.
// CHECK-LABEL: func.func @slice_from_end
// CHECK-SAME: -> tensor<2x?xf32, #loom.dims<seq>>
// CHECK: loom.slice {{.*}} -> tensor<2x?xf32, #loom.dims<seq>>
// CHECK: loom.exp {{.*}} : tensor<2x?xf32, #loom.dims<seq>>
func.func @slice_from_end(%x: tensor<2x?xf32, #loom.dims<"seq+1">>) -> tensor<2x?xf32> {
  %s = loom.slice %x axes [1] starts [0] ends [-1] steps [1] : tensor<2x?xf32, #loom.dims<"seq+1">> -> tensor<2x?xf32>
  %y = loom.exp %s : tensor<2x?xf32>
  return %y : tensor<2x?xf32>
}

// -----

// One unknown reshape dimension is what the element count leaves; a broadcast takes
// the operand's names; an elementwise op meeting ? and a name takes the name.
// CHECK-LABEL: func.func @reshape_broadcast_binary
// CHECK: loom.reshape {{.*}} -> tensor<?x4x32xf32, #loom.dims<"batch*seq">>
// CHECK: loom.broadcast {{.*}} -> tensor<?x?x128xf32, #loom.dims<batch, seq>>
// CHECK: loom.add {{.*}} -> tensor<?x?x128xf32, #loom.dims<batch, seq>>
func.func @reshape_broadcast_binary(%x: tensor<?x128xf32, #loom.dims<"batch*seq">>, %y: tensor<?x?x128xf32, #loom.dims<batch, seq>>, %z: tensor<?x?x128xf32>) -> (tensor<?x4x32xf32>, tensor<?x?x128xf32>) {
  %r = loom.reshape %x : tensor<?x128xf32, #loom.dims<"batch*seq">> -> tensor<?x4x32xf32>
  %b = loom.broadcast %y : tensor<?x?x128xf32, #loom.dims<batch, seq>> -> tensor<?x?x128xf32>
  %a = loom.add %b, %z : (tensor<?x?x128xf32>, tensor<?x?x128xf32>) -> tensor<?x?x128xf32>
  return %r, %a : tensor<?x4x32xf32>, tensor<?x?x128xf32>
}

// -----

// Concatenation sums, matmuls take M and N, gathers take the indices' shape.
// CHECK-LABEL: func.func @concat_matmul_gather
// CHECK: loom.concat {{.*}} -> tensor<?x8xf32, #loom.dims<"past+seq">>
// CHECK: loom.matmul {{.*}} -> tensor<?x?xf32, #loom.dims<seq, "past+seq">>
// CHECK: loom.gather {{.*}} -> tensor<?x?x8xf32, #loom.dims<batch, seq>>
func.func @concat_matmul_gather(%p: tensor<?x8xf32, #loom.dims<past>>, %n: tensor<?x8xf32, #loom.dims<seq>>, %t: tensor<100x8xf32>, %i: tensor<?x?xi64, #loom.dims<batch, seq>>) -> (tensor<?x?xf32>, tensor<?x?x8xf32>) {
  %k = loom.concat %p, %n axis 0 : (tensor<?x8xf32, #loom.dims<past>>, tensor<?x8xf32, #loom.dims<seq>>) -> tensor<?x8xf32>
  %s = loom.matmul %n, %k transpose_rhs : (tensor<?x8xf32, #loom.dims<seq>>, tensor<?x8xf32>) -> tensor<?x?xf32>
  %g = loom.gather %t, %i axis 0 : (tensor<100x8xf32>, tensor<?x?xi64, #loom.dims<batch, seq>>) -> tensor<?x?x8xf32>
  return %s, %g : tensor<?x?xf32>, tensor<?x?x8xf32>
}

// -----

// Must not change: known dimensions stay as they are, and a reshape with two unknown
// dimensions cannot be solved.
// CHECK-LABEL: func.func @nothing_to_learn
// CHECK: loom.reshape {{.*}} -> tensor<?x?x32xf32>
// CHECK: loom.exp {{.*}} : tensor<?x128xf32, #loom.dims<tokens>>
func.func @nothing_to_learn(%x: tensor<?x128xf32, #loom.dims<tokens>>) -> (tensor<?x?x32xf32>, tensor<?x128xf32, #loom.dims<tokens>>) {
  %r = loom.reshape %x : tensor<?x128xf32, #loom.dims<tokens>> -> tensor<?x?x32xf32>
  %e = loom.exp %x : tensor<?x128xf32, #loom.dims<tokens>>
  return %r, %e : tensor<?x?x32xf32>, tensor<?x128xf32, #loom.dims<tokens>>
}

// -----

// Inside a kernel: the body's arguments follow the inputs, the results what the body
// yields.
// CHECK-LABEL: func.func @kernel_body
// CHECK: loom.kernel pointwise(%{{.+}}) : (tensor<2x?xf32, #loom.dims<seq>>) -> tensor<2x?xf32, #loom.dims<seq>>
// CHECK-NEXT: ^bb0(%{{.+}}: tensor<2x?xf32, #loom.dims<seq>>):
// CHECK-NEXT: loom.exp %{{.+}} : tensor<2x?xf32, #loom.dims<seq>>
func.func @kernel_body(%x: tensor<2x?xf32, #loom.dims<"seq+1">>) -> tensor<2x?xf32> {
  %s = loom.slice %x axes [1] starts [0] ends [-1] steps [1] : tensor<2x?xf32, #loom.dims<"seq+1">> -> tensor<2x?xf32>
  %k = loom.kernel pointwise(%s) : (tensor<2x?xf32>) -> tensor<2x?xf32> {
  ^bb0(%a: tensor<2x?xf32>):
    %e = loom.exp %a : tensor<2x?xf32>
    loom.yield %e : tensor<2x?xf32>
  }
  return %k : tensor<2x?xf32>
}
