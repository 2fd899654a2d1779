// Attention kernels: bf16 on tensor cores (flash attention with mma.sync; causal, GQA,
// a rope prologue computed as Q loads; K, roped by a kernel of its own, and V copied in
// place with cp.async), head size 128 with 32 keys per step, and f32 one query per
// thread. Checked text; NVRTC for sm_80 and sm_90a. The GPU suite
// runs them against the reference (harnesses llama-bf16, llama-hf).
// RUN: loom-opt %s -loom-fuse -loom-choose-tiles | loom-translate --loom-to-cuda > %t.cu
// RUN: FileCheck %s < %t.cu
// RUN: loom cuda-compile %t.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC

// NVRTC: sm_80: 4 kernels
// NVRTC: sm_90a: 4 kernels

// CHECK-LABEL: //@loom-kernel loom_pointwise_
// CHECK: lanes[8];

// CHECK-LABEL: //@loom-kernel loom_attention_
// CHECK: __launch_bounds__(128)
// Causal query tiles run last first (the most keys first).
// CHECK: const long long qt = gridDim.x - 1LL - blockIdx.x;
// CHECK: kvh = h / (H / Hkv);
// CHECK: const long long kvEnd = loom_min(Skv, loom_max(0LL, (qt + 1LL) * 64 + Skv - Sq));
// CHECK: __shared__ __align__(16) __nv_bfloat16 Qs[64][72], Ks[64][72], Vs[64][72];
// CHECK: Qs[r][c] = __float2bfloat16_rn(
// CHECK: loom_ldmatrix_x4(qf[kk], &Qs[warp * 16 + lane % 16][kk * 16 + (lane / 16) * 8]);
// CHECK: for (long long j0 = 0; j0 < kvEnd; j0 += 64) {
// CHECK: const __nv_bfloat16 *from = in{{[0-9]}} + (
// CHECK: loom_cp_async16(&Ks[r][c], from, 16);
// CHECK: loom_cp_async16(&Vs[r][c], from, 16);
// CHECK: loom_mma_bf16(s[j], qf[kk], b0);
// Scores stay raw (no mask or softcap): masked only on tiles that cross the diagonal,
// the scale folded into a base-2 exponent.
// CHECK-NOT: score
// CHECK: const long long diagonal = (r ? row1 : row0) + Skv - Sq - j0 + 1;
// CHECK: if (limit[0] < 64 || limit[1] < 64) {
// CHECK: if (j * 8 + pair * 2 + (x & 1) >= limit[x / 2]) s[j][x] = __int_as_float(0xff800000);
// CHECK: s[j][x] = loom_exp2(fmaf(s[j][x], (float)1.803368801e-01, -tileMax[x / 2]));
// CHECK: loom_pack_bf16(s[2 * c][0], s[2 * c][1])
// CHECK: loom_ldmatrix_x4_trans(r, &Vs[
// CHECK: loom_mma_bf16(o[j], pf, b0);
// CHECK: total[r] += __shfl_xor_sync(0xffffffffu, total[r], 1);

// CHECK-LABEL: //@loom-kernel loom_attention_
// CHECK: const long long qt = blockIdx.x;
// CHECK: const long long kvEnd = Skv;
// CHECK: Qs[64][136], Ks[32][136], Vs[32][136];
// CHECK: loom_cp_async16(&Qs[r][c], from, 16);

// CHECK-LABEL: //@loom-kernel loom_attention_
// CHECK: __launch_bounds__(64)
// CHECK: float qrow[64], orow[64];

func.func @forward(%q: tensor<?x8x?x64xbf16, #loom.dims<batch, seq>>, %k: tensor<?x2x?x64xbf16, #loom.dims<batch, seq>>,
                   %cos: tensor<?x32xbf16, #loom.dims<seq>>, %sin: tensor<?x32xbf16, #loom.dims<seq>>,
                   %p: tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>, %f: tensor<?x8x?x64xf32, #loom.dims<batch, seq>>)
    -> (tensor<?x8x?x64xbf16, #loom.dims<batch, seq>>, tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>, tensor<?x8x?x64xf32, #loom.dims<batch, seq>>) {
  %qr = loom.rope %q, %cos, %sin : (tensor<?x8x?x64xbf16, #loom.dims<batch, seq>>, tensor<?x32xbf16, #loom.dims<seq>>, tensor<?x32xbf16, #loom.dims<seq>>) -> tensor<?x8x?x64xbf16, #loom.dims<batch, seq>>
  %kr = loom.rope %k, %cos, %sin : (tensor<?x2x?x64xbf16, #loom.dims<batch, seq>>, tensor<?x32xbf16, #loom.dims<seq>>, tensor<?x32xbf16, #loom.dims<seq>>) -> tensor<?x2x?x64xbf16, #loom.dims<batch, seq>>
  %0 = loom.attention %qr, %kr, %k causal : (tensor<?x8x?x64xbf16, #loom.dims<batch, seq>>, tensor<?x2x?x64xbf16, #loom.dims<batch, seq>>, tensor<?x2x?x64xbf16, #loom.dims<batch, seq>>) -> tensor<?x8x?x64xbf16, #loom.dims<batch, seq>>
  %1 = loom.attention %p, %p, %p : (tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>, tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>, tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>) -> tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>
  %2 = loom.attention %f, %f, %f causal : (tensor<?x8x?x64xf32, #loom.dims<batch, seq>>, tensor<?x8x?x64xf32, #loom.dims<batch, seq>>, tensor<?x8x?x64xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x64xf32, #loom.dims<batch, seq>>
  return %0, %1, %2 : tensor<?x8x?x64xbf16, #loom.dims<batch, seq>>, tensor<?x8x?x128xbf16, #loom.dims<batch, seq>>, tensor<?x8x?x64xf32, #loom.dims<batch, seq>>
}
