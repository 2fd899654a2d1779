// A gated pair (gate and up stacked by loom-merge-linears, meeting in silu(g) * u) in
// 128x128 tiles: on sm_90a the warpgroup path's tile takes the same 64 columns of both
// halves, so a thread's accumulators j and j + 8 are a pair and it stores the product
// itself; the `_gate` phase, which pairs the scratch the mma.sync path leaves, returns
// at once when the warpgroup path ran; the same with a bias, and with an RMS norm
// prologue (loom-norm-into-linear). All compile with NVRTC.
// RUN: loom-opt %s -loom-fuse -loom-norm-into-linear -loom-choose-tiles | loom-translate --loom-to-cuda > %t.cu
// RUN: FileCheck %s < %t.cu
// RUN: loom cuda-compile %t.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC

// NVRTC: sm_80: 9 kernels
// NVRTC: sm_90a: 9 kernels

// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: #if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// CHECK: const long long column = n0 / 2 + r % 64;
// CHECK-NEXT: bIn[x] = column < 512LL;
// CHECK-NEXT: bAt[x] = in1 + (bIn[x] ? (r < 64 ? column : 512LL + column) * K : 0) + c * 8;
// CHECK: for (int j = 0; j < 8; ++j) {
// CHECK: const long long n = n0 / 2 + j * 8 + pair * 2 + (q & 1);
// CHECK-NEXT: if (m < M && n < 512LL) {
// With a bias, each half's: columns n and n + 512 of it.
// CHECK: = __bfloat162float(in2[n]);
// CHECK-NEXT: = __bfloat162float(in2[(n + 512LL)]);
// CHECK-NEXT: const float low = d[j * 4 + q] + {{v[0-9]+}}, high = d[(j + 8) * 4 + q] + {{v[0-9]+}};
// CHECK-NEXT: const float [[S:v[0-9]+]] = low / (1.000000000e+00f + expf(-low));
// CHECK-NEXT: const float [[P:v[0-9]+]] = [[S]] * high;
// CHECK-NEXT: out0[(r0) * 512LL + n] = __float2bfloat16_rn([[P]]);
// CHECK: #endif
// The mma.sync path stores the whole result to scratch.
// CHECK: ws0[{{.+}} * 1024LL + n] = __float2bfloat16_rn(y);
// CHECK-LABEL: //@loom-kernel loom_matmul_{{.*}}_gate
// CHECK: loom_wait_prior();
// CHECK-NEXT: #if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// CHECK-NEXT: if ((64LL) % 8 == 0 && ((reinterpret_cast<unsigned long long>(in0) | reinterpret_cast<unsigned long long>(in1)) & 15) == 0) return;
// CHECK-NEXT: #endif
// CHECK: = __bfloat162float(ws0[(r0) * 1024LL + i1]);
// CHECK-NEXT: = __bfloat162float(ws0[(r0) * 1024LL + i1 + 512LL]);
// With an RMS norm prologue the tiled kernel reads the normalized rows from scratch
// (ws1), and so does the `_gate` phase's test.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: const float low = d[j * 4 + q], high = d[(j + 8) * 4 + q];
// CHECK-LABEL: //@loom-kernel loom_matmul_{{.*}}_gate
// CHECK: if ((128LL) % 8 == 0 && ((reinterpret_cast<unsigned long long>(ws1) | reinterpret_cast<unsigned long long>(in2)) & 15) == 0) return;

func.func @pair(%x: tensor<?x64xbf16, #loom.dims<tokens>>, %w: tensor<1024x64xbf16>, %b: tensor<1024xbf16>,
                %y: tensor<?x128xbf16, #loom.dims<tokens>>, %s: tensor<128xbf16>, %v: tensor<1024x128xbf16>)
    -> (tensor<?x512xbf16, #loom.dims<tokens>>, tensor<?x512xbf16, #loom.dims<tokens>>) {
  %0 = loom.linear %x, %w bias %b transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<1024x64xbf16>, tensor<1024xbf16>) -> tensor<?x1024xbf16, #loom.dims<tokens>>
  %1 = loom.slice %0 axes [1] starts [0] ends [512] steps [1] : tensor<?x1024xbf16, #loom.dims<tokens>> -> tensor<?x512xbf16, #loom.dims<tokens>>
  %2 = loom.slice %0 axes [1] starts [512] ends [1024] steps [1] : tensor<?x1024xbf16, #loom.dims<tokens>> -> tensor<?x512xbf16, #loom.dims<tokens>>
  %3 = loom.silu %1 : tensor<?x512xbf16, #loom.dims<tokens>>
  %4 = loom.mul %3, %2 : (tensor<?x512xbf16, #loom.dims<tokens>>, tensor<?x512xbf16, #loom.dims<tokens>>) -> tensor<?x512xbf16, #loom.dims<tokens>>
  %n = loom.rms_norm %y, %s axis 1 epsilon 1.000000e-06 : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<128xbf16>) -> tensor<?x128xbf16, #loom.dims<tokens>>
  %5 = loom.linear %n, %v transpose_weight : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<1024x128xbf16>) -> tensor<?x1024xbf16, #loom.dims<tokens>>
  %6 = loom.slice %5 axes [1] starts [0] ends [512] steps [1] : tensor<?x1024xbf16, #loom.dims<tokens>> -> tensor<?x512xbf16, #loom.dims<tokens>>
  %7 = loom.slice %5 axes [1] starts [512] ends [1024] steps [1] : tensor<?x1024xbf16, #loom.dims<tokens>> -> tensor<?x512xbf16, #loom.dims<tokens>>
  %8 = loom.silu %6 : tensor<?x512xbf16, #loom.dims<tokens>>
  %9 = loom.mul %8, %7 : (tensor<?x512xbf16, #loom.dims<tokens>>, tensor<?x512xbf16, #loom.dims<tokens>>) -> tensor<?x512xbf16, #loom.dims<tokens>>
  return %4, %9 : tensor<?x512xbf16, #loom.dims<tokens>>, tensor<?x512xbf16, #loom.dims<tokens>>
}
