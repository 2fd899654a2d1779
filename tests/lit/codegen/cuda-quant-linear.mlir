// Linear layers with quantized weights (#loom.quant, docs/codegen.md "Quantized linear
// layers"): the tiled kernel (loom_quant_gemm_mma for 16-bit activations, _simt for
// f32) and, for a 2-D input of named rows and a K of whole 16-byte chunks, the
// `_rows1` and `_rows8` decode variants (loom_quant_gemv), each with the weight's
// buffers as parameters in the artifact's order and the epilogue as a lambda. All
// compile with NVRTC.
// RUN: loom-opt %s -loom-fuse -loom-choose-tiles | loom-translate --loom-to-cuda > %t.cu
// RUN: FileCheck %s < %t.cu
// RUN: loom cuda-compile %t.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC

// NVRTC: sm_80: 16 kernels
// NVRTC: sm_90a: 16 kernels

// The device files, once, after the 16-bit headers.
// CHECK: #line {{[0-9]+}} "compiler/codegen/cuda/device/quant_weight.cuh"
// CHECK: struct LoomQuantWeight {
// CHECK: #line {{[0-9]+}} "compiler/codegen/cuda/device/quant_gemv.cuh"
// CHECK: #line {{[0-9]+}} "compiler/codegen/cuda/device/quant_gemm.cuh"

// GPTQ int4 g32 symmetric, bf16, a residual add: the codes, then the scales.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: __launch_bounds__(128) loom_matmul_{{[0-9a-f]+}}(const __nv_bfloat16 *__restrict__ in0, const unsigned char *__restrict__ in1, const __half *__restrict__ in1_s, const __nv_bfloat16 *__restrict__ in2, __nv_bfloat16 *__restrict__ out0, long long s_tokens)
// CHECK: // loom_quant_gemm_mma (quantized linear layer, int4 g32 offset none, f16 scales): N = 256, K = 256; epilogue: loom.add
// CHECK: using Q = LoomQuantWeight<LOOM_Q_INT4, 256, 32, LOOM_Q_NONE, __half, false, __nv_bfloat16>;
// CHECK-NEXT: const Q q{in1, in1_s, nullptr, nullptr, nullptr};
// CHECK-NEXT: auto epilogue = [&](const long long m, const long long n, const float acc) {
// CHECK: const float v{{[0-9]+}} = v{{[0-9]+}} + y;
// CHECK: };
// CHECK-NEXT: loom_quant_gemm_mma(q, in0, M, N, epilogue);
// K = 256 is 8 chunks of 32 codes: one warp per weight row.
// CHECK-LABEL: //@loom-kernel loom_matmul_{{[0-9a-f]+}}_rows1
// CHECK: loom_quant_gemv<Q, 1, 1>(q, in0, M, N, epilogue);
// CHECK-LABEL: //@loom-kernel loom_matmul_{{[0-9a-f]+}}_rows8
// CHECK: loom_quant_gemv<Q, 8, 1>(q, in0, M, N, epilogue);

// GPTQ act-order int4 g64 with zero points and a bias, its result split into
// windows: codes, scales, zeros, permutation.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: (const __nv_bfloat16 *__restrict__ in0, const unsigned char *__restrict__ in1, const __half *__restrict__ in1_s, const unsigned char *__restrict__ in1_z, const int *__restrict__ in1_p, const __nv_bfloat16 *__restrict__ in2,
// CHECK: // loom_quant_gemm_mma (quantized linear layer, int4 g64 offset zero, f16 scales, act-order): N = 384, K = 512, bias; epilogue: loom.slice, loom.slice, loom.reshape
// CHECK: using Q = LoomQuantWeight<LOOM_Q_INT4, 512, 64, LOOM_Q_ZERO, __half, true, __nv_bfloat16>;
// CHECK-NEXT: const Q q{in1, in1_s, in1_z, nullptr, in1_p};
// CHECK: const float y = acc + v{{[0-9]+}};
// CHECK: if (n >= 256LL && n < 384LL) {
// CHECK-NEXT: out0[(r0) * 128LL + (n - 256LL)] = __float2bfloat16_rn(y);
// CHECK: if (n >= 0LL && n < 256LL) {
// CHECK-NEXT: out1[(r0) * 256LL + (n - 0LL)] = __float2bfloat16_rn(y);
// CHECK-LABEL: //@loom-kernel loom_matmul_{{[0-9a-f]+}}_rows1
// CHECK: loom_quant_gemv<Q, 1, 1>(q, in0, M, N, epilogue);

// GPTQ int8 per channel, f16: 256 chunks of 16 codes per row, so four warps share a
// row (their sums added in shared memory).
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: using Q = LoomQuantWeight<LOOM_Q_INT8, 4096, 0, LOOM_Q_NONE, __half, false, __half>;
// CHECK: loom_quant_gemm_mma(q, in0, M, N, epilogue);
// CHECK-LABEL: //@loom-kernel loom_matmul_{{[0-9a-f]+}}_rows1
// CHECK: grid (min(ceil(64 / 2), 65535), 1, 1)
// CHECK: loom_quant_gemv<Q, 1, 4>(q, in0, M, N, epilogue);
// CHECK-LABEL: //@loom-kernel loom_matmul_{{[0-9a-f]+}}_rows8
// CHECK: loom_quant_gemv<Q, 8, 4>(q, in0, M, N, epilogue);

// compressed-tensors FP8 per channel (f32 scales), silu(linear) * u with u read from
// memory.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: // loom_quant_gemm_mma (quantized linear layer, fp8e4m3 per-channel offset none, f32 scales): N = 128, K = 256; epilogue: loom.silu, loom.mul
// CHECK: using Q = LoomQuantWeight<LOOM_Q_FP8, 256, 0, LOOM_Q_NONE, float, false, __nv_bfloat16>;
// CHECK: expf(
// CHECK-LABEL: //@loom-kernel loom_matmul_{{[0-9a-f]+}}_rows8

// f32 activations, int4 g16 with zero points (two groups per 16-byte chunk): the SIMT
// tiles of 256 threads and the matrix-vector variants.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: __launch_bounds__(256)
// CHECK-SAME: (const float *__restrict__ in0, const unsigned char *__restrict__ in1, const float *__restrict__ in1_s, const unsigned char *__restrict__ in1_z, float *__restrict__ out0
// CHECK: using Q = LoomQuantWeight<LOOM_Q_INT4, 256, 16, LOOM_Q_ZERO, float, false, float>;
// CHECK: loom_quant_gemm_simt(q, in0, M, N, epilogue);
// CHECK-LABEL: //@loom-kernel loom_matmul_{{[0-9a-f]+}}_rows1
// CHECK-LABEL: //@loom-kernel loom_matmul_{{[0-9a-f]+}}_rows8

// int8 per channel with K = 200 (not whole chunks): the tiled kernel alone, for every
// row count, reading the weight element by element.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: using Q = LoomQuantWeight<LOOM_Q_INT8, 200, 0, LOOM_Q_NONE, __nv_bfloat16, false, __nv_bfloat16>;
// CHECK: loom_quant_gemm_mma(q, in0, M, N, epilogue);
// CHECK-NOT: _rows1

func.func @forward(%x: tensor<?x256xbf16, #loom.dims<tokens>>, %r: tensor<?x256xbf16, #loom.dims<tokens>>,
                   %x2: tensor<?x512xbf16, #loom.dims<tokens>>, %b2: tensor<384xbf16>,
                   %h: tensor<?x4096xf16, #loom.dims<tokens>>,
                   %u: tensor<?x128xbf16, #loom.dims<tokens>>,
                   %f: tensor<?x256xf32, #loom.dims<tokens>>,
                   %k: tensor<?x200xbf16, #loom.dims<tokens>>)
    -> (tensor<?x256xbf16, #loom.dims<tokens>>, tensor<?x4x64xbf16, #loom.dims<tokens>>, tensor<?x128xbf16, #loom.dims<tokens>>,
        tensor<?x64xf16, #loom.dims<tokens>>, tensor<?x128xbf16, #loom.dims<tokens>>, tensor<?x96xf32, #loom.dims<tokens>>,
        tensor<?x64xbf16, #loom.dims<tokens>>) {
  %w1 = loom.weight "w1" quant <code = int4, group = 32, scale = f16, offset = none, source = gptq> : tensor<256x256xbf16>
  %0 = loom.linear %x, %w1 transpose_weight : (tensor<?x256xbf16, #loom.dims<tokens>>, tensor<256x256xbf16>) -> tensor<?x256xbf16, #loom.dims<tokens>>
  %1 = loom.add %r, %0 : (tensor<?x256xbf16, #loom.dims<tokens>>, tensor<?x256xbf16, #loom.dims<tokens>>) -> tensor<?x256xbf16, #loom.dims<tokens>>

  %w2 = loom.weight "w2" quant <code = int4, group = 64, scale = f16, offset = zero, permuted = true, source = gptq> : tensor<384x512xbf16>
  %2 = loom.linear %x2, %w2 bias %b2 transpose_weight : (tensor<?x512xbf16, #loom.dims<tokens>>, tensor<384x512xbf16>, tensor<384xbf16>) -> tensor<?x384xbf16, #loom.dims<tokens>>
  %3 = loom.slice %2 axes [1] starts [0] ends [256] steps [1] : tensor<?x384xbf16, #loom.dims<tokens>> -> tensor<?x256xbf16, #loom.dims<tokens>>
  %4 = loom.slice %2 axes [1] starts [256] ends [384] steps [1] : tensor<?x384xbf16, #loom.dims<tokens>> -> tensor<?x128xbf16, #loom.dims<tokens>>
  %5 = loom.reshape %3 : tensor<?x256xbf16, #loom.dims<tokens>> -> tensor<?x4x64xbf16, #loom.dims<tokens>>

  %w3 = loom.weight "w3" quant <code = int8, group = 0, scale = f16, offset = none, source = gptq> : tensor<64x4096xf16>
  %6 = loom.linear %h, %w3 transpose_weight : (tensor<?x4096xf16, #loom.dims<tokens>>, tensor<64x4096xf16>) -> tensor<?x64xf16, #loom.dims<tokens>>

  %w4 = loom.weight "w4" quant <code = fp8e4m3, group = 0, scale = f32, offset = none, source = ct_float> : tensor<128x256xbf16>
  %7 = loom.linear %x, %w4 transpose_weight : (tensor<?x256xbf16, #loom.dims<tokens>>, tensor<128x256xbf16>) -> tensor<?x128xbf16, #loom.dims<tokens>>
  %8 = loom.silu %7 : tensor<?x128xbf16, #loom.dims<tokens>>
  %9 = loom.mul %8, %u : (tensor<?x128xbf16, #loom.dims<tokens>>, tensor<?x128xbf16, #loom.dims<tokens>>) -> tensor<?x128xbf16, #loom.dims<tokens>>

  %w5 = loom.weight "w5" quant <code = int4, group = 16, scale = f32, offset = zero, source = rtn> : tensor<96x256xf32>
  %10 = loom.linear %f, %w5 transpose_weight : (tensor<?x256xf32, #loom.dims<tokens>>, tensor<96x256xf32>) -> tensor<?x96xf32, #loom.dims<tokens>>

  %w6 = loom.weight "w6" quant <code = int8, group = 0, scale = bf16, offset = none, source = rtn> : tensor<64x200xbf16>
  %11 = loom.linear %k, %w6 transpose_weight : (tensor<?x200xbf16, #loom.dims<tokens>>, tensor<64x200xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>>
  return %1, %5, %4, %6, %9, %10, %11 : tensor<?x256xbf16, #loom.dims<tokens>>, tensor<?x4x64xbf16, #loom.dims<tokens>>, tensor<?x128xbf16, #loom.dims<tokens>>,
      tensor<?x64xf16, #loom.dims<tokens>>, tensor<?x128xbf16, #loom.dims<tokens>>, tensor<?x96xf32, #loom.dims<tokens>>,
      tensor<?x64xbf16, #loom.dims<tokens>>
}
