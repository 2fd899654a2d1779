// Reduction kernels: reduce (sum/mean/max over inner and outer axes), softmax over a
// middle axis, cumsum (inclusive, exclusive reversed). Checked text, NVRTC for sm_80
// and sm_90a; the GPU suite runs them against the reference (harness "reductions").
// RUN: loom-opt %s -loom-fuse -loom-choose-tiles | loom-translate --loom-to-cuda > %t.cu
// RUN: FileCheck %s < %t.cu
// RUN: loom cuda-compile %t.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC

// NVRTC: sm_80: 5 kernels
// NVRTC: sm_90a: 5 kernels

// CHECK-LABEL: //@loom-kernel loom_reduction_
// CHECK: loom_block_reduce(acc, LoomSum(), (float)0)
// CHECK: total / (float)inner
// CHECK-LABEL: //@loom-kernel loom_reduction_
// CHECK: loom_block_reduce(acc, LoomMax(), -__int_as_float(0x7f800000))
// CHECK-LABEL: //@loom-kernel loom_reduction_
// CHECK: loom_block_reduce(high, LoomMax()
// CHECK: loom_block_reduce(sum, LoomSum()
// CHECK-LABEL: //@loom-kernel loom_reduction_
// CHECK: const long long j = n - 1 - step;

func.func @forward(%x: tensor<?x6x32xf32, #loom.dims<rows>>, %i: tensor<?x9xi64, #loom.dims<rows>>)
    -> (tensor<?x6x1xf32, #loom.dims<rows>>, tensor<6xf32>, tensor<?x6x32xf32, #loom.dims<rows>>,
        tensor<?x9xi64, #loom.dims<rows>>, tensor<?x9xi64, #loom.dims<rows>>) {
  %m = loom.reduce mean %x axes [2] keep_dims : tensor<?x6x32xf32, #loom.dims<rows>> -> tensor<?x6x1xf32, #loom.dims<rows>>
  %e = loom.exp %m : tensor<?x6x1xf32, #loom.dims<rows>>
  %mx = loom.reduce max %x axes [0, 2] : tensor<?x6x32xf32, #loom.dims<rows>> -> tensor<6xf32>
  %s = loom.softmax %x axis 1 : tensor<?x6x32xf32, #loom.dims<rows>>
  %c = loom.cumsum %i axis 1 : tensor<?x9xi64, #loom.dims<rows>>
  %r = loom.cumsum %i axis 1 exclusive reverse : tensor<?x9xi64, #loom.dims<rows>>
  return %e, %mx, %s, %c, %r : tensor<?x6x1xf32, #loom.dims<rows>>, tensor<6xf32>, tensor<?x6x32xf32, #loom.dims<rows>>, tensor<?x9xi64, #loom.dims<rows>>, tensor<?x9xi64, #loom.dims<rows>>
}
