//===- Sampler.cpp - Picking the next token from logits --------------------===//

#include "loom/support/Sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace loom {

int32_t Sampler::sample(const float *logits, int64_t count) {
  if (options_.temperature <= 0.0)
    return static_cast<int32_t>(std::max_element(logits, logits + count) - logits);

  // Candidates by decreasing logit (stable: lower index first among equals).
  std::vector<int32_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  if (options_.topK > 0 && options_.topK < count)
    order.resize(options_.topK);

  // Softmax of logits / temperature over the candidates.
  std::vector<double> p(order.size());
  double top = logits[order[0]] / options_.temperature, sum = 0;
  for (size_t i = 0; i < order.size(); ++i)
    sum += p[i] = std::exp(logits[order[i]] / options_.temperature - top);
  for (double &x : p)
    x /= sum;

  // Nucleus: the smallest prefix whose probability reaches top_p (at least one token).
  if (options_.topP < 1.0) {
    double cumulative = 0;
    size_t keep = 0;
    while (keep < p.size() && (keep == 0 || cumulative < options_.topP))
      cumulative += p[keep++];
    p.resize(keep);
    order.resize(keep);
  }
  std::discrete_distribution<size_t> pick(p.begin(), p.end());
  return order[pick(rng_)];
}

} // namespace loom
