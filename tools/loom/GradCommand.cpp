//===- GradCommand.cpp - `loom grad` ----------------------------------------===//
//
// The training gradients of a model on the CPU reference executor: the HF importer's
// grad entry (the causal-LM cross-entropy, differentiated by loom-autodiff) run on a
// batch, `loss` and `grad.<parameter>` written as float32 safetensors, optionally
// compared with reference values (PyTorch's, ../shared/training/README.md).
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "Training.h"
#include "compiler/reference/Kernels.h"
#include "compiler/reference/Reference.h"

#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"
#include "loom/support/Safetensors.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace loom::cli {

using reference::Tensor;

namespace {

/// Compares every output that `expected` also has; prints one line per tensor and a
/// summary. True when every compared tensor is within `tolerance`.
bool checkOutputs(const std::vector<reference::Port> &ports,
                  const std::vector<Tensor> &outputs,
                  const std::map<std::string, Tensor> &expected, const std::string &path,
                  double tolerance) {
  bool passed = true;
  int compared = 0, grads = 0;
  double worstGrad = 0, lossError = -1;
  std::string worstName;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string &name = ports[i].name;
    auto it = expected.find(name);
    if (it == expected.end())
      continue;
    ++compared;
    reference::TensorDifference d = reference::compareTensors(outputs[i], it->second);
    if (d.shapeDiffers) {
      std::printf("%-52s FAIL: shape %s, expected %s\n", name.c_str(),
                  outputs[i].describe().c_str(), it->second.describe().c_str());
      passed = false;
      continue;
    }
    bool ok = d.relative <= tolerance;
    passed = passed && ok;
    std::printf("%-52s %s: max abs error %.3g, relative %.3g\n", name.c_str(),
                ok ? "ok" : "FAIL", d.maxAbsolute, d.relative);
    if (name == "loss") {
      lossError = d.relative;
    } else {
      ++grads;
      if (d.relative >= worstGrad) {
        worstGrad = d.relative;
        worstName = name;
      }
    }
  }
  int missing = static_cast<int>(ports.size()) - compared;
  std::printf(
      "checked %d tensors against %s (%d of the outputs not there): loss relative "
      "error %.3g; %d gradients, largest relative error %.3g (%s); tolerance "
      "%.3g: %s\n",
      compared, path.c_str(), missing, lossError, grads, worstGrad, worstName.c_str(),
      tolerance, passed ? "ok" : "FAIL");
  return passed && compared > 0;
}

/// Compares each gradient that a reference's `grad_summaries` (name -> l2, max_abs)
/// describes with its summary, both relative: the check for gradients a reference file
/// leaves out (../shared/training/README.md). True when all are within `tolerance`.
bool checkSummaries(const std::vector<reference::Port> &ports,
                    const std::vector<Tensor> &outputs, const std::string &path,
                    double tolerance) {
  std::string text, error;
  json::Value root;
  const json::Value *summaries = nullptr;
  if (!readTextFile(path, text, error) || !json::parse(text, root, error) ||
      !(summaries = root.get("grad_summaries")) || !summaries->isObject()) {
    std::fprintf(stderr, "loom grad: %s: %s\n", path.c_str(),
                 error.empty() ? "no object grad_summaries" : error.c_str());
    return false;
  }
  std::map<std::string, const Tensor *> byName;
  for (size_t i = 0; i < outputs.size(); ++i)
    byName[ports[i].name] = &outputs[i];
  bool passed = true;
  int checked = 0;
  double worst = 0;
  std::string worstName;
  for (const auto &[name, summary] : summaries->asObject()) {
    auto it = byName.find("grad." + name);
    const json::Value *l2 = summary.get("l2"), *maxAbs = summary.get("max_abs");
    if (it == byName.end() || !l2 || !maxAbs || !l2->isNumber() || !maxAbs->isNumber()) {
      std::printf("grad.%s: FAIL: %s\n", name.c_str(),
                  it == byName.end() ? "not computed here" : "summary lacks l2 or max_abs");
      passed = false;
      continue;
    }
    double sum = 0, largest = 0;
    for (double g : it->second->floats) {
      sum += g * g;
      largest = std::max(largest, std::fabs(g));
    }
    auto relative = [](double mine, double ref) {
      return ref == 0.0 ? std::fabs(mine) : std::fabs(mine - ref) / std::fabs(ref);
    };
    double error = std::max(relative(std::sqrt(sum), l2->asNumber()),
                            relative(largest, maxAbs->asNumber()));
    if (error > worst) {
      worst = error;
      worstName = name;
    }
    passed = passed && error <= tolerance;
    ++checked;
  }
  std::printf("grad summaries: %d gradients against %s, largest relative error of l2 or "
              "max_abs %.3g (%s); tolerance %.3g: %s\n",
              checked, path.c_str(), worst, worstName.c_str(), tolerance,
              passed ? "ok" : "FAIL");
  return passed && checked > 0;
}

} // namespace

int runGrad(int argc, char **argv) {
  const char *usage =
      "usage: loom grad <hf-folder> --batch batch.safetensors [-o out.safetensors]\n"
      "                 [--dtype f32|bf16|f16] [--rope-frequencies f32|stored]\n"
      "                 [--micro-batches N] [--lora <PEFT adapter folder>]\n"
      "                 [--loss cross-entropy|distill[:T]]\n"
      "                 [--check reference.safetensors [--tolerance 1e-4]]\n"
      "                 [--check-summaries reference.json]\n"
      "Computes the causal-LM cross-entropy of a batch (input_ids, attention_mask,\n"
      "labels: int64 [batch, seq]; attention_mask may be left out; labels shifted by\n"
      "one, -100 ignored, the mean over the counted positions) and its gradient with\n"
      "respect to every parameter, on the CPU reference executor. Writes `loss` and\n"
      "`grad.<parameter name>` as float32. With --check, every tensor present in both\n"
      "files is compared: max |diff| / max |reference| per tensor, failing above the\n"
      "tolerance. RoPE frequencies are float32 unless --rope-frequencies stored.\n"
      "--micro-batches N splits the batch's rows into N parts and adds their losses and\n"
      "gradients, each weighted by its share of the counted labels (accumulation).\n"
      "--lora adds the adapter to the layers it targets and differentiates only its\n"
      "tensors (the base is frozen): `grad.<adapter tensor name>`.\n"
      "--loss distill[:T] (temperature T, default 2) is knowledge distillation instead:\n"
      "T^2 times the mean KL(softmax(teacher / T) || softmax(student / T)) over the\n"
      "positions of position_mask (int64 [batch, seq]), from teacher_logits (f32\n"
      "[batch, seq, vocab]); --batch may be given once per file the inputs are in.\n"
      "--loss dpo[:beta] (default 0.1) is DPO's sigmoid loss of pairs: inputs\n"
      "chosen_input_ids, rejected_input_ids, chosen_loss_mask, rejected_loss_mask\n"
      "(int64 [pairs, seq]), ref_chosen_logps, ref_rejected_logps (f32 [pairs]).\n"
      "--check-summaries compares every gradient that the file's grad_summaries\n"
      "describe by its l2 norm and largest magnitude (relative, --tolerance).\n";
  std::string model, outputPath, checkPath, loraPath, summariesPath;
  std::vector<std::string> batchPaths;
  ImportOptions importOptions;
  // Training loads a checkpoint in the training type, as from_pretrained(dtype=...)
  // does: the RoPE frequencies are computed in float32, not rounded to the stored type.
  importOptions.ropeFrequencies = "f32";
  double tolerance = 1e-4;
  int microBatches = 1;
  OptionParser parser("loom grad", usage);
  parser.positional("the model", model, true)
      .list("--batch", batchPaths)
      .text("-o|--output", outputPath)
      .text("--check", checkPath)
      .text("--check-summaries", summariesPath)
      .text("--lora", loraPath)
      .number("--tolerance", tolerance, 0, 1e30)
      .integer("--micro-batches", microBatches, 1, 1 << 20)
      .custom([&](int argc, char **argv, int &i, std::string &error) {
        return std::string(argv[i]) == "--entry"
                   ? 0
                   : takeImportOption(argc, argv, i, importOptions, error);
      });
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  if (batchPaths.empty())
    return parser.misuse("give the batch with --batch");
  std::string error;
  std::map<std::string, Tensor> adapter;
  if (!loraPath.empty() && !readAdapter(loraPath, importOptions.lora, adapter, error)) {
    std::fprintf(stderr, "loom grad: %s\n", error.c_str());
    return 1;
  }
  std::unique_ptr<reference::Executor> executor =
      openGradEntry(model, importOptions, adapter, error);
  if (!executor) {
    std::fprintf(stderr, "loom grad: %s\n", error.c_str());
    return 1;
  }
  std::map<std::string, reference::ElementType> outputTypes;
  for (const reference::Port &port : executor->outputs())
    outputTypes[port.name] = port.type;
  std::map<std::string, Tensor> inputs;
  if (!readBatch(batchPaths, *executor, inputs, error)) {
    std::fprintf(stderr, "loom grad: %s\n", error.c_str());
    return 1;
  }
  std::vector<Tensor> outputs;
  auto start = std::chrono::steady_clock::now();
  if (!runGradients(*executor, inputs, microBatches, outputs, error)) {
    std::fprintf(stderr, "loom grad: %s\n", error.c_str());
    return 1;
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::vector<reference::Port> &ports = executor->outputs();
  std::fprintf(stderr,
               "loom grad: loss %.9g and %zu gradients in %.2f s on the CPU reference "
               "executor\n",
               outputs[0].floats[0], outputs.size() - 1, seconds);

  if (!outputPath.empty()) {
    std::vector<std::pair<std::string, const Tensor *>> written;
    for (size_t i = 0; i < outputs.size(); ++i)
      written.push_back({ports[i].name, &outputs[i]});
    if (!writeTensors(outputPath, written, error)) {
      std::fprintf(stderr, "loom grad: %s\n", error.c_str());
      return 1;
    }
  }
  bool passed = true;
  if (!checkPath.empty()) {
    std::map<std::string, Tensor> expected;
    if (!readNamedTensors(checkPath, outputTypes, expected, error)) {
      std::fprintf(stderr, "loom grad: %s\n", error.c_str());
      return 1;
    }
    passed = checkOutputs(ports, outputs, expected, checkPath, tolerance);
  }
  if (!summariesPath.empty())
    passed = checkSummaries(ports, outputs, summariesPath, tolerance) && passed;
  return passed ? 0 : 1;
}

} // namespace loom::cli
