// RUN: loom-opt %s -split-input-file -loom-partition-tensor=degree=1 | FileCheck %s --check-prefix=ONE
// RUN: loom-opt %s -split-input-file -loom-partition-tensor=degree=2 | FileCheck %s --check-prefix=TWO
// RUN: loom-opt %s -split-input-file -loom-partition-tensor=degree=4 | FileCheck %s --check-prefix=FOUR

// An MLP: up split by output columns, down by input rows with one all_reduce after it
// and its bias added once, after the sum. With degree=1 nothing changes.
// ONE-LABEL: func.func @mlp(
// ONE-NOT: rank
// ONE: loom.weight "up" : tensor<8x4xf32>
// ONE-NOT: all_reduce
// TWO-LABEL: func.func @mlp_rank0(
// TWO-SAME: loom.rank = 0 : i64, loom.world = 2 : i64
// TWO-LABEL: func.func @mlp_rank1(
// TWO: [[UP:%.+]] = loom.weight "up" shard <axis = 0, index = 1, count = 2> : tensor<4x4xf32>
// TWO: [[H:%.+]] = loom.linear %arg0, [[UP]] transpose_weight : {{.*}} -> tensor<?x4xf32, #loom.dims<tokens>>
// TWO: [[A:%.+]] = loom.silu [[H]] : tensor<?x4xf32, #loom.dims<tokens>>
// TWO: [[B:%.+]] = loom.weight "down.bias" : tensor<4xf32>
// TWO: [[DOWN:%.+]] = loom.weight "down" shard <axis = 1, index = 1, count = 2> : tensor<4x4xf32>
// TWO: [[P:%.+]] = loom.linear [[A]], [[DOWN]] transpose_weight : {{.*}} -> tensor<?x4xf32, #loom.dims<tokens>>
// TWO: [[S:%.+]] = loom.all_reduce [[P]] group [0, 1]
// TWO: [[Y:%.+]] = loom.add [[S]], [[B]]
// TWO: return [[Y]]
// TWO-NOT: func.func @mlp(
func.func @mlp(%x: tensor<?x4xf32, #loom.dims<tokens>>) -> tensor<?x4xf32, #loom.dims<tokens>> {
  %w = loom.weight "up" : tensor<8x4xf32>
  %h = loom.linear %x, %w transpose_weight : (tensor<?x4xf32, #loom.dims<tokens>>, tensor<8x4xf32>) -> tensor<?x8xf32, #loom.dims<tokens>>
  %a = loom.silu %h : tensor<?x8xf32, #loom.dims<tokens>>
  %d = loom.weight "down" : tensor<4x8xf32>
  %b = loom.weight "down.bias" : tensor<4xf32>
  %y = loom.linear %a, %d bias %b transpose_weight : (tensor<?x8xf32, #loom.dims<tokens>>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<?x4xf32, #loom.dims<tokens>>
  return %y : tensor<?x4xf32, #loom.dims<tokens>>
}

// -----

// Attention with 4 query heads and 2 KV heads: heads split; at degree 4 each KV head is
// replicated over two ranks (rank 3 binds KV head 1 of 2). The LM head is split over
// the vocabulary and its logits gathered.
// FOUR-LABEL: func.func @attention_rank3(
// FOUR: loom.weight "q" shard <axis = 0, index = 3, count = 4> : tensor<2x8xf32>
// FOUR: loom.weight "k" shard <axis = 0, index = 1, count = 2> : tensor<2x8xf32>
// FOUR: loom.weight "v" shard <axis = 0, index = 1, count = 2> : tensor<2x8xf32>
// FOUR: loom.attention {{.*}} : (tensor<?x1x?x2xf32, #loom.dims<batch, seq>>, tensor<?x1x?x2xf32, #loom.dims<batch, seq>>, tensor<?x1x?x2xf32, #loom.dims<batch, seq>>) -> tensor<?x1x?x2xf32, #loom.dims<batch, seq>>
// FOUR: loom.weight "o" shard <axis = 1, index = 3, count = 4> : tensor<8x2xf32>
// FOUR: loom.all_reduce {{.*}} group [0, 1, 2, 3]
// FOUR: loom.weight "lm_head" shard <axis = 0, index = 3, count = 4> : tensor<4x8xf32>
// FOUR: [[L:%.+]] = loom.linear
// FOUR: [[G:%.+]] = loom.all_gather [[L]] axis 2 group [0, 1, 2, 3] : tensor<?x?x4xf32, #loom.dims<batch, seq>> -> tensor<?x?x16xf32, #loom.dims<batch, seq>>
// FOUR: return [[G]]
func.func @attention(%x: tensor<?x?x8xf32, #loom.dims<batch, seq>>) -> tensor<?x?x16xf32, #loom.dims<batch, seq>> {
  %wq = loom.weight "q" : tensor<8x8xf32>
  %q = loom.linear %x, %wq transpose_weight : (tensor<?x?x8xf32, #loom.dims<batch, seq>>, tensor<8x8xf32>) -> tensor<?x?x8xf32, #loom.dims<batch, seq>>
  %wk = loom.weight "k" : tensor<4x8xf32>
  %k = loom.linear %x, %wk transpose_weight : (tensor<?x?x8xf32, #loom.dims<batch, seq>>, tensor<4x8xf32>) -> tensor<?x?x4xf32, #loom.dims<batch, seq>>
  %wv = loom.weight "v" : tensor<4x8xf32>
  %v = loom.linear %x, %wv transpose_weight : (tensor<?x?x8xf32, #loom.dims<batch, seq>>, tensor<4x8xf32>) -> tensor<?x?x4xf32, #loom.dims<batch, seq>>
  %q1 = loom.reshape %q : tensor<?x?x8xf32, #loom.dims<batch, seq>> -> tensor<?x?x4x2xf32, #loom.dims<batch, seq>>
  %q2 = loom.transpose %q1 [0, 2, 1, 3] : tensor<?x?x4x2xf32, #loom.dims<batch, seq>> -> tensor<?x4x?x2xf32, #loom.dims<batch, seq>>
  %k1 = loom.reshape %k : tensor<?x?x4xf32, #loom.dims<batch, seq>> -> tensor<?x?x2x2xf32, #loom.dims<batch, seq>>
  %k2 = loom.transpose %k1 [0, 2, 1, 3] : tensor<?x?x2x2xf32, #loom.dims<batch, seq>> -> tensor<?x2x?x2xf32, #loom.dims<batch, seq>>
  %v1 = loom.reshape %v : tensor<?x?x4xf32, #loom.dims<batch, seq>> -> tensor<?x?x2x2xf32, #loom.dims<batch, seq>>
  %v2 = loom.transpose %v1 [0, 2, 1, 3] : tensor<?x?x2x2xf32, #loom.dims<batch, seq>> -> tensor<?x2x?x2xf32, #loom.dims<batch, seq>>
  %att = loom.attention %q2, %k2, %v2 causal : (tensor<?x4x?x2xf32, #loom.dims<batch, seq>>, tensor<?x2x?x2xf32, #loom.dims<batch, seq>>, tensor<?x2x?x2xf32, #loom.dims<batch, seq>>) -> tensor<?x4x?x2xf32, #loom.dims<batch, seq>>
  %t = loom.transpose %att [0, 2, 1, 3] : tensor<?x4x?x2xf32, #loom.dims<batch, seq>> -> tensor<?x?x4x2xf32, #loom.dims<batch, seq>>
  %r = loom.reshape %t : tensor<?x?x4x2xf32, #loom.dims<batch, seq>> -> tensor<?x?x8xf32, #loom.dims<batch, seq>>
  %wo = loom.weight "o" : tensor<8x8xf32>
  %o = loom.linear %r, %wo transpose_weight : (tensor<?x?x8xf32, #loom.dims<batch, seq>>, tensor<8x8xf32>) -> tensor<?x?x8xf32, #loom.dims<batch, seq>>
  %wl = loom.weight "lm_head" : tensor<16x8xf32>
  %l = loom.linear %o, %wl transpose_weight : (tensor<?x?x8xf32, #loom.dims<batch, seq>>, tensor<16x8xf32>) -> tensor<?x?x16xf32, #loom.dims<batch, seq>>
  return %l : tensor<?x?x16xf32, #loom.dims<batch, seq>>
}
