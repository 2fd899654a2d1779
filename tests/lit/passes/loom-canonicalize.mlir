// RUN: loom-opt %s -split-input-file -loom-canonicalize | FileCheck %s
// The upstream canonicalizer sees the same folders and patterns.
// RUN: loom-opt %s -split-input-file -canonicalize | FileCheck %s

// Transposes compose; a transpose and its inverse vanish.
// CHECK-LABEL: func.func @compose_transposes
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x4xf32>)
// CHECK-NEXT: %[[T:.+]] = loom.transpose %[[X]] [2, 0, 1] : tensor<2x3x4xf32> -> tensor<4x2x3xf32>
// CHECK-NEXT: return %[[X]], %[[T]]
func.func @compose_transposes(%x: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<4x2x3xf32>) {
  %0 = loom.transpose %x [1, 0, 2] : tensor<2x3x4xf32> -> tensor<3x2x4xf32>
  %1 = loom.transpose %0 [1, 0, 2] : tensor<3x2x4xf32> -> tensor<2x3x4xf32>
  %2 = loom.transpose %0 [2, 1, 0] : tensor<3x2x4xf32> -> tensor<4x2x3xf32>
  return %1, %2 : tensor<2x3x4xf32>, tensor<4x2x3xf32>
}

// -----

// A transpose that only moves size-1 dimensions is a reshape.
// CHECK-LABEL: func.func @unit_transpose_is_reshape
// CHECK-SAME: (%[[X:.+]]: tensor<?x1x8xf32, #loom.dims<seq>>)
// CHECK-NEXT: %[[R:.+]] = loom.reshape %[[X]] : tensor<?x1x8xf32, #loom.dims<seq>> -> tensor<1x?x8xf32, #loom.dims<seq>>
// CHECK-NEXT: return %[[R]]
func.func @unit_transpose_is_reshape(%x: tensor<?x1x8xf32, #loom.dims<seq>>) -> tensor<1x?x8xf32, #loom.dims<seq>> {
  %0 = loom.transpose %x [1, 0, 2] : tensor<?x1x8xf32, #loom.dims<seq>> -> tensor<1x?x8xf32, #loom.dims<seq>>
  return %0 : tensor<1x?x8xf32, #loom.dims<seq>>
}

// -----

// Reshape chains keep only the outer shape; identity reshapes, casts, broadcasts,
// slices and single-input concats disappear.
// CHECK-LABEL: func.func @identity_layout
// CHECK-SAME: (%[[X:.+]]: tensor<?x256xf32, #loom.dims<seq>>)
// CHECK-NEXT: %[[R:.+]] = loom.reshape %[[X]] : tensor<?x256xf32, #loom.dims<seq>> -> tensor<?x8x32xf32, #loom.dims<seq>>
// CHECK-NEXT: return %[[R]], %[[X]]
func.func @identity_layout(%x: tensor<?x256xf32, #loom.dims<seq>>) -> (tensor<?x8x32xf32, #loom.dims<seq>>, tensor<?x256xf32, #loom.dims<seq>>) {
  %0 = loom.reshape %x : tensor<?x256xf32, #loom.dims<seq>> -> tensor<?x16x16xf32, #loom.dims<seq>>
  %1 = loom.reshape %0 : tensor<?x16x16xf32, #loom.dims<seq>> -> tensor<?x8x32xf32, #loom.dims<seq>>
  %2 = loom.reshape %x : tensor<?x256xf32, #loom.dims<seq>> -> tensor<?x256xf32, #loom.dims<seq>>
  %3 = loom.cast %2 : tensor<?x256xf32, #loom.dims<seq>> to tensor<?x256xf32, #loom.dims<seq>>
  %4 = loom.broadcast %3 : tensor<?x256xf32, #loom.dims<seq>> -> tensor<?x256xf32, #loom.dims<seq>>
  %5 = loom.slice %4 axes [0, 1] starts [0, 0] ends [9223372036854775807, 256] steps [1, 1] : tensor<?x256xf32, #loom.dims<seq>> -> tensor<?x256xf32, #loom.dims<seq>>
  %6 = loom.concat %5 axis 0 : (tensor<?x256xf32, #loom.dims<seq>>) -> tensor<?x256xf32, #loom.dims<seq>>
  %7 = loom.transpose %6 [0, 1] : tensor<?x256xf32, #loom.dims<seq>> -> tensor<?x256xf32, #loom.dims<seq>>
  return %1, %7 : tensor<?x8x32xf32, #loom.dims<seq>>, tensor<?x256xf32, #loom.dims<seq>>
}

// -----

// Broadcast chains become one broadcast.
// CHECK-LABEL: func.func @broadcast_chain
// CHECK-SAME: (%[[X:.+]]: tensor<1x8xf32>)
// CHECK-NEXT: %[[B:.+]] = loom.broadcast %[[X]] : tensor<1x8xf32> -> tensor<2x4x8xf32>
// CHECK-NEXT: return %[[B]]
func.func @broadcast_chain(%x: tensor<1x8xf32>) -> tensor<2x4x8xf32> {
  %0 = loom.broadcast %x : tensor<1x8xf32> -> tensor<1x4x8xf32>
  %1 = loom.broadcast %0 : tensor<1x4x8xf32> -> tensor<2x4x8xf32>
  return %1 : tensor<2x4x8xf32>
}

// -----

// Exact arithmetic identities: x * 1, x / 1, x - 0.0, x + -0.0, integer x + 0,
// and double negation.
// CHECK-LABEL: func.func @identities
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>, %[[I:.+]]: tensor<4xi32>, %[[B:.+]]: tensor<4xi1>)
// CHECK-NOT: loom.
// CHECK: return %[[X]], %[[X]], %[[X]], %[[X]], %[[I]], %[[X]], %[[B]]
func.func @identities(%x: tensor<4xf32>, %i: tensor<4xi32>, %b: tensor<4xi1>)
    -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xi32>, tensor<4xf32>, tensor<4xi1>) {
  %one = loom.constant dense<1.0> : tensor<f32>
  %zero = loom.constant dense<0.0> : tensor<4xf32>
  %negzero = loom.constant dense<-0.0> : tensor<f32>
  %izero = loom.constant dense<0> : tensor<i32>
  %0 = loom.mul %x, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %1 = loom.div %x, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %2 = loom.sub %x, %zero : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %3 = loom.add %x, %negzero : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %4 = loom.add %i, %izero : (tensor<4xi32>, tensor<i32>) -> tensor<4xi32>
  %n = loom.neg %x : tensor<4xf32>
  %5 = loom.neg %n : tensor<4xf32>
  %nb = loom.not %b : tensor<4xi1>
  %6 = loom.not %nb : tensor<4xi1>
  return %0, %1, %2, %3, %4, %5, %6 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xi32>, tensor<4xf32>, tensor<4xi1>
}

// -----

// Layout ops of constants fold into constants.
// CHECK-LABEL: func.func @constant_layout
// CHECK-DAG: %[[R:.+]] = loom.constant dense<{{\[}}[1, 2], [3, 4]]> : tensor<2x2xi64>
// CHECK-DAG: %[[B:.+]] = loom.constant dense<5.000000e-01> : tensor<3x4xf32>
// CHECK: return %[[R]], %[[B]]
func.func @constant_layout() -> (tensor<2x2xi64>, tensor<3x4xf32>) {
  %c = loom.constant dense<[1, 2, 3, 4]> : tensor<4xi64>
  %r = loom.reshape %c : tensor<4xi64> -> tensor<2x2xi64>
  %h = loom.constant dense<0.5> : tensor<1x4xf32>
  %b = loom.broadcast %h : tensor<1x4xf32> -> tensor<3x4xf32>
  return %r, %b : tensor<2x2xi64>, tensor<3x4xf32>
}

// -----

// Must not fire: x + 0.0 is not x when x is -0.0; x * 1 where the constant
// broadcasts the result; a transpose that moves real data; a cast that changes type;
// a slice that drops elements; a broadcast of a non-splat constant.
// CHECK-LABEL: func.func @not_identities
// CHECK: loom.add
// CHECK: loom.mul
// CHECK: loom.transpose
// CHECK: loom.cast
// CHECK: loom.slice
// CHECK: loom.broadcast
func.func @not_identities(%x: tensor<4xf32>, %y: tensor<2x3xf32>, %s: tensor<?xf32, #loom.dims<seq>>)
    -> (tensor<4xf32>, tensor<2x4xf32>, tensor<3x2xf32>, tensor<4xbf16>, tensor<?xf32>, tensor<2x2xi64>) {
  %zero = loom.constant dense<0.0> : tensor<f32>
  %ones = loom.constant dense<1.0> : tensor<2x4xf32>
  %0 = loom.add %x, %zero : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %1 = loom.mul %x, %ones : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %2 = loom.transpose %y [1, 0] : tensor<2x3xf32> -> tensor<3x2xf32>
  %3 = loom.cast %x : tensor<4xf32> to tensor<4xbf16>
  %4 = loom.slice %s axes [0] starts [1] ends [9223372036854775807] steps [1] : tensor<?xf32, #loom.dims<seq>> -> tensor<?xf32>
  %c = loom.constant dense<[1, 2]> : tensor<2xi64>
  %5 = loom.broadcast %c : tensor<2xi64> -> tensor<2x2xi64>
  return %0, %1, %2, %3, %4, %5 : tensor<4xf32>, tensor<2x4xf32>, tensor<3x2xf32>, tensor<4xbf16>, tensor<?xf32>, tensor<2x2xi64>
}

// -----

// Unused loom ops are erased; used ones stay.
// CHECK-LABEL: func.func @dead_code
// CHECK-NOT: loom.exp
// CHECK: %[[W:.+]] = loom.weight "w"
// CHECK-NEXT: return %[[W]]
func.func @dead_code(%x: tensor<4xf32>) -> tensor<4xf32> {
  %unused = loom.exp %x : tensor<4xf32>
  %w = loom.weight "w" : tensor<4xf32>
  return %w : tensor<4xf32>
}
