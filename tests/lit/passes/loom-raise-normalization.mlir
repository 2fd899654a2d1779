// RUN: loom-opt %s -split-input-file -loom-raise-normalization | FileCheck %s

// The exporter's RMSNorm: pow, mean over the last axis, + eps, sqrt, reciprocal, times
// x, times the weight.
// CHECK-LABEL: func.func @rms_norm
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x256xf32, #loom.dims<batch, seq>>, %[[W:.+]]: tensor<256xf32>)
// CHECK: %[[N:.+]] = loom.rms_norm %[[X]], %[[W]] axis 2 epsilon 9.99999974E-6
// CHECK-NEXT: return %[[N]]
func.func @rms_norm(%x: tensor<?x?x256xf32, #loom.dims<batch, seq>>, %w: tensor<256xf32>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>> {
  %two = loom.constant dense<2.0> : tensor<f32>
  %eps = loom.constant dense<1.0e-05> : tensor<f32>
  %0 = loom.pow %x, %two : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<f32>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
  %1 = loom.reduce mean %0 axes [2] keep_dims : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?x?x1xf32, #loom.dims<batch, seq>>
  %2 = loom.add %1, %eps : (tensor<?x?x1xf32, #loom.dims<batch, seq>>, tensor<f32>) -> tensor<?x?x1xf32, #loom.dims<batch, seq>>
  %3 = loom.sqrt %2 : tensor<?x?x1xf32, #loom.dims<batch, seq>>
  %4 = loom.reciprocal %3 : tensor<?x?x1xf32, #loom.dims<batch, seq>>
  %5 = loom.mul %x, %4 : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<?x?x1xf32, #loom.dims<batch, seq>>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
  %6 = loom.mul %w, %5 : (tensor<256xf32>, tensor<?x?x256xf32, #loom.dims<batch, seq>>) -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
  return %6 : tensor<?x?x256xf32, #loom.dims<batch, seq>>
}

// -----

// x / sqrt(mean(x * x) + eps) with no weight: the scale is a splat of ones.
// CHECK-LABEL: func.func @rms_norm_div_no_weight
// CHECK: %[[ONES:.+]] = loom.constant dense<1.000000e+00> : tensor<8xf32>
// CHECK: loom.rms_norm %arg0, %[[ONES]] axis 1 epsilon 9.99999997E-7
func.func @rms_norm_div_no_weight(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %eps = loom.constant dense<1.0e-06> : tensor<f32>
  %0 = loom.mul %x, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = loom.reduce mean %0 axes [1] keep_dims : tensor<4x8xf32> -> tensor<4x1xf32>
  %2 = loom.add %eps, %1 : (tensor<f32>, tensor<4x1xf32>) -> tensor<4x1xf32>
  %3 = loom.sqrt %2 : tensor<4x1xf32>
  %4 = loom.div %x, %3 : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return %4 : tensor<4x8xf32>
}

// -----

// Must not fire: the mean runs over the wrong axis (0, not the trailing one).
// CHECK-LABEL: func.func @rms_wrong_axis
// CHECK-NOT: loom.rms_norm
func.func @rms_wrong_axis(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %eps = loom.constant dense<1.0e-06> : tensor<f32>
  %0 = loom.mul %x, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = loom.reduce mean %0 axes [0] keep_dims : tensor<4x8xf32> -> tensor<1x8xf32>
  %2 = loom.add %1, %eps : (tensor<1x8xf32>, tensor<f32>) -> tensor<1x8xf32>
  %3 = loom.rsqrt %2 : tensor<1x8xf32>
  %4 = loom.mul %x, %3 : (tensor<4x8xf32>, tensor<1x8xf32>) -> tensor<4x8xf32>
  return %4 : tensor<4x8xf32>
}

// -----

// Must not fire: the squared value is not the normalized one.
// CHECK-LABEL: func.func @rms_other_value
// CHECK-NOT: loom.rms_norm
func.func @rms_other_value(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %eps = loom.constant dense<1.0e-06> : tensor<f32>
  %0 = loom.mul %y, %y : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = loom.reduce mean %0 axes [1] keep_dims : tensor<4x8xf32> -> tensor<4x1xf32>
  %2 = loom.add %1, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %3 = loom.rsqrt %2 : tensor<4x1xf32>
  %4 = loom.mul %x, %3 : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return %4 : tensor<4x8xf32>
}

// -----

// LayerNorm: centered, variance of the centered value, scale and bias.
// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME: (%[[X:.+]]: tensor<?x64xf32, #loom.dims<tokens>>, %[[G:.+]]: tensor<64xf32>, %[[B:.+]]: tensor<64xf32>)
// CHECK: %[[N:.+]] = loom.layer_norm %[[X]], %[[G]], %[[B]] axis 1 epsilon 9.99999974E-6
// CHECK-NEXT: return %[[N]]
func.func @layer_norm(%x: tensor<?x64xf32, #loom.dims<tokens>>, %g: tensor<64xf32>, %b: tensor<64xf32>) -> tensor<?x64xf32, #loom.dims<tokens>> {
  %two = loom.constant dense<2.0> : tensor<f32>
  %eps = loom.constant dense<1.0e-05> : tensor<f32>
  %m = loom.reduce mean %x axes [1] keep_dims : tensor<?x64xf32, #loom.dims<tokens>> -> tensor<?x1xf32, #loom.dims<tokens>>
  %d = loom.sub %x, %m : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<?x1xf32, #loom.dims<tokens>>) -> tensor<?x64xf32, #loom.dims<tokens>>
  %sq = loom.pow %d, %two : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<f32>) -> tensor<?x64xf32, #loom.dims<tokens>>
  %v = loom.reduce mean %sq axes [1] keep_dims : tensor<?x64xf32, #loom.dims<tokens>> -> tensor<?x1xf32, #loom.dims<tokens>>
  %ve = loom.add %v, %eps : (tensor<?x1xf32, #loom.dims<tokens>>, tensor<f32>) -> tensor<?x1xf32, #loom.dims<tokens>>
  %s = loom.sqrt %ve : tensor<?x1xf32, #loom.dims<tokens>>
  %n = loom.div %d, %s : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<?x1xf32, #loom.dims<tokens>>) -> tensor<?x64xf32, #loom.dims<tokens>>
  %y = loom.mul %n, %g : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<64xf32>) -> tensor<?x64xf32, #loom.dims<tokens>>
  %z = loom.add %y, %b : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<64xf32>) -> tensor<?x64xf32, #loom.dims<tokens>>
  return %z : tensor<?x64xf32, #loom.dims<tokens>>
}

// -----

// Not a layer norm: the centering mean is over another axis than the variance. What is
// left is exactly an RMSNorm of the centered value.
// CHECK-LABEL: func.func @layer_norm_mismatched_means
// CHECK-NOT: loom.layer_norm
// CHECK: %[[D:.+]] = loom.sub
// CHECK-NOT: loom.layer_norm
// CHECK: loom.rms_norm %[[D]], %{{.*}} axis 1
func.func @layer_norm_mismatched_means(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %eps = loom.constant dense<1.0e-05> : tensor<f32>
  %m = loom.reduce mean %x axes [0] keep_dims : tensor<4x8xf32> -> tensor<1x8xf32>
  %d = loom.sub %x, %m : (tensor<4x8xf32>, tensor<1x8xf32>) -> tensor<4x8xf32>
  %sq = loom.mul %d, %d : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %v = loom.reduce mean %sq axes [1] keep_dims : tensor<4x8xf32> -> tensor<4x1xf32>
  %ve = loom.add %v, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %r = loom.rsqrt %ve : tensor<4x1xf32>
  %n = loom.mul %d, %r : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return %n : tensor<4x8xf32>
}
