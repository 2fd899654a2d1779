// The CUDA emitter on pointwise and normalization kernels: the generated source is
// checked here and compiled with NVRTC for sm_80 and sm_90a (NVRTC needs no GPU).
// RUN: loom-opt %s -loom-fuse -loom-choose-tiles | loom-translate --loom-to-cuda > %t.cu
// RUN: FileCheck %s < %t.cu
// RUN: loom cuda-compile %t.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC

// NVRTC: sm_80: 3 kernels
// NVRTC: sm_90a: 3 kernels

// CHECK: #include <cuda_bf16.h>

// Embedding gather, bf16 residual stream in and out, RMSNorm with the scale:
// one block per row (of 32 threads for 64 columns), the sum of squares by a block
// reduction.
// CHECK-LABEL: extern "C" __global__ void __launch_bounds__(32) loom_normalization_
// CHECK-SAME: (const __nv_bfloat16 *__restrict__ in0, const long long *__restrict__ in1, const __nv_bfloat16 *__restrict__ in2, __nv_bfloat16 *__restrict__ out0, long long s_batch, long long s_seq)
// CHECK: const long long rows = 1LL * (s_batch) * (s_seq), cols = 1LL * 64LL;
// CHECK: __bfloat162float(in0[(g{{[0-9]+}}) * 64LL + r{{[0-9]+}}])
// CHECK: loom_block_sum(squares)
// CHECK: out0[{{.+}}] = __float2bfloat16_rn(y

// Rope on [batch, heads, seq, 16] read through the head split (reshape + transpose of
// the [batch, seq, 64] projection), half-rotation: pairs (j, j + 4) of the first 8.
// Eight bf16 per thread, stored as one 16-byte word.
// CHECK-LABEL: //@loom-kernel loom_pointwise_
// CHECK: const bool aligned = (reinterpret_cast<unsigned long long>(out0) % 16) == 0;
// CHECK: for (long long t = (blockIdx.x * (long long)blockDim.x + threadIdx.x) * 8;
// CHECK: __align__(16) __nv_bfloat16 lanes[8];
// CHECK: if (({{[ri][0-9]+}} + l) < 4LL) {
// CHECK: else if (({{[ri][0-9]+}} + l) < 8LL) {
// CHECK: else {

// CHECK: *reinterpret_cast<uint4 *>(out0 + t) = *reinterpret_cast<const uint4 *>(lanes);

// Concatenation along the last axis, then a cast: a branch per part.
// CHECK-LABEL: //@loom-kernel loom_pointwise_
// CHECK: if (({{[ri][0-9]+}} + l) < (0LL + 8LL)) {
// CHECK: else {
// CHECK: __float2bfloat16_rn

func.func @kernels(%ids: tensor<?x?xi64, #loom.dims<batch, seq>>, %q: tensor<?x?x64xbf16, #loom.dims<batch, seq>>,
                   %cos: tensor<?x4xbf16, #loom.dims<seq>>, %sin: tensor<?x4xbf16, #loom.dims<seq>>,
                   %a: tensor<?x8xf32, #loom.dims<seq>>, %b: tensor<?x8xf32, #loom.dims<seq>>)
    -> (tensor<?x?x64xbf16, #loom.dims<batch, seq>>, tensor<?x4x?x16xbf16, #loom.dims<batch, seq>>, tensor<?x16xbf16, #loom.dims<seq>>) {
  %table = loom.weight "embed" : tensor<1000x64xbf16>
  %w = loom.weight "norm" : tensor<64xbf16>
  %e = loom.gather %table, %ids axis 0 : (tensor<1000x64xbf16>, tensor<?x?xi64, #loom.dims<batch, seq>>) -> tensor<?x?x64xbf16, #loom.dims<batch, seq>>
  %n = loom.rms_norm %e, %w axis 2 epsilon 1.0e-06 : (tensor<?x?x64xbf16, #loom.dims<batch, seq>>, tensor<64xbf16>) -> tensor<?x?x64xbf16, #loom.dims<batch, seq>>
  %q4 = loom.reshape %q : tensor<?x?x64xbf16, #loom.dims<batch, seq>> -> tensor<?x?x4x16xbf16, #loom.dims<batch, seq>>
  %qt = loom.transpose %q4 [0, 2, 1, 3] : tensor<?x?x4x16xbf16, #loom.dims<batch, seq>> -> tensor<?x4x?x16xbf16, #loom.dims<batch, seq>>
  %r = loom.rope %qt, %cos, %sin : (tensor<?x4x?x16xbf16, #loom.dims<batch, seq>>, tensor<?x4xbf16, #loom.dims<seq>>, tensor<?x4xbf16, #loom.dims<seq>>) -> tensor<?x4x?x16xbf16, #loom.dims<batch, seq>>
  %c = loom.concat %a, %b axis 1 : (tensor<?x8xf32, #loom.dims<seq>>, tensor<?x8xf32, #loom.dims<seq>>) -> tensor<?x16xf32, #loom.dims<seq>>
  %h = loom.cast %c : tensor<?x16xf32, #loom.dims<seq>> to tensor<?x16xbf16, #loom.dims<seq>>
  return %n, %r, %h : tensor<?x?x64xbf16, #loom.dims<batch, seq>>, tensor<?x4x?x16xbf16, #loom.dims<batch, seq>>, tensor<?x16xbf16, #loom.dims<seq>>
}
