// Round trip of the shard attribute and the collective ops: parse, print, parse again;
// and through the generic form.
// RUN: loom-opt %s | loom-opt | FileCheck %s
// RUN: loom-opt %s --mlir-print-op-generic | loom-opt | FileCheck %s

// CHECK-LABEL: func.func @forward_rank1
// CHECK-SAME: loom.rank = 1 : i64, loom.world = 2 : i64
func.func @forward_rank1(%x: tensor<?x256xf32, #loom.dims<tokens>>, %ids: tensor<?x1xi64, #loom.dims<batch>>) -> tensor<?x2048xf32, #loom.dims<tokens>> attributes {loom.rank = 1 : i64, loom.world = 2 : i64} {
  // CHECK: loom.weight "up.weight" shard <axis = 0, index = 1, count = 2> : tensor<352x256xf32>
  %w = loom.weight "up.weight" shard <axis = 0, index = 1, count = 2> : tensor<352x256xf32>
  // CHECK: loom.all_reduce %{{.*}} group [0, 1] : tensor<?x256xf32, #loom.dims<tokens>>
  %s = loom.all_reduce %x group [0, 1] : tensor<?x256xf32, #loom.dims<tokens>>
  // CHECK: loom.all_gather %{{.*}} axis 1 group [0, 1] : tensor<?x1024xf32, #loom.dims<tokens>> -> tensor<?x2048xf32, #loom.dims<tokens>>
  %l = loom.weight "lm_head.weight" shard <axis = 0, index = 1, count = 2> : tensor<1024x256xf32>
  %p = loom.linear %s, %l transpose_weight : (tensor<?x256xf32, #loom.dims<tokens>>, tensor<1024x256xf32>) -> tensor<?x1024xf32, #loom.dims<tokens>>
  %g = loom.all_gather %p axis 1 group [0, 1] : tensor<?x1024xf32, #loom.dims<tokens>> -> tensor<?x2048xf32, #loom.dims<tokens>>
  // CHECK: loom.reduce_scatter %{{.*}} axis 0 group [0, 1] : tensor<352x256xf32> -> tensor<176x256xf32>
  %r = loom.reduce_scatter %w axis 0 group [0, 1] : tensor<352x256xf32> -> tensor<176x256xf32>
  // CHECK: loom.broadcast_from %{{.*}} root 0 group [0, 1] : tensor<?x1xi64, #loom.dims<batch>>
  %b = loom.broadcast_from %ids root 0 group [0, 1] : tensor<?x1xi64, #loom.dims<batch>>
  // CHECK: loom.send %{{.*}} to 0 tag 3 : tensor<?x256xf32, #loom.dims<tokens>>
  loom.send %s to 0 tag 3 : tensor<?x256xf32, #loom.dims<tokens>>
  // CHECK: loom.recv from 0 tag 4 : tensor<?x256xf32, #loom.dims<tokens>>
  %v = loom.recv from 0 tag 4 : tensor<?x256xf32, #loom.dims<tokens>>
  return %g : tensor<?x2048xf32, #loom.dims<tokens>>
}
