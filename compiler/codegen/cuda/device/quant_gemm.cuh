//===- quant_gemm.cuh - Quantized linear layers as tiled GEMMs -----*- CUDA -*-===//
//
// The tiled kernels of a linear layer whose weight is quantized, for any number of
// rows (prefill; the decode variants are quant_gemv.cuh): out(m, n) = sum over k' of
// x[m, input(k')] * W(n, k'), each output handed to the generated epilogue,
// `epilogue(m, n, sum)`, once.
//
// loom_quant_gemm_mma (16-bit activations X, the weight's element type WT == X):
// 128 threads (4 warps, 2 x 2) per 64 x 64 output tile, k-slices of 32, two stages in
// static shared memory (20 KiB), rows padded to 40 elements so that the fragment reads
// are free of bank conflicts. Per slice:
//   - A (64 x 32 activations): 16-byte cp.async copies, zero-filled past M and K; an
//     act-order weight's gathered inputs (x[m, perm[k']]), or a K that is not a
//     multiple of 8, or an unaligned x, take plain loads;
//   - B (64 x 32 weights): thread t dequantizes positions 16 (t % 2) .. + 15 of row
//     t / 2 of the tile (one group, one scale), rounded to X, into shared memory as
//     [n][k]; the codes of slice s + 1 are loaded into registers before slice s's
//     multiplies, and dequantized after them into the other stage;
//   - each warp multiplies its 32 x 32 sub-tile with mma.sync m16n8k16 (f32
//     accumulators), its operand fragments read from shared memory as 32-bit pairs.
// wgmma (sm_90a) is not used yet: the mma.sync path runs on both targets.
//
// loom_quant_gemm_simt (f32 activations, or any X): 256 threads per 64 x 64 tile,
// k-slices of 16 staged in shared memory (weights dequantized element by element),
// each thread accumulating a 4 x 4 grid of outputs (rows ty + 16i, columns tx + 16j).
//
// Template parameters: Q (a LoomQuantWeight, quant_weight.cuh), X, Epilogue.
//
//===----------------------------------------------------------------------===//

/// Two floats as a packed 16-bit pair of type X (the low half first).
__device__ __forceinline__ unsigned loom_q_pack(float a, float b, const __nv_bfloat16 *) {
  return loom_pack_bf16(a, b);
}
__device__ __forceinline__ unsigned loom_q_pack(float a, float b, const __half *) {
  return loom_pack_f16(a, b);
}
__device__ __forceinline__ void loom_q_mma(float c[4], const unsigned a[4], const unsigned b[2],
                                           const __nv_bfloat16 *) {
  loom_mma_bf16(c, a, b);
}
__device__ __forceinline__ void loom_q_mma(float c[4], const unsigned a[4], const unsigned b[2],
                                           const __half *) {
  loom_mma_f16(c, a, b);
}

template <class Q, typename X, typename Epilogue>
__device__ __forceinline__ void loom_quant_gemm_mma(const Q &q, const X *__restrict__ x,
                                                    long long M, long long N,
                                                    Epilogue &epilogue) {
  constexpr int K = Q::kK, kTiles = (K + 31) / 32, kLd = 40;
  __shared__ __align__(16) X As[2][64][kLd];
  __shared__ __align__(16) X Bs[2][64][kLd];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / 4, pair = lane % 4;
  const int wm = (warp % 2) * 32, wn = (warp / 2) * 32;
  const long long m0 = blockIdx.y * 64LL, n0 = blockIdx.x * 64LL;
  const bool vectorA = K % 8 == 0 && !Q::kPermuted &&
                       (reinterpret_cast<unsigned long long>(x) & 15) == 0;

  // A slice `tile` into stage `stage`: thread t copies 8-element chunks t and t + 128
  // (row chunk / 4, columns 8 (chunk % 4) ..).
  auto loadA = [&](int tile, int stage) {
    const long long k0 = tile * 32LL;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int chunk = threadIdx.x + 128 * i, r = chunk / 4, c = (chunk % 4) * 8;
      const long long m = m0 + r, k = k0 + c;
      if (vectorA) {
        const bool in = m < M && k < K;
        loom_cp_async16(&As[stage][r][c], x + (in ? m * K + k : 0), in ? 16 : 0);
      } else {
#pragma unroll
        for (int e = 0; e < 8; ++e)
          As[stage][r][c + e] = m < M && k + e < K ? x[m * K + q.input(k + e)] : X(0.0f);
      }
    }
  };
  // B slice `tile`: thread t's piece, row n0 + t / 2, positions k0 + 16 (t % 2) ..;
  // its raw codes first (loadCodes), dequantized into a stage later (storeB).
  const int br = threadIdx.x / 2, bk = (threadIdx.x % 2) * 16;
  const long long bn = n0 + br;
  unsigned words[4];
  auto loadCodes = [&](int tile) {
    const long long k = tile * 32LL + bk;
    if (Q::kVectorPieces && bn < N && k < K)
      q.loadPiece(bn, k, words);
  };
  auto storeB = [&](int tile, int stage) {
    const long long k = tile * 32LL + bk;
    float w[16];
    if (bn < N && k < K && Q::kVectorPieces) {
      q.dequant16(bn, k, words, w);
    } else {
#pragma unroll
      for (int e = 0; e < 16; ++e)
        w[e] = bn < N && k + e < K ? q.at(bn, k + e) : 0.0f;
    }
    unsigned packed[8];
#pragma unroll
    for (int e = 0; e < 8; ++e)
      packed[e] = loom_q_pack(w[2 * e], w[2 * e + 1], x);
    uint4 *to = reinterpret_cast<uint4 *>(&Bs[stage][br][bk]);
    to[0] = make_uint4(packed[0], packed[1], packed[2], packed[3]);
    to[1] = make_uint4(packed[4], packed[5], packed[6], packed[7]);
  };

  float acc[2][4][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        acc[i][j][e] = 0.0f;

  loadA(0, 0);
  loom_cp_async_commit();
  loadCodes(0);
  storeB(0, 0);
  for (int tile = 0; tile < kTiles; ++tile) {
    const int stage = tile % 2;
    // Stage 1 - stage was last read by slice tile - 1's multiplies, which every warp
    // finished before the barrier that ended that iteration.
    if (tile + 1 < kTiles) {
      loadA(tile + 1, 1 - stage);
      loadCodes(tile + 1);
    }
    loom_cp_async_commit();
    loom_cp_async_wait<1>(); // this thread's copies of slice `tile` have landed
    __syncthreads();         // everyone's, and the B stage written before
    const unsigned *a32 = reinterpret_cast<const unsigned *>(&As[stage][0][0]);
    const unsigned *b32 = reinterpret_cast<const unsigned *>(&Bs[stage][0][0]);
#pragma unroll
    for (int kk = 0; kk < 32; kk += 16) {
      // Fragments of m16n8k16 (PTX ISA): A rows group and group + 8, columns
      // 2 pair (+1) and + 8; B column group, rows 2 pair (+1) and + 8. In 32-bit
      // units a row of kLd elements is kLd / 2 words.
      unsigned af[2][4], bf[4][2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int r = wm + i * 16 + group, c = (kk + 2 * pair) / 2;
        af[i][0] = a32[r * (kLd / 2) + c];
        af[i][1] = a32[(r + 8) * (kLd / 2) + c];
        af[i][2] = a32[r * (kLd / 2) + c + 4];
        af[i][3] = a32[(r + 8) * (kLd / 2) + c + 4];
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int r = wn + j * 8 + group, c = (kk + 2 * pair) / 2;
        bf[j][0] = b32[r * (kLd / 2) + c];
        bf[j][1] = b32[r * (kLd / 2) + c + 4];
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
          loom_q_mma(acc[i][j], af[i], bf[j], x);
    }
    if (tile + 1 < kTiles)
      storeB(tile + 1, 1 - stage);
    __syncthreads(); // slice `tile`'s stage is free for the copies of slice tile + 2
  }
  loom_cp_async_wait<0>();

  // Accumulator e of tile (i, j): row group (+ 8 for e >= 2), column 2 pair (+ 1 for
  // odd e).
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const long long m = m0 + wm + i * 16 + group + (e >= 2 ? 8 : 0);
        const long long n = n0 + wn + j * 8 + pair * 2 + (e & 1);
        if (m < M && n < N)
          epilogue(m, n, acc[i][j][e]);
      }
}

template <class Q, typename X, typename Epilogue>
__device__ __forceinline__ void loom_quant_gemm_simt(const Q &q, const X *__restrict__ x,
                                                     long long M, long long N,
                                                     Epilogue &epilogue) {
  constexpr int K = Q::kK;
  __shared__ float As[16][64], Bs[16][64];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const long long m0 = blockIdx.y * 64LL, n0 = blockIdx.x * 64LL;
  float sum[4][4] = {};
  for (long long k0 = 0; k0 < K; k0 += 16) {
    // As[kk][mm] and Bs[kk][nn]: consecutive threads take consecutive k of a row.
    for (int t = threadIdx.x; t < 16 * 64; t += 256) {
      const int kk = t % 16, xx = t / 16;
      const long long k = k0 + kk, m = m0 + xx, n = n0 + xx;
      As[kk][xx] = m < M && k < K ? loom_q_float(x[m * K + q.input(k)]) : 0.0f;
      Bs[kk][xx] = n < N && k < K ? q.at(n, k) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < 16; ++kk)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float av = As[kk][ty + 16 * i];
#pragma unroll
        for (int j = 0; j < 4; ++j)
          sum[i][j] += av * Bs[kk][tx + 16 * j];
      }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const long long m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < M && n < N)
        epilogue(m, n, sum[i][j]);
    }
}
