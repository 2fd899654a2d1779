// Linear layers: 16-bit ones on tensor cores (mma.sync, f32 accumulation), f32 ones as
// SIMT tiles (tf32 would miss the 1e-4 target). Both compile with NVRTC.
// RUN: loom-opt %s -loom-fuse | loom-translate --loom-to-cuda > %t.cu
// RUN: FileCheck %s < %t.cu
// RUN: loom cuda-compile %t.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC

// NVRTC: sm_80: 3 kernels
// NVRTC: sm_90a: 3 kernels

// bf16 with the weight as [N, K] and a gelu epilogue.
// CHECK-LABEL: __launch_bounds__(128) loom_matmul_
// CHECK: Bs[r][c] = (n < N && k < K) ? in1[n * K + k] : zero;
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK: tanh

// f16 with the weight as [K, N] and a bias.
// CHECK-LABEL: __launch_bounds__(128) loom_matmul_
// CHECK: Bs[r][c] = (n < N && k < K) ? in1[k * N + n] : zero;
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK: __half2float(in2[n])

// f32: SIMT.
// CHECK-LABEL: __launch_bounds__(256) loom_matmul_
// CHECK-NOT: mma.sync
// CHECK: sum[i][j] += av * Bs[kk][tx + 16 * j];

func.func @forward(%x: tensor<?x64xbf16, #loom.dims<tokens>>, %w: tensor<96x64xbf16>,
                   %h: tensor<?x64xf16, #loom.dims<tokens>>, %v: tensor<64x48xf16>, %b: tensor<48xf16>,
                   %f: tensor<?x64xf32, #loom.dims<tokens>>, %u: tensor<32x64xf32>)
    -> (tensor<?x96xbf16, #loom.dims<tokens>>, tensor<?x48xf16, #loom.dims<tokens>>, tensor<?x32xf32, #loom.dims<tokens>>) {
  %0 = loom.linear %x, %w transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<96x64xbf16>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  %1 = loom.gelu tanh %0 : tensor<?x96xbf16, #loom.dims<tokens>>
  %2 = loom.linear %h, %v bias %b : (tensor<?x64xf16, #loom.dims<tokens>>, tensor<64x48xf16>, tensor<48xf16>) -> tensor<?x48xf16, #loom.dims<tokens>>
  %3 = loom.linear %f, %u transpose_weight : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<32x64xf32>) -> tensor<?x32xf32, #loom.dims<tokens>>
  return %1, %2, %3 : tensor<?x96xbf16, #loom.dims<tokens>>, tensor<?x48xf16, #loom.dims<tokens>>, tensor<?x32xf32, #loom.dims<tokens>>
}
