// The interleaved rope raising keeps the numbers: the reference executor runs before
// and after the pass on random inputs (loom optimize fails beyond 1e-4 relative).
// RUN: loom optimize %s --pipeline loom-raise-rope --verify-each-pass -o %t.mlir 2>&1 | FileCheck %s
// RUN: FileCheck %s --check-prefix=IR < %t.mlir
// CHECK: loom-raise-rope {{.*}}ops: 1 rope;{{.*}}max relative error
// IR: loom.rope %arg0, %arg1, %arg2 interleaved

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
