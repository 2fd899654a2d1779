//===- Optimizer.cpp - AdamW, gradient clipping, learning-rate schedules ---===//

#include "loom/support/Optimizer.h"

#include <algorithm>
#include <cmath>

namespace loom {

void adamwStep(float *param, const float *grad, float *m, float *v, size_t n,
               int64_t step, double lr, const AdamWOptions &options) {
  const float decay = static_cast<float>(1.0 - lr * options.weightDecay);
  const float beta2 = static_cast<float>(options.beta2);
  const float oneMinusBeta2 = static_cast<float>(1.0 - options.beta2);
  const double bc1 = 1.0 - std::pow(options.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(options.beta2, static_cast<double>(step));
  const float stepSize = static_cast<float>(lr / bc1);
  const float bc2Sqrt = static_cast<float>(std::sqrt(bc2));
  const float eps = static_cast<float>(options.eps);
  const float lerpWeight = static_cast<float>(1.0 - options.beta1);
  for (size_t i = 0; i < n; ++i) {
    float g = grad[i];
    param[i] *= decay;
    // PyTorch moves m towards g by lerp (m + w * (g - m)), not by two products.
    m[i] = m[i] + lerpWeight * (g - m[i]);
    v[i] = v[i] * beta2 + oneMinusBeta2 * (g * g);
    float denom = std::sqrt(v[i]) / bc2Sqrt + eps;
    param[i] -= stepSize * (m[i] / denom);
  }
}

double clipFactor(double globalNorm, double maxNorm) {
  return std::min(1.0, maxNorm / (globalNorm + 1e-6));
}

bool isScheduleKind(const std::string &kind) {
  return kind == "constant" || kind == "linear" || kind == "cosine";
}

double scheduleFactor(const Schedule &schedule, int64_t step) {
  if (step < schedule.warmup)
    return static_cast<double>(step) /
           static_cast<double>(std::max<int64_t>(1, schedule.warmup));
  if (schedule.kind == "constant")
    return 1.0;
  double progress =
      static_cast<double>(step - schedule.warmup) /
      static_cast<double>(std::max<int64_t>(1, schedule.total - schedule.warmup));
  if (schedule.kind == "linear")
    return std::max(0.0, 1.0 - progress);
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

} // namespace loom
