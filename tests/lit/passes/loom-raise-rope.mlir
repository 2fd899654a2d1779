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
