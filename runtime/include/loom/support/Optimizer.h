//===- Optimizer.h - AdamW, gradient clipping, learning-rate schedules -*- C++ -*-===//
//
// The optimizer's arithmetic, one definition for every backend: `loom train` runs it
// on the host over the reference executor's gradients, and a GPU kernel of the same
// update must match it. Float32 throughout, as torch.optim.AdamW computes
// (../shared/training/README.md, section 4). No MLIR, no tensors: plain arrays.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_OPTIMIZER_H
#define LOOM_SUPPORT_OPTIMIZER_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace loom {

/// torch.optim.AdamW's hyper-parameters (its defaults, but weight decay 0.01).
struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01;
};

/// One AdamW step `step` (1-based) of `n` elements with learning rate `lr`:
///   p = p * (1 - lr * wd)                        decoupled decay, first
///   m = beta1 * m + (1 - beta1) * g ;  v = beta2 * v + (1 - beta2) * g^2
///   p = p - (lr / (1 - beta1^step)) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
/// `m` and `v` start at zero and are updated in place. The bias corrections and the
/// step size are computed in double and applied in float, as PyTorch's single-tensor
/// implementation does (Python floats against float32 tensors).
void adamwStep(float *param, const float *grad, float *m, float *v, size_t n,
               int64_t step, double lr, const AdamWOptions &options);

/// The factor torch.nn.utils.clip_grad_norm_ scales every gradient by, given the
/// global L2 norm of all of them: min(1, maxNorm / (norm + 1e-6)).
double clipFactor(double globalNorm, double maxNorm);

/// A learning-rate schedule as transformers' schedulers define it: a linear warm-up
/// from 0 over `warmup` steps, then "constant", "linear" (to 0 at `total`) or "cosine"
/// (half a cosine to 0 at `total`).
struct Schedule {
  std::string kind = "constant";
  int64_t warmup = 0, total = 1;
};

/// The multiplier of the base learning rate for 0-based optimizer step `step`
/// (transformers' lr_lambda: the first step of a warm-up runs at 0).
double scheduleFactor(const Schedule &schedule, int64_t step);

/// Whether `kind` names a schedule scheduleFactor knows.
bool isScheduleKind(const std::string &kind);

} // namespace loom

#endif // LOOM_SUPPORT_OPTIMIZER_H
