// Linear layers: 16-bit ones on tensor cores (mma.sync, f32 accumulation; tiles from
// loom-choose-tiles), f32 ones as SIMT tiles (tf32 would miss the 1e-4 target). All
// compile with NVRTC.
// RUN: loom-opt %s -loom-fuse -loom-choose-tiles | loom-translate --loom-to-cuda > %t.cu
// RUN: FileCheck %s < %t.cu
// RUN: loom cuda-compile %t.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC

// NVRTC: sm_80: 20 kernels
// NVRTC: sm_90a: 20 kernels

// bf16 with the weight as [N, K] (staged as [n][k]) and a gelu epilogue: 128x128 tiles
// of 8 warps, each 64x32; 16-byte asynchronous copies, four stages in dynamic shared
// memory.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: __launch_bounds__(256)
// CHECK: extern __shared__ __align__(16) unsigned char loom_shared[];
// CHECK: __nv_bfloat16 (*As)[128][40] = reinterpret_cast<__nv_bfloat16 (*)[128][40]>(loom_shared);
// CHECK: __nv_bfloat16 (*Bs)[128][40] = reinterpret_cast<__nv_bfloat16 (*)[128][40]>(loom_shared + 40960);
// On sm_90a the same tiles run on warpgroup multiplies: 64-element k-slices copied
// into 128-byte swizzled rows, three in flight, four m64n128k16 per slice.
// CHECK: #if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// CHECK-NEXT: if (vec) {
// CHECK: to[x] = r * 128 + ((c ^ (r & 7)) << 4);
// CHECK: loom_cp_async_wait<1>();
// CHECK-NEXT: loom_fence_proxy_async();
// CHECK: loom_wgmma_m64n128_bf16(d, loom_wgmma_desc(at + wg * 8192u + kk * 32u), loom_wgmma_desc(at + 16384u + kk * 32u));
// CHECK: loom_wgmma_wait<0>();
// CHECK: const long long m = m0 + wg * 64 + wl * 16 + group + (q >= 2 ? 8 : 0);
// CHECK: tanh
// CHECK: return;
// CHECK: #endif
// CHECK: float acc[4][4][4] = {};
// CHECK: bFrom[x] = in1 + (bOk[x] ? (n0 + r) * K : 0) + c;
// CHECK: loom_cp_async16_at(bSmem + stage * 10240u + bDst[x] * 2u, bFrom[x] + (in ? k0 : 0), in ? 16 : 0);
// CHECK: Bs[stage][r][c + x] = row < N && col + x < K ? in1[row * K + col + x] : zero;
// CHECK: loom_cp_async_wait<2>();
// CHECK-NEXT: __syncthreads();
// CHECK-NEXT: if (tile + 3 < tiles) {
// CHECK: loom_ldmatrix_x4_at(r, bFrag + stage * 10240u + (j * 8 * 40 + kk) * 2);
// CHECK: loom_mma_bf16(acc[i][j], af[i], bf[j]);
// CHECK: tanh
// Its variant for at most 8 rows (decode): a warp per weight row (K = 64 is too short
// to split), its 16-byte loads all issued before the dot product of each input row,
// the same epilogue.
// CHECK-LABEL: //@loom-kernel loom_matmul_{{.*}}_rows8
// CHECK: const long long M = (s_tokens), N = 640LL, K = 64LL;
// CHECK-NOT: partial
// CHECK: for (long long n0 = blockIdx.x * 8LL; n0 < N; n0 += gridDim.x * 8LL)
// CHECK: uint4 wv[1];
// CHECK: const long long k = k0 + c * 256LL + (part * 32 + lane) * 8;
// CHECK-NEXT: wv[c] = k < K ? __ldg(reinterpret_cast<const uint4 *>(w + k)) : make_uint4(0, 0, 0, 0);
// CHECK: acc[m] += xf.x * wf.x + xf.y * wf.y;
// CHECK: acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], o);
// CHECK: if (lane == 0 && has)
// CHECK: tanh

// f16 with the weight as [K, N] (staged as [k][n], read transposed) and a bias; N = 48
// takes 64x64 tiles of 4 warps.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: __launch_bounds__(128)
// CHECK: __half (*Bs)[32][72] = reinterpret_cast<__half (*)[32][72]>(loom_shared + 20480);
// CHECK: const bool vec = K % 8 == 0 && N % 8 == 0
// CHECK: bFrom[x] = in1 + (bOk[x] ? n0 + c : 0);
// CHECK: loom_cp_async16_at(bSmem + stage * 4608u + bDst[x] * 2u, bFrom[x] + (in ? (k0 + bK[x]) * N : 0), in ? 16 : 0);
// CHECK: loom_ldmatrix_x4_trans_at(r, bFrag + stage * 4608u + (kk * 72 + j * 8) * 2);
// CHECK: loom_mma_f16(acc[i][j], af[i], bf[j]);
// CHECK: __half2float(in2[n])

// f16 [N, K] with a bias and K = 200 (the last k-slice partial): the warpgroup path
// too, with the bias in its epilogue.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: loom_wgmma_m64n128_f16(
// CHECK: __half2float(in2[n])
// CHECK-NEXT: const float y = d[j * 4 + q] + v1;
// CHECK-LABEL: //@loom-kernel loom_matmul_{{.*}}_rows8

// f32: SIMT.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: __launch_bounds__(256)
// CHECK-NOT: loom_mma
// CHECK: sum[i][j] += av * Bs[kk][tx + 16 * j];

// bf16 [N, K] with a bias, N = 64 and K = 2200: the decode variant splits each weight
// row over two warps (4 warps would leave a lane under 4 chunks), each lane holding five
// 16-byte chunks, the last partial, and adds the two warps' sums in shared memory.
// A single input row (batch-1 decode) has a phase of its own, one accumulator per
// thread (fewer registers, more blocks per SM); 2 to 8 rows the next.
// CHECK-LABEL: //@loom-kernel loom_matmul_{{.*}}_rows1
// CHECK: __shared__ float partial[8][1];
// CHECK: float acc[1];
// CHECK-LABEL: //@loom-kernel loom_matmul_{{.*}}_rows8
// CHECK: __shared__ float partial[8][8];
// CHECK: for (long long n0 = blockIdx.x * 4LL; n0 < N; n0 += gridDim.x * 4LL)
// CHECK: uint4 wv[5];
// CHECK: const long long k = k0 + c * 512LL + (part * 32 + lane) * 8;
// CHECK: partial[warp][m] = acc[m];
// CHECK: sum += partial[r * 2 + p][m];
// CHECK: __bfloat162float(in{{[0-9]+}}[row])

// A merged layer (loom-merge-linears) whose result is read only by two windows: each
// is stored as its own output, the first through a reshape, guarded by its column
// range, in the tiled kernel and in the decode variant alike.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: if (n >= 64LL && n < 96LL) {
// CHECK-NEXT: out0[{{.+}} * 32LL + (n - 64LL)] = __float2bfloat16_rn(y);
// CHECK: if (n >= 0LL && n < 64LL) {
// CHECK-NEXT: out1[{{.+}}] = __float2bfloat16_rn(y);
// CHECK-LABEL: //@loom-kernel loom_matmul_{{.*}}_rows8
// CHECK: if (n >= 64LL && n < 96LL) {
// CHECK-NEXT: out0[((long long)m) * 32LL + (n - 64LL)] = __float2bfloat16_rn(y);
// CHECK: if (n >= 0LL && n < 64LL) {

// A merged gate/up pair (loom-merge-linears) whose halves meet in silu(g) * u: the
// tiled kernel stores the whole result to scratch and a `_gate` phase after it reads
// each column of both halves back; the decode variant's block takes the same columns
// of both halves (here 4 of each, a warp per row) and pairs their sums in shared
// memory.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: ws0[{{.+}} * 96LL + n] = __float2bfloat16_rn(y);
// CHECK-LABEL: //@loom-kernel loom_matmul_{{.*}}_rows8
// CHECK: const long long n = (local < 4 ? n0 / 2 + local : 48LL + n0 / 2 + local - 4);
// CHECK-NEXT: const bool has = n0 / 2 + local % 4 < 48LL;
// CHECK: paired[local][m] = y;
// CHECK: const float low = paired[j][m], high = paired[j + 4][m];
// CHECK-NEXT: const float [[S:v[0-9]+]] = low / (1.000000000e+00f + expf(-low));
// CHECK-NEXT: const float [[P:v[0-9]+]] = [[S]] * high;
// CHECK-NEXT: out0[((long long)m) * 48LL + p] = __float2bfloat16_rn([[P]]);
// CHECK-LABEL: //@loom-kernel loom_matmul_{{.*}}_gate
// CHECK: = __bfloat162float(ws0[(r0) * 96LL + i1]);
// CHECK-NEXT: = __bfloat162float(ws0[(r0) * 96LL + i1 + 48LL]);
// CHECK: out0[(r0) * 48LL + i1] =
// The f32 pair: the SIMT tiles, then the same phase.
// CHECK-LABEL: //@loom-kernel loom_matmul_
// CHECK: ws0[(r0) * 64LL + n] = (float)
// CHECK-LABEL: //@loom-kernel loom_matmul_{{.*}}_gate
// CHECK: = (ws0[(r0) * 64LL + i1 + 32LL]);

func.func @forward(%x: tensor<?x64xbf16, #loom.dims<tokens>>, %w: tensor<640x64xbf16>,
                   %h: tensor<?x64xf16, #loom.dims<tokens>>, %v: tensor<64x48xf16>, %b: tensor<48xf16>,
                   %k: tensor<?x200xf16, #loom.dims<tokens>>, %wk: tensor<640x200xf16>, %bk: tensor<640xf16>,
                   %f: tensor<?x64xf32, #loom.dims<tokens>>, %u: tensor<32x64xf32>,
                   %g: tensor<?x2200xbf16, #loom.dims<tokens>>, %wg: tensor<64x2200xbf16>, %bg: tensor<64xbf16>,
                   %wm: tensor<96x64xbf16>, %wp: tensor<96x64xbf16>, %wq: tensor<64x64xf32>)
    -> (tensor<?x640xbf16, #loom.dims<tokens>>, tensor<?x48xf16, #loom.dims<tokens>>, tensor<?x640xf16, #loom.dims<tokens>>, tensor<?x32xf32, #loom.dims<tokens>>, tensor<?x64xbf16, #loom.dims<tokens>>,
        tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>, tensor<?x48xbf16, #loom.dims<tokens>>, tensor<?x32xf32, #loom.dims<tokens>>) {
  %0 = loom.linear %x, %w transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<640x64xbf16>) -> tensor<?x640xbf16, #loom.dims<tokens>>
  %1 = loom.gelu tanh %0 : tensor<?x640xbf16, #loom.dims<tokens>>
  %2 = loom.linear %h, %v bias %b : (tensor<?x64xf16, #loom.dims<tokens>>, tensor<64x48xf16>, tensor<48xf16>) -> tensor<?x48xf16, #loom.dims<tokens>>
  %4 = loom.linear %k, %wk bias %bk transpose_weight : (tensor<?x200xf16, #loom.dims<tokens>>, tensor<640x200xf16>, tensor<640xf16>) -> tensor<?x640xf16, #loom.dims<tokens>>
  %3 = loom.linear %f, %u transpose_weight : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<32x64xf32>) -> tensor<?x32xf32, #loom.dims<tokens>>
  %5 = loom.linear %g, %wg bias %bg transpose_weight : (tensor<?x2200xbf16, #loom.dims<tokens>>, tensor<64x2200xbf16>, tensor<64xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>>
  %6 = loom.linear %x, %wm transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<96x64xbf16>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  %7 = loom.slice %6 axes [1] starts [0] ends [64] steps [1] : tensor<?x96xbf16, #loom.dims<tokens>> -> tensor<?x64xbf16, #loom.dims<tokens>>
  %8 = loom.slice %6 axes [1] starts [64] ends [96] steps [1] : tensor<?x96xbf16, #loom.dims<tokens>> -> tensor<?x32xbf16, #loom.dims<tokens>>
  %9 = loom.reshape %7 : tensor<?x64xbf16, #loom.dims<tokens>> -> tensor<?x2x32xbf16, #loom.dims<tokens>>
  %10 = loom.linear %x, %wp transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<96x64xbf16>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  %11 = loom.slice %10 axes [1] starts [0] ends [48] steps [1] : tensor<?x96xbf16, #loom.dims<tokens>> -> tensor<?x48xbf16, #loom.dims<tokens>>
  %12 = loom.slice %10 axes [1] starts [48] ends [96] steps [1] : tensor<?x96xbf16, #loom.dims<tokens>> -> tensor<?x48xbf16, #loom.dims<tokens>>
  %13 = loom.silu %11 : tensor<?x48xbf16, #loom.dims<tokens>>
  %14 = loom.mul %13, %12 : (tensor<?x48xbf16, #loom.dims<tokens>>, tensor<?x48xbf16, #loom.dims<tokens>>) -> tensor<?x48xbf16, #loom.dims<tokens>>
  %15 = loom.linear %f, %wq transpose_weight : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<64x64xf32>) -> tensor<?x64xf32, #loom.dims<tokens>>
  %16 = loom.slice %15 axes [1] starts [0] ends [32] steps [1] : tensor<?x64xf32, #loom.dims<tokens>> -> tensor<?x32xf32, #loom.dims<tokens>>
  %17 = loom.slice %15 axes [1] starts [32] ends [64] steps [1] : tensor<?x64xf32, #loom.dims<tokens>> -> tensor<?x32xf32, #loom.dims<tokens>>
  %18 = loom.silu %16 : tensor<?x32xf32, #loom.dims<tokens>>
  %19 = loom.mul %18, %17 : (tensor<?x32xf32, #loom.dims<tokens>>, tensor<?x32xf32, #loom.dims<tokens>>) -> tensor<?x32xf32, #loom.dims<tokens>>
  return %1, %2, %4, %3, %5, %9, %8, %14, %19 : tensor<?x640xbf16, #loom.dims<tokens>>, tensor<?x48xf16, #loom.dims<tokens>>, tensor<?x640xf16, #loom.dims<tokens>>, tensor<?x32xf32, #loom.dims<tokens>>, tensor<?x64xbf16, #loom.dims<tokens>>,
      tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>, tensor<?x48xbf16, #loom.dims<tokens>>, tensor<?x32xf32, #loom.dims<tokens>>
}
