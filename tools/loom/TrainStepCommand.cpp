//===- TrainStepCommand.cpp - `loom train <artifact>` on the GPU ------------===//
//
// Trains with a compiled `train_step` artifact (`loom compile --entry train_step`,
// docs/training.md): the parameters start as the checkpoint's (as float32), the AdamW
// moments at zero; each step runs the artifact on one batch and its outputs (the
// parameters and moments after the step) become the next step's inputs. The step's
// scalars (lr, step_size = lr / (1 - b1^t), bias2_root = sqrt(1 - b2^t)) are computed
// here in double, as PyTorch computes them. This build's first loop goes through host
// memory each step; the runtime keeping them on the device is the next step.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "Options.h"

#include "loom/runtime.h"
#include "loom/support/Checkpoint.h"
#include "loom/support/Files.h"
#include "loom/support/Float16.h"
#include "loom/support/Json.h"
#include "loom/support/Safetensors.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace loom::cli {

namespace {

/// A host tensor that owns its bytes.
struct Owned {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
  loom_host_tensor_t view() const {
    loom_host_tensor_t t{};
    t.name = name.c_str();
    t.dtype = dtype.c_str();
    t.rank = static_cast<int32_t>(shape.size());
    for (size_t d = 0; d < shape.size() && d < 8; ++d)
      t.shape[d] = shape[d];
    t.data = const_cast<char *>(bytes.data());
    t.bytes = bytes.size();
    return t;
  }
};

Owned scalar(const std::string &name, double value) {
  float f = static_cast<float>(value);
  return {name, "F32", {}, std::string(reinterpret_cast<const char *>(&f), sizeof f)};
}

/// Checkpoint tensor `name` as float32 bytes.
bool loadFloat32(const Checkpoint &checkpoint, const std::string &name,
                 const std::vector<int64_t> &shape, std::string &out, std::string &error) {
  const TensorInfo *info = checkpoint.find(name);
  if (!info) {
    error = "the checkpoint has no tensor '" + name + "'";
    return false;
  }
  if (info->shape != shape) {
    error = "tensor '" + name + "' does not have the artifact's shape";
    return false;
  }
  std::string raw;
  if (!readTensorBytes(checkpoint.shardOf(*info), *info, raw, error))
    return false;
  size_t count = raw.size() / dtypeSize(info->dtype);
  out.resize(count * 4);
  for (size_t i = 0; i < count; ++i) {
    float v = static_cast<float>(loadElement(info->dtype, raw.data(), static_cast<int64_t>(i)));
    std::memcpy(out.data() + 4 * i, &v, 4);
  }
  return true;
}

} // namespace

int runTrainStep(int argc, char **argv) {
  const char *usage =
      "usage: loom train <train_step artifact> --weights <model folder>\n"
      "                  --data batch.safetensors [--steps 1] [--lr 1e-3]\n"
      "                  [--betas 0.9,0.999] [--device N]\n"
      "                  [--check-losses losses.json [--loss-tolerance 1e-4]]\n"
      "Trains on the GPU with an artifact of `loom compile --entry train_step`: the\n"
      "parameters start as the checkpoint's, the AdamW moments at zero, and each step's\n"
      "outputs are the next step's inputs. Prints each step's loss; --check-losses\n"
      "compares them (and the loss after the last step) with a losses.json's\n"
      "all_losses (relative).\n";
  std::string artifact, weights, data, checkLosses, betas = "0.9,0.999";
  int64_t steps = 1;
  int ordinal = 0;
  double lr = 1e-3, tolerance = 1e-4;
  OptionParser parser("loom train", usage);
  parser.positional("the artifact", artifact, true)
      .text("--weights", weights)
      .text("--data", data)
      .integer("--steps", steps, 1, 1 << 30)
      .number("--lr", lr, 0, 1e30)
      .text("--betas", betas)
      .integer("--device", ordinal, 0, 1024)
      .text("--check-losses", checkLosses)
      .number("--loss-tolerance", tolerance, 0, 1e30);
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  if (weights.empty() || data.empty())
    return parser.misuse("give --weights and --data");
  double beta1 = 0, beta2 = 0;
  if (std::sscanf(betas.c_str(), "%lf,%lf", &beta1, &beta2) != 2 || !(beta1 >= 0) ||
      !(beta1 < 1) || !(beta2 >= 0) || !(beta2 < 1))
    return parser.misuse("--betas wants two numbers in [0, 1), e.g. 0.9,0.999");
  auto fail = [](const std::string &why) {
    std::fprintf(stderr, "loom train: %s\n", why.c_str());
    return 1;
  };
  std::string error, text;
  json::Value manifest;
  if (!readTextFile(artifact + "/manifest.json", text, error) ||
      !json::parse(text, manifest, error))
    return fail(error);
  const json::Value *inputList = manifest.get("inputs"), *buffers = manifest.get("buffers");
  if (!inputList || !inputList->isArray() || !buffers || !buffers->isArray())
    return fail(artifact + "/manifest.json has no inputs or buffers");

  // The inputs: the batch's tensors, parameters from the checkpoint, zero moments.
  Checkpoint checkpoint;
  if (!checkpoint.open(weights, error))
    return fail(error);
  SafetensorsHeader batchFile;
  if (!readSafetensorsHeader(data, batchFile, error))
    return fail(error);
  std::map<std::string, Owned> inputs;
  bool trainStep = false;
  for (const json::Value &port : inputList->asArray()) {
    const json::Value *nameValue = port.get("name");
    if (!nameValue || !nameValue->isString())
      return fail(artifact + "/manifest.json: an input has no name");
    const std::string &name = nameValue->asString();
    if (name == "lr" || name == "step_size" || name == "bias2_root") {
      trainStep = true;
      continue;
    }
    bool param = name.rfind("param.", 0) == 0, moment = name.rfind("adam_", 0) == 0;
    if (!param && !moment) {
      const TensorInfo *info = nullptr;
      for (const TensorInfo &t : batchFile.tensors)
        if (t.name == name)
          info = &t;
      if (!info)
        return fail(data + " has no tensor '" + name + "', which the step takes");
      Owned t{name, dtypeName(info->dtype), info->shape, {}};
      if (!readTensorBytes(batchFile, *info, t.bytes, error))
        return fail(error);
      inputs[name] = std::move(t);
      continue;
    }
    // The parameter's shape: its buffer's.
    const json::Value *buffer = port.get("buffer"), *shape = nullptr;
    if (buffer && buffer->isInteger() && buffer->asInteger() >= 0 &&
        buffer->asInteger() < static_cast<int64_t>(buffers->asArray().size()))
      shape = buffers->asArray()[buffer->asInteger()].get("shape");
    if (!shape || !shape->isArray())
      return fail("parameter input '" + name + "' has no buffer shape in the manifest");
    Owned t{name, "F32", {}, {}};
    for (const json::Value &d : shape->asArray()) {
      char *end = nullptr;
      long long size = d.isString() ? std::strtoll(d.asString().c_str(), &end, 10) : -1;
      if (size < 0 || !end || *end)
        return fail("parameter input '" + name + "' has no static shape");
      t.shape.push_back(size);
    }
    int64_t count = 1;
    for (int64_t s : t.shape)
      count *= s;
    if (param) {
      if (!loadFloat32(checkpoint, name.substr(6), t.shape, t.bytes, error))
        return fail(error);
    } else {
      t.bytes.assign(static_cast<size_t>(count) * 4, '\0');
    }
    inputs[name] = std::move(t);
  }
  if (!trainStep)
    return fail(artifact + " is not a training step (compile it with --entry train_step)");

  loom_device_t device = nullptr;
  loom_model_t model = nullptr;
  auto failStatus = [&](loom_status_t s) {
    std::string why = loom_status_message(s);
    loom_status_free(s);
    loom_model_free(model);
    loom_device_close(device);
    return fail(why);
  };
  if (loom_status_t s = loom_device_open(ordinal, &device))
    return failStatus(s);
  if (loom_status_t s = loom_model_load(device, artifact.c_str(), &model))
    return failStatus(s);
  std::vector<double> losses;
  std::vector<loom_host_tensor_t> outputs(loom_model_num_outputs(model));
  for (int64_t step = 1; step <= steps + 1; ++step) {
    auto start = std::chrono::steady_clock::now();
    int64_t t = std::min(step, steps);
    inputs["lr"] = scalar("lr", lr);
    inputs["step_size"] = scalar("step_size", lr / (1 - std::pow(beta1, t)));
    inputs["bias2_root"] = scalar("bias2_root", std::sqrt(1 - std::pow(beta2, t)));
    std::vector<loom_host_tensor_t> views;
    for (const auto &[name, tensor] : inputs)
      views.push_back(tensor.view());
    if (loom_status_t s = loom_model_run(model, views.data(), views.size(), outputs.data(),
                                         outputs.size()))
      return failStatus(s);
    float loss = 0;
    for (loom_host_tensor_t &out : outputs) {
      std::string name = out.name ? out.name : "";
      if (name == "loss" && out.bytes == 4)
        std::memcpy(&loss, out.data, 4);
      else if (step <= steps && inputs.count(name))
        inputs[name].bytes.assign(static_cast<const char *>(out.data), out.bytes);
      loom_free(out.data);
    }
    losses.push_back(loss);
    if (step > steps)
      break; // the loss at the final parameters
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "step %lld/%lld  loss %.7f  %.3f s\n", static_cast<long long>(step),
                 static_cast<long long>(steps), loss, seconds);
  }
  std::fprintf(stderr, "loom train: loss after step %lld: %.7f (on the GPU)\n",
               static_cast<long long>(steps), losses.back());
  loom_model_free(model);
  loom_device_close(device);
  if (checkLosses.empty())
    return 0;
  json::Value expected;
  if (!readTextFile(checkLosses, text, error) || !json::parse(text, expected, error))
    return fail(error);
  const json::Value *all = expected.get("all_losses");
  if (!all || !all->isArray())
    return fail(checkLosses + " has no all_losses");
  bool passed = all->asArray().size() >= losses.size();
  double worst = 0;
  for (size_t i = 0; i < losses.size() && passed; ++i) {
    double want = all->asArray()[i].asNumber();
    worst = std::max(worst, std::fabs(losses[i] - want) / std::fabs(want));
  }
  passed = passed && worst <= tolerance;
  std::printf("losses: %zu compared with %s, largest relative error %.3g, tolerance %.3g: "
              "%s\n",
              losses.size(), checkLosses.c_str(), worst, tolerance, passed ? "ok" : "FAIL");
  return passed ? 0 : 1;
}

} // namespace loom::cli
