//===- OptimizerTest.cpp - AdamW, clipping and schedules against their formulas ===//

#include "loom/support/Optimizer.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace loom;

namespace {

/// The README's update written out in double for one element, `steps` times with a
/// constant gradient.
double adamwByHand(double p, double g, int steps, double lr, const AdamWOptions &o) {
  double m = 0, v = 0;
  for (int t = 1; t <= steps; ++t) {
    p *= 1 - lr * o.weightDecay;
    m = o.beta1 * m + (1 - o.beta1) * g;
    v = o.beta2 * v + (1 - o.beta2) * g * g;
    double bc1 = 1 - std::pow(o.beta1, t), bc2 = 1 - std::pow(o.beta2, t);
    p -= lr / bc1 * m / (std::sqrt(v) / std::sqrt(bc2) + o.eps);
  }
  return p;
}

TEST(Optimizer, AdamWMatchesTheFormula) {
  AdamWOptions o;
  float p[3] = {0.5f, -1.25f, 2.0f}, g[3] = {0.1f, -3.0f, 0.0f}, m[3] = {}, v[3] = {};
  for (int t = 1; t <= 5; ++t)
    adamwStep(p, g, m, v, 3, t, 1e-3, o);
  EXPECT_NEAR(p[0], adamwByHand(0.5, 0.1, 5, 1e-3, o), 1e-6);
  EXPECT_NEAR(p[1], adamwByHand(-1.25, -3.0, 5, 1e-3, o), 1e-6);
  // A zero gradient leaves the moments at zero: only the decay applies.
  EXPECT_EQ(m[2], 0.0f);
  EXPECT_NEAR(p[2], 2.0 * std::pow(1 - 1e-5, 5), 1e-6); // float32 decay factor
}

TEST(Optimizer, ClipFactor) {
  EXPECT_DOUBLE_EQ(clipFactor(0.5, 1.0), 1.0);
  EXPECT_NEAR(clipFactor(4.0, 1.0), 0.25, 1e-7);
}

TEST(Optimizer, WarmupThenCosine) {
  Schedule s{"cosine", 2, 10};
  EXPECT_DOUBLE_EQ(scheduleFactor(s, 0), 0.0); // transformers: warm-up starts at 0
  EXPECT_DOUBLE_EQ(scheduleFactor(s, 1), 0.5);
  EXPECT_DOUBLE_EQ(scheduleFactor(s, 2), 1.0);
  EXPECT_NEAR(scheduleFactor(s, 6), 0.5, 1e-12);
  EXPECT_NEAR(scheduleFactor(s, 10), 0.0, 1e-12);
  Schedule linear{"linear", 0, 4};
  EXPECT_DOUBLE_EQ(scheduleFactor(linear, 1), 0.75);
  EXPECT_FALSE(isScheduleKind("step"));
}

} // namespace
