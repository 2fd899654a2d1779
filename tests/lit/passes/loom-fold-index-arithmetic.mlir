// RUN: loom-opt %s -split-input-file -loom-fold-index-arithmetic -loom-canonicalize | FileCheck %s

// transformers' packed-sequence test from position ids that are an iota: positions
// shifted by one (concat of p[0] - 1 and p), differences all 1, so "a new sequence
// starts here" is false everywhere and the running count is 0.
// CHECK-LABEL: func.func @packed_sequence_ids
// CHECK-NEXT: %[[Z:.+]] = loom.constant dense<0> : tensor<i64>
// CHECK-NEXT: %[[B:.+]] = loom.broadcast %[[Z]] : tensor<i64> -> tensor<?x?xi64, #loom.dims<batch, seq>>
// CHECK-NEXT: return %[[B]]
func.func @packed_sequence_ids(%ids: tensor<?x?xi64, #loom.dims<batch, seq>>) -> tensor<?x?xi64, #loom.dims<batch, seq>> {
  %one = loom.constant dense<1> : tensor<i64>
  %pos = loom.iota %ids dim 1 : tensor<?x?xi64, #loom.dims<batch, seq>> -> tensor<?xi64, #loom.dims<seq>>
  %p = loom.broadcast %pos : tensor<?xi64, #loom.dims<seq>> -> tensor<?x?xi64, #loom.dims<batch, seq>>
  %first = loom.slice %p axes [1] starts [0] ends [1] steps [1] : tensor<?x?xi64, #loom.dims<batch, seq>> -> tensor<?x1xi64, #loom.dims<batch>>
  %before = loom.sub %first, %one : (tensor<?x1xi64, #loom.dims<batch>>, tensor<i64>) -> tensor<?x1xi64, #loom.dims<batch>>
  %shifted = loom.concat %before, %p axis 1 : (tensor<?x1xi64, #loom.dims<batch>>, tensor<?x?xi64, #loom.dims<batch, seq>>) -> tensor<?x?xi64, #loom.dims<batch, "seq+1">>
  %prev = loom.slice %shifted axes [1] starts [0] ends [-1] steps [1] : tensor<?x?xi64, #loom.dims<batch, "seq+1">> -> tensor<?x?xi64, #loom.dims<batch, seq>>
  %next = loom.slice %shifted axes [1] starts [1] ends [9223372036854775807] steps [1] : tensor<?x?xi64, #loom.dims<batch, "seq+1">> -> tensor<?x?xi64, #loom.dims<batch, seq>>
  %diff = loom.sub %next, %prev : (tensor<?x?xi64, #loom.dims<batch, seq>>, tensor<?x?xi64, #loom.dims<batch, seq>>) -> tensor<?x?xi64, #loom.dims<batch, seq>>
  %same = loom.compare eq, %diff, %one : (tensor<?x?xi64, #loom.dims<batch, seq>>, tensor<i64>) -> tensor<?x?xi1, #loom.dims<batch, seq>>
  %starts = loom.not %same : tensor<?x?xi1, #loom.dims<batch, seq>>
  %count = loom.cast %starts : tensor<?x?xi1, #loom.dims<batch, seq>> to tensor<?x?xi64, #loom.dims<batch, seq>>
  %ids2 = loom.cumsum %count axis 1 : tensor<?x?xi64, #loom.dims<batch, seq>>
  return %ids2 : tensor<?x?xi64, #loom.dims<batch, seq>>
}

// -----

// Must not fire: a causal comparison depends on the indices, and position ids read
// from an input are unknown.
// CHECK-LABEL: func.func @not_constant
// CHECK: loom.compare le
// CHECK: loom.cumsum
func.func @not_constant(%ids: tensor<4x6xi64>) -> (tensor<6x6xi1>, tensor<4x6xi64>) {
  %pos = loom.iota %ids dim 1 : tensor<4x6xi64> -> tensor<6xi64>
  %rows = loom.reshape %pos : tensor<6xi64> -> tensor<6x1xi64>
  %causal = loom.compare le, %pos, %rows : (tensor<6xi64>, tensor<6x1xi64>) -> tensor<6x6xi1>
  %c = loom.cumsum %ids axis 1 : tensor<4x6xi64>
  return %causal, %c : tensor<6x6xi1>, tensor<4x6xi64>
}
