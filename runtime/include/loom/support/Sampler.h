//===- Sampler.h - Picking the next token from logits ---------------*- C++ -*-===//
//
// The CPU sampler (the GPU one of the serving path follows the same rules): greedy when
// the temperature is 0, otherwise logits / temperature, then top-k, then top-p
// (nucleus), then a draw from the renormalized distribution with a seeded generator.
// Greedy picks the lowest index among equal maxima, as torch.argmax does.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_SAMPLER_H
#define LOOM_SUPPORT_SAMPLER_H

#include <cstdint>
#include <random>

namespace loom {

struct SamplingOptions {
  double temperature = 0.0; // 0: greedy
  int64_t topK = 0;         // 0: no limit
  double topP = 1.0;        // 1: no limit
  uint64_t seed = 0;
};

class Sampler {
public:
  explicit Sampler(const SamplingOptions &options) : options_(options), rng_(options.seed) {}
  /// The next token from `count` logits.
  int32_t sample(const float *logits, int64_t count);

private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

} // namespace loom

#endif // LOOM_SUPPORT_SAMPLER_H
