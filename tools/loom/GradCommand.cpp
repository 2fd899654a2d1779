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

#include "loom/support/Safetensors.h"

#include <algorithm>
#include <chrono>
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

} // namespace

int runGrad(int argc, char **argv) {
  const char *usage =
      "usage: loom grad <hf-folder> --batch batch.safetensors [-o out.safetensors]\n"
      "                 [--dtype f32|bf16|f16] [--rope-frequencies f32|stored]\n"
      "                 [--micro-batches N] [--lora <PEFT adapter folder>]\n"
      "                 [--check reference.safetensors [--tolerance 1e-4]]\n"
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
      "tensors (the base is frozen): `grad.<adapter tensor name>`.\n";
  std::string model, batchPath, outputPath, checkPath, loraPath;
  ImportOptions importOptions;
  // Training loads a checkpoint in the training type, as from_pretrained(dtype=...)
  // does: the RoPE frequencies are computed in float32, not rounded to the stored type.
  importOptions.ropeFrequencies = "f32";
  double tolerance = 1e-4;
  int microBatches = 1;
  OptionParser parser("loom grad", usage);
  parser.positional("the model", model, true)
      .text("--batch", batchPath)
      .text("-o|--output", outputPath)
      .text("--check", checkPath)
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
  if (batchPath.empty())
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
  if (!readBatch(batchPath, *executor, inputs, error)) {
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
  if (checkPath.empty())
    return 0;
  std::map<std::string, Tensor> expected;
  if (!readNamedTensors(checkPath, outputTypes, expected, error)) {
    std::fprintf(stderr, "loom grad: %s\n", error.c_str());
    return 1;
  }
  return checkOutputs(ports, outputs, expected, checkPath, tolerance) ? 0 : 1;
}

} // namespace loom::cli
