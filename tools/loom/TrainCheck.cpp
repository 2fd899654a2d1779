//===- TrainCheck.cpp - losses.json and its comparison with a reference ----===//
//
// What `loom train --check-losses/--check-params` compares, with the tolerances of
// ../shared/training/README.md: losses relative, parameters absolute per element
// (AdamW magnifies float32 rounding where a gradient is near zero), update l2 relative.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "Training.h"

#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"

#include <cmath>
#include <cstdio>

namespace loom::cli {

using reference::Tensor;

std::string lossesJson(int64_t steps, const std::vector<double> &losses, double lr,
                       const AdamWOptions &hyper) {
  auto number = [](double x) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", x);
    return std::string(text);
  };
  auto list = [&](size_t count) {
    std::string text = "[";
    for (size_t i = 0; i < count; ++i)
      text += (i ? ", " : "") + number(losses[i]);
    return text + "]";
  };
  return "{\n \"format\": \"loom-training\",\n \"optimizer\": \"AdamW\",\n \"hyperparameters\": {\"lr\": " + number(lr) +
         ", \"beta1\": " + number(hyper.beta1) + ", \"beta2\": " + number(hyper.beta2) +
         ", \"eps\": " + number(hyper.eps) +
         ", \"weight_decay\": " + number(hyper.weightDecay) +
         "},\n \"steps\": " + std::to_string(steps) +
         ",\n \"losses\": " + list(losses.size() - 1) +
         ",\n \"loss_after_last_step\": " + number(losses.back()) +
         ",\n \"all_losses\": " + list(losses.size()) + "\n}\n";
}

bool checkLosses(const std::vector<double> &losses,
                 const std::map<std::string, Tensor> &final,
                 const std::map<std::string, Tensor> &initial, const std::string &path,
                 double tolerance, double toleranceAbs) {
  std::string text, error;
  json::Value root;
  if (!readTextFile(path, text, error) || !json::parse(text, root, error)) {
    std::fprintf(stderr, "loom train: %s: %s\n", path.c_str(), error.c_str());
    return false;
  }
  const json::Value *expected = root.get("all_losses");
  if (!expected || !expected->isArray() || expected->asArray().size() != losses.size()) {
    std::printf("losses: FAIL: %s has no all_losses of %zu numbers\n", path.c_str(),
                losses.size());
    return false;
  }
  bool passed = true;
  double worst = 0;
  for (size_t i = 0; i < losses.size(); ++i) {
    double ref = expected->asArray()[i].asNumber();
    double rel = std::fabs(losses[i] - ref) / std::fabs(ref);
    worst = std::max(worst, rel);
    passed &= rel <= tolerance;
    std::printf("loss %zu: %.9g, expected %.9g, relative error %.3g\n", i, losses[i], ref,
                rel);
  }
  std::printf("losses: %zu compared, largest relative error %.3g, tolerance %.3g: %s\n",
              losses.size(), worst, tolerance, passed ? "ok" : "FAIL");

  const json::Value *summaries = root.get("update_summaries");
  if (!summaries || !summaries->isObject())
    return passed;
  int checked = 0;
  double worstL2 = 0, worstMax = 0;
  bool updatesPassed = true;
  for (const auto &[name, summary] : summaries->asObject()) {
    auto f = final.find(name), i = initial.find(name);
    const json::Value *l2 = summary.get("l2"), *maxAbs = summary.get("max_abs");
    if (f == final.end() || i == initial.end() || !l2 || !maxAbs) {
      std::printf("update %s: FAIL: not trained here\n", name.c_str());
      updatesPassed = false;
      continue;
    }
    double sum = 0, largest = 0;
    for (size_t j = 0; j < f->second.floats.size(); ++j) {
      double d = f->second.floats[j] - i->second.floats[j];
      sum += d * d;
      largest = std::max(largest, std::fabs(d));
    }
    double l2Error = std::fabs(std::sqrt(sum) - l2->asNumber()) / l2->asNumber();
    double maxError = std::fabs(largest - maxAbs->asNumber());
    worstL2 = std::max(worstL2, l2Error);
    worstMax = std::max(worstMax, maxError);
    updatesPassed &= l2Error <= 2e-4 && maxError <= toleranceAbs;
    ++checked;
  }
  std::printf("update summaries: %d tensors, largest l2 relative error %.3g (tolerance "
              "2e-4), largest max_abs error %.3g (tolerance %.3g): %s\n",
              checked, worstL2, worstMax, toleranceAbs, updatesPassed ? "ok" : "FAIL");
  return passed && updatesPassed;
}

bool checkParameters(const std::map<std::string, Tensor> &params, const std::string &path,
                     double toleranceAbs) {
  std::map<std::string, Tensor> expected;
  std::string error;
  if (!readAllTensors(path, expected, error)) {
    std::fprintf(stderr, "loom train: %s\n", error.c_str());
    return false;
  }
  bool passed = true;
  int compared = 0;
  double worst = 0;
  std::string worstName;
  for (const auto &[name, ref] : expected) {
    auto it = params.find(name);
    if (it == params.end()) {
      std::printf("%-52s FAIL: not trained here\n", name.c_str());
      passed = false;
      continue;
    }
    reference::TensorDifference d = reference::compareTensors(it->second, ref);
    bool ok = !d.shapeDiffers && d.maxAbsolute <= toleranceAbs;
    passed &= ok;
    ++compared;
    if (d.maxAbsolute >= worst) {
      worst = d.maxAbsolute;
      worstName = name;
    }
    std::printf("%-52s %s: max abs error %.3g\n", name.c_str(), ok ? "ok" : "FAIL",
                d.maxAbsolute);
  }
  std::printf("parameters: %d compared with %s, largest absolute error %.3g (%s), "
              "tolerance %.3g: %s\n",
              compared, path.c_str(), worst, worstName.c_str(), toleranceAbs,
              passed ? "ok" : "FAIL");
  return passed && compared > 0;
}

} // namespace loom::cli
