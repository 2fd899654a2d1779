// One case per rule of the shard attribute and the collective ops.
// RUN: loom-opt %s -split-input-file -verify-diagnostics

// A shard's axis is one of the weight's.
func.func @shard_axis() {
  // expected-error @+1 {{is sharded along axis 2 but has rank 2}}
  %w = loom.weight "w" shard <axis = 2, index = 0, count = 2> : tensor<4x4xf32>
  return
}

// -----

// A shard's index is below its count.
func.func @shard_index() {
  // expected-error @+1 {{#loom.shard index 2 is outside [0, 2)}}
  %w = loom.weight "w" shard <axis = 0, index = 2, count = 2> : tensor<4x4xf32>
  return
}

// -----

// A shard of one part is no shard.
func.func @shard_count() {
  // expected-error @+1 {{#loom.shard count 1 is below 2}}
  %w = loom.weight "w" shard <axis = 0, index = 0, count = 1> : tensor<4x4xf32>
  return
}

// -----

// Stacked weights are not sharded (yet).
func.func @shard_stacked() {
  // expected-error @+1 {{is sharded and stacked or quantized}}
  %w = loom.weight "a" stacked ["b"] rows [2, 2] shard <axis = 0, index = 0, count = 2> : tensor<4x4xf32>
  return
}

// -----

// A group lists each rank once.
func.func @group_twice(%x: tensor<4xf32>) {
  // expected-error @+1 {{group holds rank 1 twice}}
  %y = loom.all_reduce %x group [0, 1, 1] : tensor<4xf32>
  return
}

// -----

// A group is not empty.
func.func @group_empty(%x: tensor<4xf32>) {
  // expected-error @+1 {{has an empty group}}
  %y = loom.all_reduce %x group [] : tensor<4xf32>
  return
}

// -----

// A rank's collective includes that rank.
func.func @group_self(%x: tensor<4xf32>) attributes {loom.rank = 2 : i64, loom.world = 4 : i64} {
  // expected-error @+1 {{runs in rank 2 but its group does not hold it}}
  %y = loom.all_reduce %x group [0, 1] : tensor<4xf32>
  return
}

// -----

// A group's ranks are in the world.
func.func @group_world(%x: tensor<4xf32>) attributes {loom.rank = 0 : i64, loom.world = 2 : i64} {
  // expected-error @+1 {{group holds rank 2, but the world has 2 ranks}}
  %y = loom.all_reduce %x group [0, 1, 2] : tensor<4xf32>
  return
}

// -----

// all_gather multiplies its axis by the group's size.
func.func @gather_size(%x: tensor<2x4xf32>) {
  // expected-error @+1 {{the result's axis 1 is 6, not 2 (the group's size) times 4}}
  %y = loom.all_gather %x axis 1 group [0, 1] : tensor<2x4xf32> -> tensor<2x6xf32>
  return
}

// -----

// all_gather changes no other dimension.
func.func @gather_other(%x: tensor<2x4xf32>) {
  // expected-error @+1 {{dimension 0 is 2 in the operand and 3 in the result}}
  %y = loom.all_gather %x axis 1 group [0, 1] : tensor<2x4xf32> -> tensor<3x8xf32>
  return
}

// -----

// all_gather's axis is static.
func.func @gather_dynamic(%x: tensor<?x4xf32, #loom.dims<tokens>>) {
  // expected-error @+1 {{axis 0 must be static in the operand and the result}}
  %y = loom.all_gather %x axis 0 group [0, 1] : tensor<?x4xf32, #loom.dims<tokens>> -> tensor<?x4xf32>
  return
}

// -----

// The gathered axis is one of the operand's.
func.func @gather_axis(%x: tensor<2x4xf32>) {
  // expected-error @+1 {{axis 2 is outside the operand's rank 2}}
  %y = loom.all_gather %x axis 2 group [0, 1] : tensor<2x4xf32> -> tensor<2x4xf32>
  return
}

// -----

// reduce_scatter divides its axis by the group's size.
func.func @scatter_size(%x: tensor<8x4xf32>) {
  // expected-error @+1 {{the operand's axis 0 is 8, not 2 (the group's size) times 2}}
  %y = loom.reduce_scatter %x axis 0 group [0, 1] : tensor<8x4xf32> -> tensor<2x4xf32>
  return
}

// -----

// broadcast_from's root is in its group.
func.func @broadcast_root(%x: tensor<4xi64>) {
  // expected-error @+1 {{root 3 is not in its group}}
  %y = loom.broadcast_from %x root 3 group [0, 1] : tensor<4xi64>
  return
}

// -----

// A rank does not send to itself.
func.func @send_self(%x: tensor<4xf32>) attributes {loom.rank = 1 : i64, loom.world = 2 : i64} {
  // expected-error @+1 {{peer 1 is the function's own rank}}
  loom.send %x to 1 tag 0 : tensor<4xf32>
  return
}

// -----

// A peer is in the world.
func.func @recv_world() attributes {loom.rank = 0 : i64, loom.world = 2 : i64} {
  // expected-error @+1 {{peer 5 is outside the world of 2 ranks}}
  %y = loom.recv from 5 tag 0 : tensor<4xf32>
  return
}

// -----

// Tags are not negative.
func.func @send_tag(%x: tensor<4xf32>) {
  // expected-error @+1 {{tag -1 is negative}}
  loom.send %x to 1 tag -1 : tensor<4xf32>
  return
}
