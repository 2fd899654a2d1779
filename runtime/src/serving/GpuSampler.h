//===- GpuSampler.h - Next tokens from logits, on the GPU ---------*- C++ -*-===//
//
// One block per row of logits picks that row's next token without copying the logits
// to the host: the repetition penalty on the tokens the sequence has seen (HF's rule:
// positive logits divided by the penalty, negative ones multiplied), then greedy
// (lowest index among equal maxima, as torch.argmax), or logits / temperature,
// top-k, top-p and a draw. Top-k and top-p are thresholds found by bisection over
// the row (a token is kept when its logit is at least the k-th largest, and when its
// probability is at least the smallest one the nucleus needs; ties at a threshold are
// all kept). The draw uses a counter-based generator keyed by the request's seed and
// the index of the token being sampled, so a request's output does not depend on the
// batch it ran in.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_SERVING_GPUSAMPLER_H
#define LOOM_RUNTIME_SERVING_GPUSAMPLER_H

#include "loom/runtime.h"

#include <cstdint>
#include <string>
#include <vector>

namespace loom::rt {

/// One row's sampling parameters, as the kernel reads them (32 bytes).
struct SampleRow {
  float temperature = 0.0f; // <= 0: greedy
  float topP = 1.0f;
  float repetitionPenalty = 1.0f;
  int32_t topK = 0;
  uint64_t seed = 0;
  /// Which token of the request this is (0 for its first new token).
  int32_t index = 0;
  /// The row's seen tokens in the history array: [historyBegin, historyEnd).
  int32_t historyBegin = 0, historyEnd = 0;
  int32_t pad = 0;
};
static_assert(sizeof(SampleRow) == 40, "SampleRow layout is shared with the kernel");

class GpuSampler {
public:
  GpuSampler(loom_device_t device, std::string arch) : device_(device), arch_(std::move(arch)) {}
  GpuSampler(const GpuSampler &) = delete;
  GpuSampler &operator=(const GpuSampler &) = delete;
  ~GpuSampler();

  /// Compiles (or takes from the kernel cache) and loads the sampling kernel; `prepare`
  /// does it on first use.
  loom_status_t load();
  /// Uploads what sampling `rows.size()` rows of `vocab` f32 logits needs (the rows'
  /// parameters and the seen tokens `history` their ranges point into), queued on the
  /// device's stream: it may come before the kernels that write the logits. The upload
  /// goes through page-locked memory without waiting for the stream, in two halves
  /// taken in turn, so the caller must wait for the tokens of one step before preparing
  /// the step after the next. Rows and history of the same size as the last call's
  /// reuse its device memory; a larger call replaces it, so it must not come while a
  /// launch of the smaller one is still queued.
  loom_status_t prepare(int64_t vocab, const std::vector<SampleRow> &rows,
                        const std::vector<int32_t> &history);
  /// Queues the sampling of the prepared rows from the logits at `logits` (device); the
  /// tokens land in `tokens` (device, int32 per row) and, when `nextTokens` is not 0,
  /// also there as int64 (the token input of a decode step queued after this one).
  loom_status_t launch(uint64_t logits, uint64_t tokens, uint64_t nextTokens = 0);

private:
  loom_device_t device_;
  std::string arch_;
  loom_module_t module_ = nullptr;
  /// The rows then the history, on the device and in page-locked host memory; the
  /// per-row work copy of the logits.
  uint64_t inputs_ = 0, work_ = 0;
  uint64_t inputsBytes_ = 0, workBytes_ = 0;
  /// A counter per row for the blocks that share a greedy row, zero between launches.
  uint64_t counters_ = 0, countersBytes_ = 0;
  /// The prepared rows: how many, and their vocabulary (their history follows them
  /// in `inputs_`).
  size_t rows_ = 0;
  int64_t vocab_ = 0;
  /// Page-locked staging: two halves of stagingBytes_, the last used is half_.
  void *staging_ = nullptr;
  size_t stagingBytes_ = 0;
  int half_ = 0;
};

} // namespace loom::rt

#endif // LOOM_RUNTIME_SERVING_GPUSAMPLER_H
