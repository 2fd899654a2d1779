//===- quant_gemv.cuh - Quantized linear layers at a few rows ------*- CUDA -*-===//
//
// The `_rows1` and `_rows8` variants of a linear layer whose weight is quantized
// (loom_quant_gemv): out(m, n) = sum over k' of x[m, input(k')] * W(n, k') for at most
// Rows input rows, the decode steps. Reading the weight is all the work, so every code
// byte is read once, with 16-byte loads, and dequantized in registers.
//
// Layout: a block of 256 threads (8 warps) takes 8 / Warps weight rows at a time;
// the Warps warps of a row split it into 16-byte chunks (32 int4 or 16 8-bit codes):
// chunk c of the row goes to lane c % 32 of warp (c / 32) % Warps of the row, so a
// warp's 32 loads are 512 contiguous bytes. Each thread issues up to 8 chunk loads
// before it dequantizes any (memory-level parallelism), then multiplies each piece of
// 16 codes (one group: one scale load) with the Rows input rows (read through L1,
// 16-byte loads; gathered through perm for an act-order weight), accumulating in
// float32. Sums: warp shuffles, then the Warps partial sums of a row in shared memory.
// Each output (m, n) goes to the generated epilogue, `epilogue(m, n, sum)`, once.
//
// Before it waits for the kernel before it (loom_wait_prior), the block starts its
// first weight rows' codes coming into L2: weights are no kernel's output.
//
// Template parameters: Q (a LoomQuantWeight, quant_weight.cuh; K a multiple of 32 for
// int4, of 16 for 8-bit), Rows (most input rows: 1 or 8), Warps (warps per weight row:
// 1, 2, 4 or 8), X (activation type), Epilogue (device functor).
//
//===----------------------------------------------------------------------===//

template <class Q, int Rows, int Warps, typename X, typename Epilogue>
__device__ __forceinline__ void loom_quant_gemv(const Q &q, const X *__restrict__ x, long long M,
                                                long long N, Epilogue &epilogue) {
  constexpr int K = Q::kK;
  constexpr int kPieces = Q::kBits == 4 ? 2 : 1; // pieces of 16 codes per chunk
  constexpr int kSpan = 16 * kPieces;            // positions per 16-byte chunk
  constexpr int kChunks = K / kSpan;             // chunks per weight row
  constexpr int kLanes = Warps * 32;             // threads sharing a weight row
  constexpr int kPerLane = (kChunks + kLanes - 1) / kLanes;
  constexpr int kBatch = kPerLane < 8 ? kPerLane : 8; // chunk loads in flight per thread
  constexpr int kRowsPerBlock = 8 / Warps;
  static_assert(K % kSpan == 0, "a row is whole 16-byte chunks");
  static_assert(Warps == 1 || Warps == 2 || Warps == 4 || Warps == 8, "8 warps per block");
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int part = warp % Warps, local = warp / Warps;
  __shared__ float partial[8][Rows];

  {
    const long long first = blockIdx.x * (long long)kRowsPerBlock;
    const long long bytes = loom_min(kRowsPerBlock, N - first) * Q::kRowBytes;
    const char *from = reinterpret_cast<const char *>(q.codes + first * Q::kRowBytes);
    for (long long b = threadIdx.x * 128LL; b < bytes; b += 256 * 128LL)
      loom_prefetch_l2(from + b);
  }
  loom_wait_prior();

  // The loop bound is the block's first row, so every warp takes every iteration (the
  // barriers below).
  for (long long n0 = blockIdx.x * (long long)kRowsPerBlock; n0 < N;
       n0 += (long long)gridDim.x * kRowsPerBlock) {
    const long long n = n0 + local;
    float acc[Rows];
#pragma unroll
    for (int m = 0; m < Rows; ++m)
      acc[m] = 0.0f;
    if (n < N) {
      const uint4 *row = reinterpret_cast<const uint4 *>(q.codes + n * Q::kRowBytes);
      for (int i0 = 0; i0 < kPerLane; i0 += kBatch) {
        uint4 wv[kBatch];
#pragma unroll
        for (int b = 0; b < kBatch; ++b) {
          const int c = (i0 + b) * kLanes + part * 32 + lane;
          wv[b] = c < kChunks ? __ldg(row + c) : make_uint4(0u, 0u, 0u, 0u);
        }
#pragma unroll
        for (int b = 0; b < kBatch; ++b) {
          const int c = (i0 + b) * kLanes + part * 32 + lane;
          if (c >= kChunks)
            continue;
          const unsigned words[4] = {wv[b].x, wv[b].y, wv[b].z, wv[b].w};
#pragma unroll
          for (int p = 0; p < kPieces; ++p) {
            // Piece p of the chunk: positions k .. k + 15 (int4: words 2p and 2p + 1).
            const int k = c * kSpan + p * 16;
            float w[16];
            q.dequant16(n, k, words + 2 * p, w);
            int at[16];
#pragma unroll
            for (int j = 0; j < 16; ++j)
              at[j] = (int)q.input(k + j);
#pragma unroll
            for (int m = 0; m < Rows; ++m) {
              if (m >= M)
                break;
              float xv[16];
              if (Q::kPermuted) {
#pragma unroll
                for (int j = 0; j < 16; ++j)
                  xv[j] = loom_q_float(x[m * (long long)K + at[j]]);
              } else {
                loom_q_load16(x + m * (long long)K + k, xv);
              }
#pragma unroll
              for (int j = 0; j < 16; ++j)
                acc[m] += xv[j] * w[j];
            }
          }
        }
      }
    }
#pragma unroll
    for (int m = 0; m < Rows; ++m)
      for (int o = 16; o > 0; o >>= 1)
        acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], o);
    if (Warps == 1) {
      if (lane == 0 && n < N) {
#pragma unroll
        for (int m = 0; m < Rows; ++m)
          if (m < M)
            epilogue((long long)m, n, acc[m]);
      }
    } else {
      // Warp `warp` = local * Warps + part holds part `part` of weight row n0 + local.
      if (lane == 0) {
#pragma unroll
        for (int m = 0; m < Rows; ++m)
          partial[warp][m] = acc[m];
      }
      __syncthreads();
      if (threadIdx.x < kRowsPerBlock * Rows) {
        const int r = threadIdx.x / Rows, m = threadIdx.x % Rows;
        if (n0 + r < N && m < M) {
          float sum = 0.0f;
#pragma unroll
          for (int p = 0; p < Warps; ++p)
            sum += partial[r * Warps + p][m];
          epilogue((long long)m, n0 + r, sum);
        }
      }
      __syncthreads();
    }
  }
}
