// RUN: loom-opt %s -split-input-file -loom-raise-activations | FileCheck %s

// CHECK-LABEL: func.func @silu
// CHECK-NEXT: %[[S:.+]] = loom.silu %arg0 : tensor<?x704xf32, #loom.dims<tokens>>
// CHECK-NEXT: return %[[S]]
func.func @silu(%x: tensor<?x704xf32, #loom.dims<tokens>>) -> tensor<?x704xf32, #loom.dims<tokens>> {
  %s = loom.sigmoid %x : tensor<?x704xf32, #loom.dims<tokens>>
  %y = loom.mul %s, %x : (tensor<?x704xf32, #loom.dims<tokens>>, tensor<?x704xf32, #loom.dims<tokens>>) -> tensor<?x704xf32, #loom.dims<tokens>>
  return %y : tensor<?x704xf32, #loom.dims<tokens>>
}

// -----

// Must not fire: sigmoid of another value.
// CHECK-LABEL: func.func @not_silu
// CHECK-NOT: loom.silu
func.func @not_silu(%x: tensor<8xf32>, %z: tensor<8xf32>) -> tensor<8xf32> {
  %s = loom.sigmoid %z : tensor<8xf32>
  %y = loom.mul %x, %s : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return %y : tensor<8xf32>
}

// -----

// BERT's exporter: (x * 0.5) * (1 + erf(x / 1.4142135)).
// CHECK-LABEL: func.func @gelu_erf
// CHECK-NEXT: %[[G:.+]] = loom.gelu erf %arg0 : tensor<2x8xf32>
// CHECK-NEXT: return %[[G]]
func.func @gelu_erf(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %root2 = loom.constant dense<1.41421354> : tensor<f32>
  %one = loom.constant dense<1.0> : tensor<f32>
  %half = loom.constant dense<0.5> : tensor<f32>
  %0 = loom.div %x, %root2 : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %1 = loom.erf %0 : tensor<2x8xf32>
  %2 = loom.add %1, %one : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %3 = loom.mul %x, %half : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %4 = loom.mul %3, %2 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %4 : tensor<2x8xf32>
}

// -----

// GPT-2's exporter: 0.5 * x * (1 + tanh(0.7978846 * (x + 0.044715 * x^3))).
// CHECK-LABEL: func.func @gelu_tanh
// CHECK-NEXT: %[[G:.+]] = loom.gelu tanh %arg0 : tensor<2x8xf32>
// CHECK-NEXT: return %[[G]]
func.func @gelu_tanh(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %three = loom.constant dense<3.0> : tensor<f32>
  %c = loom.constant dense<0.044715> : tensor<f32>
  %k = loom.constant dense<0.797884583> : tensor<f32>
  %one = loom.constant dense<1.0> : tensor<f32>
  %half = loom.constant dense<0.5> : tensor<f32>
  %0 = loom.pow %x, %three : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %1 = loom.mul %c, %0 : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %2 = loom.add %x, %1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %3 = loom.mul %k, %2 : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %4 = loom.tanh %3 : tensor<2x8xf32>
  %5 = loom.add %one, %4 : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %6 = loom.mul %half, %x : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %7 = loom.mul %6, %5 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %7 : tensor<2x8xf32>
}

// -----

// Must not fire: the tanh argument uses 0.05 instead of 0.044715.
// CHECK-LABEL: func.func @not_gelu_tanh
// CHECK-NOT: loom.gelu
func.func @not_gelu_tanh(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %three = loom.constant dense<3.0> : tensor<f32>
  %c = loom.constant dense<0.05> : tensor<f32>
  %k = loom.constant dense<0.797884583> : tensor<f32>
  %one = loom.constant dense<1.0> : tensor<f32>
  %half = loom.constant dense<0.5> : tensor<f32>
  %0 = loom.pow %x, %three : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %1 = loom.mul %c, %0 : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %2 = loom.add %x, %1 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %3 = loom.mul %k, %2 : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %4 = loom.tanh %3 : tensor<2x8xf32>
  %5 = loom.add %one, %4 : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %6 = loom.mul %half, %x : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %7 = loom.mul %6, %5 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %7 : tensor<2x8xf32>
}
