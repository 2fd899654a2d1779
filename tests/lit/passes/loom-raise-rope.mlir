// RUN: loom-opt %s -split-input-file -loom-raise-rope | FileCheck %s

// Llama's exported rotary embedding: full-width tables cos/sin(concat(f, f)) reshaped
// to [1, 1, S, D], and rotate_half spelled with slices, neg and concat.
// CHECK-LABEL: func.func @half_rotation
// CHECK-SAME: (%[[X:.+]]: tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, %[[F:.+]]: tensor<1x?x16xf32, #loom.dims<seq>>)
// CHECK-DAG: %[[C:.+]] = loom.cos %[[F]] : tensor<1x?x16xf32, #loom.dims<seq>>
// CHECK-DAG: %[[S:.+]] = loom.sin %[[F]] : tensor<1x?x16xf32, #loom.dims<seq>>
// CHECK-DAG: %[[C4:.+]] = loom.reshape %[[C]] : tensor<1x?x16xf32, #loom.dims<seq>> -> tensor<1x1x?x16xf32, #loom.dims<seq>>
// CHECK-DAG: %[[S4:.+]] = loom.reshape %[[S]] : tensor<1x?x16xf32, #loom.dims<seq>> -> tensor<1x1x?x16xf32, #loom.dims<seq>>
// CHECK: %[[R:.+]] = loom.rope %[[X]], %[[C4]], %[[S4]] :
// CHECK: return %[[R]]
func.func @half_rotation(%x: tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, %f: tensor<1x?x16xf32, #loom.dims<seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>> {
  %ff = loom.concat %f, %f axis 2 : (tensor<1x?x16xf32, #loom.dims<seq>>, tensor<1x?x16xf32, #loom.dims<seq>>) -> tensor<1x?x32xf32, #loom.dims<seq>>
  %cos = loom.cos %ff : tensor<1x?x32xf32, #loom.dims<seq>>
  %sin = loom.sin %ff : tensor<1x?x32xf32, #loom.dims<seq>>
  %c = loom.reshape %cos : tensor<1x?x32xf32, #loom.dims<seq>> -> tensor<1x1x?x32xf32, #loom.dims<seq>>
  %s = loom.reshape %sin : tensor<1x?x32xf32, #loom.dims<seq>> -> tensor<1x1x?x32xf32, #loom.dims<seq>>
  %0 = loom.mul %x, %c : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<1x1x?x32xf32, #loom.dims<seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  %1 = loom.slice %x axes [3] starts [0] ends [16] steps [1] : tensor<?x8x?x32xf32, #loom.dims<batch, seq>> -> tensor<?x8x?x16xf32, #loom.dims<batch, seq>>
  %2 = loom.slice %x axes [3] starts [16] ends [9223372036854775807] steps [1] : tensor<?x8x?x32xf32, #loom.dims<batch, seq>> -> tensor<?x8x?x16xf32, #loom.dims<batch, seq>>
  %3 = loom.neg %2 : tensor<?x8x?x16xf32, #loom.dims<batch, seq>>
  %4 = loom.concat %3, %1 axis 3 : (tensor<?x8x?x16xf32, #loom.dims<batch, seq>>, tensor<?x8x?x16xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  %5 = loom.mul %4, %s : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<1x1x?x32xf32, #loom.dims<seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  %6 = loom.add %0, %5 : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x8x?x32xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
  return %6 : tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
}

// -----

// Must not fire: tables given as inputs have halves nobody can show equal.
// CHECK-LABEL: func.func @opaque_tables
// CHECK-NOT: loom.rope
func.func @opaque_tables(%x: tensor<2x4x8xf32>, %c: tensor<4x8xf32>, %s: tensor<4x8xf32>) -> tensor<2x4x8xf32> {
  %0 = loom.mul %x, %c : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x8xf32>
  %1 = loom.slice %x axes [2] starts [0] ends [4] steps [1] : tensor<2x4x8xf32> -> tensor<2x4x4xf32>
  %2 = loom.slice %x axes [2] starts [4] ends [8] steps [1] : tensor<2x4x8xf32> -> tensor<2x4x4xf32>
  %3 = loom.neg %2 : tensor<2x4x4xf32>
  %4 = loom.concat %3, %1 axis 2 : (tensor<2x4x4xf32>, tensor<2x4x4xf32>) -> tensor<2x4x8xf32>
  %5 = loom.mul %4, %s : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x8xf32>
  %6 = loom.add %0, %5 : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %6 : tensor<2x4x8xf32>
}

// -----

// Must not fire: the halves are swapped the wrong way (concat(x1, -x2)).
// CHECK-LABEL: func.func @wrong_rotation
// CHECK-NOT: loom.rope
func.func @wrong_rotation(%x: tensor<2x4x8xf32>, %f: tensor<4x4xf32>) -> tensor<2x4x8xf32> {
  %ff = loom.concat %f, %f axis 1 : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x8xf32>
  %c = loom.cos %ff : tensor<4x8xf32>
  %s = loom.sin %ff : tensor<4x8xf32>
  %0 = loom.mul %x, %c : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x8xf32>
  %1 = loom.slice %x axes [2] starts [0] ends [4] steps [1] : tensor<2x4x8xf32> -> tensor<2x4x4xf32>
  %2 = loom.slice %x axes [2] starts [4] ends [8] steps [1] : tensor<2x4x8xf32> -> tensor<2x4x4xf32>
  %3 = loom.neg %2 : tensor<2x4x4xf32>
  %4 = loom.concat %1, %3 axis 2 : (tensor<2x4x4xf32>, tensor<2x4x4xf32>) -> tensor<2x4x8xf32>
  %5 = loom.mul %4, %s : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x8xf32>
  %6 = loom.add %0, %5 : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %6 : tensor<2x4x8xf32>
}

// -----

// GPT-J's rotate_every_two: stack(-x[..., 1::2], x[..., ::2]) flattened, with tables
// repeat_interleave(c, 2) written as a concatenation of the unsqueezed table.
// CHECK-LABEL: func.func @interleaved
// CHECK: %[[R:.+]] = loom.rope %arg0, %arg1, %arg2 interleaved : (tensor<2x4x8xf32>, tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<2x4x8xf32>
// CHECK-NEXT: return %[[R]]
func.func @interleaved(%x: tensor<2x4x8xf32>, %c: tensor<4x4xf32>, %s: tensor<4x4xf32>) -> tensor<2x4x8xf32> {
  %cu = loom.reshape %c : tensor<4x4xf32> -> tensor<4x4x1xf32>
  %cp = loom.concat %cu, %cu axis 2 : (tensor<4x4x1xf32>, tensor<4x4x1xf32>) -> tensor<4x4x2xf32>
  %cf = loom.reshape %cp : tensor<4x4x2xf32> -> tensor<4x8xf32>
  %su = loom.reshape %s : tensor<4x4xf32> -> tensor<4x4x1xf32>
  %sp = loom.concat %su, %su axis 2 : (tensor<4x4x1xf32>, tensor<4x4x1xf32>) -> tensor<4x4x2xf32>
  %sf = loom.reshape %sp : tensor<4x4x2xf32> -> tensor<4x8xf32>
  %0 = loom.mul %x, %cf : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x8xf32>
  %even = loom.slice %x axes [2] starts [0] ends [8] steps [2] : tensor<2x4x8xf32> -> tensor<2x4x4xf32>
  %odd = loom.slice %x axes [2] starts [1] ends [8] steps [2] : tensor<2x4x8xf32> -> tensor<2x4x4xf32>
  %nodd = loom.neg %odd : tensor<2x4x4xf32>
  %a = loom.reshape %nodd : tensor<2x4x4xf32> -> tensor<2x4x4x1xf32>
  %b = loom.reshape %even : tensor<2x4x4xf32> -> tensor<2x4x4x1xf32>
  %st = loom.concat %a, %b axis 3 : (tensor<2x4x4x1xf32>, tensor<2x4x4x1xf32>) -> tensor<2x4x4x2xf32>
  %rot = loom.reshape %st : tensor<2x4x4x2xf32> -> tensor<2x4x8xf32>
  %1 = loom.mul %rot, %sf : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x8xf32>
  %2 = loom.add %0, %1 : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %2 : tensor<2x4x8xf32>
}

// -----

// The same with the negation after the unsqueeze and the tables broadcast to pairs.
// CHECK-LABEL: func.func @interleaved_broadcast_tables
// CHECK: loom.rope %arg0, %arg1, %arg2 interleaved
func.func @interleaved_broadcast_tables(%x: tensor<2x4x8xf32>, %c: tensor<4x4xf32>, %s: tensor<4x4xf32>) -> tensor<2x4x8xf32> {
  %cu = loom.reshape %c : tensor<4x4xf32> -> tensor<4x4x1xf32>
  %cp = loom.broadcast %cu : tensor<4x4x1xf32> -> tensor<4x4x2xf32>
  %cf = loom.reshape %cp : tensor<4x4x2xf32> -> tensor<4x8xf32>
  %su = loom.reshape %s : tensor<4x4xf32> -> tensor<4x4x1xf32>
  %sp = loom.broadcast %su : tensor<4x4x1xf32> -> tensor<4x4x2xf32>
  %sf = loom.reshape %sp : tensor<4x4x2xf32> -> tensor<4x8xf32>
  %0 = loom.mul %cf, %x : (tensor<4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %even = loom.slice %x axes [2] starts [0] ends [8] steps [2] : tensor<2x4x8xf32> -> tensor<2x4x4xf32>
  %odd = loom.slice %x axes [2] starts [1] ends [8] steps [2] : tensor<2x4x8xf32> -> tensor<2x4x4xf32>
  %a = loom.reshape %odd : tensor<2x4x4xf32> -> tensor<2x4x4x1xf32>
  %na = loom.neg %a : tensor<2x4x4x1xf32>
  %b = loom.reshape %even : tensor<2x4x4xf32> -> tensor<2x4x4x1xf32>
  %st = loom.concat %na, %b axis 3 : (tensor<2x4x4x1xf32>, tensor<2x4x4x1xf32>) -> tensor<2x4x4x2xf32>
  %rot = loom.reshape %st : tensor<2x4x4x2xf32> -> tensor<2x4x8xf32>
  %1 = loom.mul %sf, %rot : (tensor<4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %2 = loom.add %1, %0 : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %2 : tensor<2x4x8xf32>
}

// -----

// Must not fire: the pairs are stacked the wrong way (stack(x[..., ::2], -x[..., 1::2])).
// CHECK-LABEL: func.func @interleaved_wrong_order
// CHECK-NOT: loom.rope
func.func @interleaved_wrong_order(%x: tensor<2x4x8xf32>, %c: tensor<4x4xf32>, %s: tensor<4x4xf32>) -> tensor<2x4x8xf32> {
  %cu = loom.reshape %c : tensor<4x4xf32> -> tensor<4x4x1xf32>
  %cp = loom.concat %cu, %cu axis 2 : (tensor<4x4x1xf32>, tensor<4x4x1xf32>) -> tensor<4x4x2xf32>
  %cf = loom.reshape %cp : tensor<4x4x2xf32> -> tensor<4x8xf32>
  %su = loom.reshape %s : tensor<4x4xf32> -> tensor<4x4x1xf32>
  %sp = loom.concat %su, %su axis 2 : (tensor<4x4x1xf32>, tensor<4x4x1xf32>) -> tensor<4x4x2xf32>
  %sf = loom.reshape %sp : tensor<4x4x2xf32> -> tensor<4x8xf32>
  %0 = loom.mul %x, %cf : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x8xf32>
  %even = loom.slice %x axes [2] starts [0] ends [8] steps [2] : tensor<2x4x8xf32> -> tensor<2x4x4xf32>
  %odd = loom.slice %x axes [2] starts [1] ends [8] steps [2] : tensor<2x4x8xf32> -> tensor<2x4x4xf32>
  %nodd = loom.neg %odd : tensor<2x4x4xf32>
  %a = loom.reshape %nodd : tensor<2x4x4xf32> -> tensor<2x4x4x1xf32>
  %b = loom.reshape %even : tensor<2x4x4xf32> -> tensor<2x4x4x1xf32>
  %st = loom.concat %b, %a axis 3 : (tensor<2x4x4x1xf32>, tensor<2x4x4x1xf32>) -> tensor<2x4x4x2xf32>
  %rot = loom.reshape %st : tensor<2x4x4x2xf32> -> tensor<2x4x8xf32>
  %1 = loom.mul %rot, %sf : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x8xf32>
  %2 = loom.add %0, %1 : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %2 : tensor<2x4x8xf32>
}
