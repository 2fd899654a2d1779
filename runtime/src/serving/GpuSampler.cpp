//===- GpuSampler.cpp - Next tokens from logits, on the GPU ---------------===//

#include "serving/GpuSampler.h"

#include "DeviceMemory.h"
#include "KernelCache.h"
#include "Status.h"

#include <algorithm>
#include <cstring>

namespace loom::rt {

namespace {

constexpr int kThreads = 1024;
/// Blocks that share the greedy rows' argmaxes, over all rows: each of a row's slices
/// reads vocab / slices logits; 16 or more rows take a block each. At batch 1 on the
/// H100 (1.1B Llama, 32000 logits) 16 blocks were 1.4% faster per decode step than one;
/// at batch 64, 16 blocks per row were 1% slower than one.
constexpr uint32_t kGreedyBlocks = 16;

const char *kSamplerSource = R"(
struct SampleRow {
  float temperature, topP, penalty;
  int topK;
  unsigned long long seed;
  int index, historyBegin, historyEnd, pad;
};

/// Block-wide reductions (every thread gets the result).
template <typename T, typename Op> __device__ T loom_reduce(T v, Op op) {
  __shared__ T partial[32];
  for (int o = 16; o > 0; o >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if ((threadIdx.x & 31) == 0)
    partial[threadIdx.x >> 5] = v;
  __syncthreads();
  T total = partial[0];
  for (int w = 1; w < (int)(blockDim.x >> 5); ++w)
    total = op(total, partial[w]);
  __syncthreads(); // partial is reused by the next reduction
  return total;
}
struct Sum { __device__ float operator()(float a, float b) const { return a + b; } };
struct Max { __device__ float operator()(float a, float b) const { return a > b ? a : b; } };
struct Min { __device__ float operator()(float a, float b) const { return a < b ? a : b; } };
struct MaxInt { __device__ int operator()(int a, int b) const { return a > b ? a : b; } };

/// A uniform float in [0, 1) from the request's seed and the token's index.
__device__ float loom_uniform(unsigned long long seed, int index) {
  unsigned long long z = seed ^ (0x9E3779B97F4A7C15ULL * (unsigned long long)(index + 1));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return (float)((z >> 40) * (1.0 / 16777216.0));
}

/// The largest of src[begin, end) and its index, the lowest among equals (index `end`
/// and minus infinity when empty); every thread gets them. Each thread's loads are
/// unrolled to be in flight together; `ReadOnly` (the kernel never writes `src`) reads
/// through the read-only cache.
template <bool ReadOnly>
__device__ int loom_argmax(const float *src, int begin, int end, float *top) {
  float best = __int_as_float(0xff800000);
  int at = end;
  #pragma unroll 8
  for (int i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float v = ReadOnly ? __ldg(src + i) : src[i];
    if (v > best) {
      best = v;
      at = i;
    }
  }
  *top = loom_reduce(best, Max());
  return -loom_reduce(best == *top ? -at : -end, MaxInt());
}

/// Row r's token goes to out[r] and, when `next` is set, to next[r] as the next step's
/// int64 token input.
__device__ __forceinline__ void loom_put(int *out, long long *next, long long r, int token) {
  out[r] = token;
  if (next)
    next[r] = token;
}

/// A grid of (rows, slices): greedy rows without a penalty are split into gridDim.y
/// slices, each block finding its slice's largest logit; the last block of a row to
/// count itself (in `counters`, zero before and after) takes the largest of the
/// slices' maxima, the lowest index among equals. Every other row is sampled by its
/// first block alone.
extern "C" __global__ void __launch_bounds__(1024)
loom_sample(const float *__restrict__ logits, long long vocab, const SampleRow *__restrict__ rows,
            const int *__restrict__ history, float *__restrict__ work,
            unsigned *__restrict__ counters, int *__restrict__ out, long long *__restrict__ next) {
  const long long r = blockIdx.x;
  const SampleRow p = rows[r];
  const float *in = logits + r * vocab;
  float *x = work + r * vocab;
  const bool greedy = p.temperature <= 0.0f;
  if (greedy && p.penalty == 1.0f) {
    const int slices = gridDim.y, per = ((int)vocab + slices - 1) / slices;
    const int begin = min((int)vocab, (int)blockIdx.y * per),
              end = min((int)vocab, begin + per);
    float top;
    const int first = loom_argmax<true>(in, begin, end, &top);
    if (slices == 1) {
      if (threadIdx.x == 0)
        loom_put(out, next, r, first);
      return;
    }
    __shared__ bool last;
    if (threadIdx.x == 0) {
      x[2 * blockIdx.y] = top;
      x[2 * blockIdx.y + 1] = __int_as_float(first < end ? first : (int)vocab);
      __threadfence();
      last = atomicAdd(counters + r, 1u) == (unsigned)slices - 1u;
    }
    __syncthreads();
    if (!last)
      return;
    __threadfence();
    float best = __int_as_float(0xff800000);
    int at = (int)vocab;
    if (threadIdx.x < slices) {
      best = __ldcg(x + 2 * threadIdx.x);
      at = __float_as_int(__ldcg(x + 2 * threadIdx.x + 1));
    }
    const float most = loom_reduce(best, Max());
    const int chosen = -loom_reduce(best == most ? -at : -(int)vocab, MaxInt());
    if (threadIdx.x == 0) {
      counters[r] = 0u;
      loom_put(out, next, r, chosen);
    }
    return;
  }
  if (blockIdx.y > 0)
    return;
  #pragma unroll 8
  for (long long i = threadIdx.x; i < vocab; i += blockDim.x)
    x[i] = in[i];
  __syncthreads();
  if (p.penalty != 1.0f) {
    for (int h = p.historyBegin + threadIdx.x; h < p.historyEnd; h += blockDim.x) {
      const int t = history[h];
      if (t >= 0 && t < vocab) {
        const float v = in[t];
        x[t] = v > 0.0f ? v / p.penalty : v * p.penalty;
      }
    }
    __syncthreads();
  }
  if (greedy) {
    // Greedy after the penalty.
    float top;
    const int first = loom_argmax<false>(x, 0, (int)vocab, &top);
    if (threadIdx.x == 0)
      loom_put(out, next, r, first);
    return;
  }
  float high = __int_as_float(0xff800000), low = __int_as_float(0x7f800000);
  #pragma unroll 8
  for (long long i = threadIdx.x; i < vocab; i += blockDim.x) {
    high = fmaxf(high, x[i]);
    low = fminf(low, x[i]);
  }
  const float top = loom_reduce(high, Max());
  float cut = loom_reduce(low, Min());
  if (p.topK > 0 && p.topK < vocab) {
    // The k-th largest logit: the highest threshold that keeps at least k.
    float lo = cut, hi = top;
    for (int step = 0; step < 40; ++step) {
      const float mid = 0.5f * (lo + hi);
      float kept = 0.0f;
      #pragma unroll 8
      for (long long i = threadIdx.x; i < vocab; i += blockDim.x)
        kept += x[i] >= mid ? 1.0f : 0.0f;
      if (loom_reduce(kept, Sum()) >= (float)p.topK) lo = mid; else hi = mid;
    }
    cut = lo;
  }
  // Unnormalized probabilities of the kept tokens (the top one has 1).
  const float inverse = 1.0f / p.temperature;
  float mass = 0.0f;
  #pragma unroll 8
  for (long long i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float q = x[i] >= cut ? __expf((x[i] - top) * inverse) : 0.0f;
    x[i] = q;
    mass += q;
  }
  float total = loom_reduce(mass, Sum());
  float floor = 0.0f;
  if (p.topP < 1.0f) {
    // The nucleus: the highest probability threshold whose kept mass reaches top_p.
    float lo = 0.0f, hi = 1.0f;
    for (int step = 0; step < 40; ++step) {
      const float mid = 0.5f * (lo + hi);
      float kept = 0.0f;
      #pragma unroll 8
      for (long long i = threadIdx.x; i < vocab; i += blockDim.x)
        kept += x[i] >= mid ? x[i] : 0.0f;
      if (loom_reduce(kept, Sum()) >= p.topP * total) lo = mid; else hi = mid;
    }
    floor = lo;
    mass = 0.0f;
    #pragma unroll 8
    for (long long i = threadIdx.x; i < vocab; i += blockDim.x)
      mass += x[i] >= floor && x[i] > 0.0f ? x[i] : 0.0f;
    total = loom_reduce(mass, Sum());
  }
  // The draw: the token where the running mass (in index order) passes u * total.
  // Each thread owns a contiguous chunk; chunk sums are scanned (shuffles within warps,
  // then the warps' totals by the first warp).
  __shared__ float prefix[32];
  const long long chunk = (vocab + blockDim.x - 1) / blockDim.x;
  const long long begin = threadIdx.x * chunk, end = begin + chunk < vocab ? begin + chunk : vocab;
  float own = 0.0f;
  int last = -1;
  #pragma unroll 8
  for (long long i = begin; i < end; ++i)
    if (x[i] > 0.0f && x[i] >= floor) {
      own += x[i];
      last = (int)i;
    }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float inclusive = own;
  for (int o = 1; o < 32; o <<= 1) {
    const float before = __shfl_up_sync(0xffffffffu, inclusive, o);
    if (lane >= o)
      inclusive += before;
  }
  if (lane == 31)
    prefix[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    const int warps = (int)(blockDim.x >> 5);
    float sum = lane < warps ? prefix[lane] : 0.0f;
    for (int o = 1; o < 32; o <<= 1) {
      const float before = __shfl_up_sync(0xffffffffu, sum, o);
      if (lane >= o)
        sum += before;
    }
    if (lane < warps)
      prefix[lane] = sum - prefix[lane];
  }
  __syncthreads();
  const float u = loom_uniform(p.seed, p.index) * total;
  float running = prefix[warp] + inclusive - own;
  // The chunk whose range holds u walks to its token (its last kept one if rounding
  // leaves u past its sum). Rounding may let two neighbours' ranges overlap: the lowest
  // index wins. None (u past every range): the last kept token.
  int mine = (int)vocab;
  if (own > 0.0f && u >= running && u < running + own) {
    mine = last;
    for (long long i = begin; i < end; ++i)
      if (x[i] > 0.0f && x[i] >= floor) {
        running += x[i];
        if (u < running) {
          mine = (int)i;
          break;
        }
      }
  }
  const int chosen = -loom_reduce(-mine, MaxInt());
  const int fallback = loom_reduce(last, MaxInt());
  if (threadIdx.x == 0)
    loom_put(out, next, r, chosen < vocab ? chosen : fallback);
}
)";

} // namespace

GpuSampler::~GpuSampler() {
  for (uint64_t buffer : {inputs_, work_, counters_})
    if (buffer)
      if (loom_status_t s = loom_device_free(device_, buffer))
        loom_status_free(s);
  loom_host_free(device_, staging_);
  loom_module_unload(module_);
}

loom_status_t GpuSampler::load() {
  if (module_)
    return nullptr;
  return loadRuntimeKernels(device_, kSamplerSource, "loom-sample.cu", arch_,
                            "sampling kernel", &module_);
}

loom_status_t GpuSampler::prepare(int64_t vocab, const std::vector<SampleRow> &rows,
                                  const std::vector<int32_t> &history) {
  rows_ = rows.size();
  vocab_ = vocab;
  if (rows.empty())
    return nullptr;
  if (loom_status_t s = load())
    return s;
  size_t rowBytes = rows.size() * sizeof(SampleRow);
  size_t bytes = rowBytes + history.size() * sizeof(int32_t);
  if (loom_status_t s = reserveDevice(device_, inputs_, inputsBytes_, bytes))
    return s;
  if (loom_status_t s = reserveDevice(device_, work_, workBytes_,
                                      rows.size() * static_cast<uint64_t>(vocab) * 4))
    return s;
  uint64_t had = counters_;
  if (loom_status_t s =
          reserveDevice(device_, counters_, countersBytes_, rows.size() * 4))
    return s;
  if (counters_ != had)
    if (loom_status_t s = loom_device_zero(device_, counters_, countersBytes_))
      return s;
  // Two steps' uploads may be queued at once (the engine prepares a step ahead before
  // the one before it has run), so they alternate between two halves of the staging.
  if (bytes > stagingBytes_) {
    loom_host_free(device_, staging_);
    staging_ = nullptr;
    stagingBytes_ = 0;
    if (loom_status_t s = loom_host_alloc(device_, 2 * bytes, &staging_))
      return s;
    stagingBytes_ = bytes;
  }
  half_ ^= 1;
  char *staged = static_cast<char *>(staging_) + half_ * stagingBytes_;
  std::memcpy(staged, rows.data(), rowBytes);
  std::memcpy(staged + rowBytes, history.data(), bytes - rowBytes);
  return loom_device_upload_async(device_, inputs_, staged, bytes);
}

loom_status_t GpuSampler::launch(uint64_t logits, uint64_t tokens, uint64_t nextTokens) {
  if (rows_ == 0)
    return nullptr;
  uint64_t rowsArg = inputs_, historyArg = inputs_ + rows_ * sizeof(SampleRow),
           workArg = work_, countersArg = counters_, outArg = tokens, logitsArg = logits,
           nextArg = nextTokens;
  int64_t vocabArg = vocab_;
  void *args[] = {&logitsArg, &vocabArg,    &rowsArg, &historyArg,
                  &workArg,   &countersArg, &outArg,  &nextArg};
  uint32_t slices = std::max<uint32_t>(1, kGreedyBlocks / static_cast<uint32_t>(rows_));
  uint32_t grid[3] = {static_cast<uint32_t>(rows_), slices, 1};
  return loom_module_launch(module_, "loom_sample", grid, kThreads, args);
}

} // namespace loom::rt
