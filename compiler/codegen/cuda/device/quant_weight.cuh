//===- quant_weight.cuh - Reading a quantized weight (#loom.quant) -*- CUDA -*-===//
//
// The dequantization every quantized linear kernel shares (quant_gemv.cuh,
// quant_gemm.cuh). A weight W [N, K] with `#loom.quant` is uploaded in Loom's kernel
// layout (loom/support/Quantization.h, repackForKernels):
//
//   codes  [N, ceil(K/2)] bytes for int4 (position k' = 2j in the low nibble of byte j,
//          2j + 1 in the high nibble), [N, K] bytes for int8 and FP8 (e4m3fn bits);
//          integer codes are unsigned b-bit values 0 .. 2^b - 1;
//   scales [N, groups] of type S; zeros [N, groups] bytes (offset zero); mins [N, groups]
//          of type S (offset min); perm [K] int (permuted: position k' multiplies input
//          x[perm[k']]; groups are contiguous along k').
//
// Element (n, k') is, in float32, exactly as the reference executor computes it
// (compiler/reference/Executor.cpp, loom::dequantize), then rounded to the weight's
// element type WT:
//   offset none, int: s * (c - 2^(b-1));  zero: s * (c - z);  min: s * c - m;
//   FP8: e4m3(c) * s;
// with s, z, m those of group g = k' / G of row n (G = 0: one group per row).
//
// Template parameters of LoomQuantWeight: Code (LOOM_Q_INT4, LOOM_Q_INT8, LOOM_Q_FP8),
// K (inputs), G (group size, 0 = per row), Offset (LOOM_Q_NONE, LOOM_Q_ZERO,
// LOOM_Q_MIN), S (scale type: __half, __nv_bfloat16, float), Permuted, WT (the
// weight's element type: __nv_bfloat16, __half or float). Group sizes are multiples of
// 16 that divide K, so 16 consecutive positions starting at a multiple of 16 share
// one group: the kernels dequantize in pieces of 16 (dequant16).
//
//===----------------------------------------------------------------------===//

enum : int { LOOM_Q_INT4 = 0, LOOM_Q_INT8 = 1, LOOM_Q_FP8 = 2 };
enum : int { LOOM_Q_NONE = 0, LOOM_Q_ZERO = 1, LOOM_Q_MIN = 2 };

/// A 16-bit or 32-bit float as float.
__device__ __forceinline__ float loom_q_float(float v) { return v; }
__device__ __forceinline__ float loom_q_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float loom_q_float(__nv_bfloat16 v) { return __bfloat162float(v); }

/// 2^23 + c as a float, exact for c < 2^23: the difference of two such values is the
/// exact difference of the integers, one float add instead of two conversions.
__device__ __forceinline__ float loom_q_biased(unsigned c) {
  return __uint_as_float(0x4B000000u | c);
}

/// The value of an e4m3fn bit pattern (bias 7, no infinities, 0x7f and 0xff NaN).
__device__ __forceinline__ float loom_q_e4m3(unsigned bits) {
  const unsigned e = (bits >> 3) & 15u, m = bits & 7u;
  float magnitude;
  if ((bits & 0x7fu) == 0x7fu)
    magnitude = __uint_as_float(0x7fc00000u);
  else if (e == 0)
    magnitude = (float)m * 0.001953125f; // subnormal: m / 8 * 2^-6
  else
    magnitude = __uint_as_float(((e + 120u) << 23) | (m << 20)); // exponent e - 7 + 127
  return (bits & 0x80u) ? -magnitude : magnitude;
}

/// Rounds a pair of floats to WT (round to nearest even) and back, as the reference
/// rounds a dequantized weight to the weight's element type.
template <typename WT> __device__ __forceinline__ void loom_q_round2(float &a, float &b);
template <> __device__ __forceinline__ void loom_q_round2<float>(float &, float &) {}
template <> __device__ __forceinline__ void loom_q_round2<__half>(float &a, float &b) {
  const float2 r = __half22float2(__floats2half2_rn(a, b));
  a = r.x;
  b = r.y;
}
template <> __device__ __forceinline__ void loom_q_round2<__nv_bfloat16>(float &a, float &b) {
  const float2 r = __bfloat1622float2(__floats2bfloat162_rn(a, b));
  a = r.x;
  b = r.y;
}

/// The buffers of one quantized weight and how to read them (see the header).
template <int Code, int K, int G, int Offset, typename S, bool Permuted, typename WT>
struct LoomQuantWeight {
  static constexpr int kK = K;
  static constexpr int kBits = Code == LOOM_Q_INT4 ? 4 : 8;
  /// Bytes of one row of codes.
  static constexpr long long kRowBytes = Code == LOOM_Q_INT4 ? (K + 1) / 2 : K;
  static constexpr long long kGroups = G == 0 ? 1 : K / G;
  static constexpr bool kPermuted = Permuted;
  static_assert(G % 16 == 0 && (G == 0 || K % G == 0), "groups of 16k dividing K");
  static_assert(Code != LOOM_Q_FP8 || Offset == LOOM_Q_NONE, "FP8 has no offset");

  const unsigned char *__restrict__ codes;
  const S *__restrict__ scales;
  const unsigned char *__restrict__ zeros; ///< offset zero only
  const S *__restrict__ mins;              ///< offset min only
  const int *__restrict__ perm;            ///< permuted only

  /// The input position k' multiplies: perm[k'] for an act-order weight, else k'.
  __device__ __forceinline__ long long input(long long k) const {
    return Permuted ? (long long)perm[k] : k;
  }

  /// The group parameters of row n at position k: the scale, and what decode uses of
  /// the offset (2^23 + z, or 2^23 + 2^(b-1) for none, as loom_q_biased; or the min).
  __device__ __forceinline__ void group(long long n, long long k, float &s,
                                        float &offset) const {
    const long long at = n * kGroups + (G == 0 ? 0 : k / G);
    s = loom_q_float(scales[at]);
    if (Offset == LOOM_Q_ZERO)
      offset = loom_q_biased(zeros[at]);
    else if (Offset == LOOM_Q_MIN)
      offset = loom_q_float(mins[at]);
    else
      offset = loom_q_biased(1u << (kBits - 1));
  }

  /// The float32 value of code c in a group with scale s and `offset` (from group()),
  /// before rounding to WT. __fmul_rn keeps s * c - m from contracting into an FMA,
  /// which would round once where the reference rounds twice.
  __device__ __forceinline__ float decode(unsigned c, float s, float offset) const {
    if (Code == LOOM_Q_FP8)
      return loom_q_e4m3(c) * s;
    if (Offset == LOOM_Q_MIN)
      return __fmul_rn(s, loom_q_biased(c) - 8388608.0f) - offset;
    return s * (loom_q_biased(c) - offset);
  }

  /// Code j (0 .. 15) of a piece of 16 held in `words` (int4: words[0..1], 8-bit:
  /// words[0..3]; little-endian, so byte b of the piece is bits 8(b%4) of word b/4).
  __device__ __forceinline__ static unsigned pieceCode(const unsigned words[4], int j) {
    return Code == LOOM_Q_INT4 ? (words[j / 8] >> (4 * (j % 8))) & 15u
                               : (words[j / 4] >> (8 * (j % 4))) & 255u;
  }

  /// Whether the 16-position piece at k (a multiple of 16) can be read with one
  /// aligned 8-byte (int4) or 16-byte (8-bit) load: every row's pieces start on such a
  /// boundary when K is a multiple of 16 (the buffers are 256-byte aligned).
  static constexpr bool kVectorPieces = K % 16 == 0;

  /// Loads the raw codes of row n, positions k .. k + 15 (kVectorPieces; k + 16 <= K).
  __device__ __forceinline__ void loadPiece(long long n, long long k, unsigned words[4]) const {
    if (Code == LOOM_Q_INT4) {
      const uint2 v = __ldg(reinterpret_cast<const uint2 *>(codes + n * kRowBytes + k / 2));
      words[0] = v.x;
      words[1] = v.y;
      words[2] = words[3] = 0u;
    } else {
      const uint4 v = __ldg(reinterpret_cast<const uint4 *>(codes + n * kRowBytes + k));
      words[0] = v.x;
      words[1] = v.y;
      words[2] = v.z;
      words[3] = v.w;
    }
  }

  /// The 16 weights of row n at positions k .. k + 15 (k a multiple of 16, one group)
  /// from their raw codes, each rounded to WT.
  __device__ __forceinline__ void dequant16(long long n, long long k, const unsigned words[4],
                                            float w[16]) const {
    float s, offset;
    group(n, k, s, offset);
#pragma unroll
    for (int j = 0; j < 16; j += 2) {
      w[j] = decode(pieceCode(words, j), s, offset);
      w[j + 1] = decode(pieceCode(words, j + 1), s, offset);
      loom_q_round2<WT>(w[j], w[j + 1]);
    }
  }

  /// The weight (n, k) alone (k < K), rounded to WT: for shapes the pieces cannot take.
  __device__ __forceinline__ float at(long long n, long long k) const {
    const unsigned c = Code == LOOM_Q_INT4
                           ? (codes[n * kRowBytes + k / 2] >> (4 * (k & 1))) & 15u
                           : codes[n * kRowBytes + k];
    float s, offset;
    group(n, k, s, offset);
    float w = decode(c, s, offset), unused = 0.0f;
    loom_q_round2<WT>(w, unused);
    return w;
  }
};

/// Reads 16 consecutive activations of type X (16-byte aligned) as floats.
__device__ __forceinline__ void loom_q_load16(const float *p, float v[16]) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float4 f = *reinterpret_cast<const float4 *>(p + 4 * i);
    v[4 * i] = f.x;
    v[4 * i + 1] = f.y;
    v[4 * i + 2] = f.z;
    v[4 * i + 3] = f.w;
  }
}
__device__ __forceinline__ void loom_q_load16(const __nv_bfloat16 *p, float v[16]) {
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const uint4 u = *reinterpret_cast<const uint4 *>(p + 8 * i);
    const __nv_bfloat162 *pairs = reinterpret_cast<const __nv_bfloat162 *>(&u);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 f = __bfloat1622float2(pairs[j]);
      v[8 * i + 2 * j] = f.x;
      v[8 * i + 2 * j + 1] = f.y;
    }
  }
}
__device__ __forceinline__ void loom_q_load16(const __half *p, float v[16]) {
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const uint4 u = *reinterpret_cast<const uint4 *>(p + 8 * i);
    const __half2 *pairs = reinterpret_cast<const __half2 *>(&u);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 f = __half22float2(pairs[j]);
      v[8 * i + 2 * j] = f.x;
      v[8 * i + 2 * j + 1] = f.y;
    }
  }
}

/// The e4m3fn bit pattern nearest `v` (round to nearest even; beyond +-448 saturates
/// to +-448; NaN stays NaN), as loom::floatToFp8e4m3 on the host.
__device__ __forceinline__ unsigned loom_q_to_e4m3(float v) {
  const unsigned sign = (__float_as_uint(v) >> 24) & 0x80u;
  const float a = fabsf(v);
  if (a != a)
    return sign | 0x7fu;
  if (a >= 448.0f)
    return sign | 0x7eu;
  if (a < 0.015625f) // below 2^-6: subnormal m * 2^-9 (m = 8 is the first normal)
    return sign | (unsigned)__float2int_rn(a * 512.0f);
  const unsigned bits = __float_as_uint(a);
  unsigned exponent = (bits >> 23) - 120u; // e - 127 + 7
  unsigned keep = (bits >> 20) & 7u, rest = bits & 0xfffffu;
  if (rest > 0x80000u || (rest == 0x80000u && (keep & 1u)))
    ++keep;
  if (keep == 8u) {
    keep = 0u;
    ++exponent;
  }
  const unsigned code = (exponent << 3) | keep;
  return sign | (code > 0x7eu ? 0x7eu : code);
}
