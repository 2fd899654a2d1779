// Linear layers with an RMS norm prologue (loom-norm-into-linear): the tiled kernel
// reads rows a phase launched before it normalized into bf16 scratch; the decode
// variant scales the weights by the norm's scale as it loads them, reads the norm's
// input and adds up its squares, dividing each row's sum by the rms at the end. Checked text; NVRTC for sm_80 and
// sm_90a; the GPU suite runs both at a decode and a prefill size (harnesses
// norm-linear-rows, norm-linear).
// RUN: loom-opt %s -loom-fuse -loom-norm-into-linear -loom-choose-tiles | loom-translate --loom-to-cuda > %t.cu
// RUN: FileCheck %s < %t.cu
// RUN: loom cuda-compile %t.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC

// NVRTC: sm_80: 8 kernels
// NVRTC: sm_90a: 8 kernels

// The up layer (the first kernel: the gate's epilogue reads it): tiled on ws0.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: __nv_bfloat16 *__restrict__ ws0
// CHECK: reinterpret_cast<unsigned long long>(ws0)
// The norm phase: a block per row into ws0, rounded to bf16.
// CHECK-LABEL: //@loom-kernel loom_matmul_{{.*}}_norm
// CHECK: const float inverse = (float)1 / sqrt(loom_block_sum(squares) / (float)cols + (float)9.999999975e-07);
// CHECK: ws0[row * cols + c] = __float2bfloat16_rn(
// The decode variant (4 warps per weight row at K = 4096): no pass of its own over
// the input rows.
// CHECK-LABEL: //@loom-kernel loom_matmul_{{.*}}_rows8
// CHECK-NOT: __syncthreads
// The scale goes into the weights as they are loaded; the products read the norm's
// input and add up its squares.
// CHECK: const uint4 sv = k < K ? __ldg(reinterpret_cast<const uint4 *>(in1 + k)) : make_uint4(0, 0, 0, 0);
// CHECK: for (int j = 0; j < 4; ++j) wp[j] = __hmul2(wp[j], sp[j]);
// CHECK: const uint4 xv = *reinterpret_cast<const uint4 *>(in0 + m * K + k);
// CHECK: acc[m] += xf.x * wf.x + xf.y * wf.y;
// CHECK-NEXT: squares[m] += xf.x * xf.x + xf.y * xf.y;
// CHECK: for (int o = 16; o > 0; o >>= 1) squares[m] += __shfl_xor_sync(0xffffffffu, squares[m], o);
// A row's 4 warps add their sums and squares in shared memory.
// CHECK: for (int m = 0; m < 8; ++m) squared[warp][m] = squares[m];
// CHECK: sumSquares += squared[r * 4 + p][m];
// CHECK: const float y = sum * rsqrtf(sumSquares / (float)K + 9.999999975e-07f);

func.func @mlp(%x: tensor<?x4096xbf16, #loom.dims<tokens>>, %s: tensor<4096xbf16>,
               %wg: tensor<192x4096xbf16>, %wu: tensor<192x4096xbf16>) -> tensor<?x192xbf16, #loom.dims<tokens>> {
  %n = loom.rms_norm %x, %s axis 1 epsilon 1.000000e-06 : (tensor<?x4096xbf16, #loom.dims<tokens>>, tensor<4096xbf16>) -> tensor<?x4096xbf16, #loom.dims<tokens>>
  %g = loom.linear %n, %wg transpose_weight : (tensor<?x4096xbf16, #loom.dims<tokens>>, tensor<192x4096xbf16>) -> tensor<?x192xbf16, #loom.dims<tokens>>
  %u = loom.linear %n, %wu transpose_weight : (tensor<?x4096xbf16, #loom.dims<tokens>>, tensor<192x4096xbf16>) -> tensor<?x192xbf16, #loom.dims<tokens>>
  %a = loom.silu %g : tensor<?x192xbf16, #loom.dims<tokens>>
  %y = loom.mul %a, %u : (tensor<?x192xbf16, #loom.dims<tokens>>, tensor<?x192xbf16, #loom.dims<tokens>>) -> tensor<?x192xbf16, #loom.dims<tokens>>
  return %y : tensor<?x192xbf16, #loom.dims<tokens>>
}
