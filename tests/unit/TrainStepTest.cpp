//===- TrainStepTest.cpp - The compiled training step on the CPU ----------------===//
//
// The `train_step` entry of tiny-llama (loom-autodiff, then loom-append-adamw) run by
// the reference executor for five steps, each step's parameters and moments fed back
// as the next one's inputs: the losses equal PyTorch's AdamW run
// (../shared/training/tiny-llama/adamw/losses.json) within 1e-5 and the stored final
// parameters within 2e-4 per element (the README's tolerance).
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "compiler/reference/Reference.h"
#include "loom/support/Files.h"
#include "loom/support/Json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

using namespace loom;
using reference::ElementType;
using reference::Tensor;

namespace {

Tensor scalar(double value) {
  Tensor t = Tensor::zeros(ElementType::F32, {});
  t.floats[0] = value;
  return t;
}

} // namespace

TEST(TrainStep, FiveAdamWStepsMatchPyTorch) {
  std::string model = std::string(LOOM_SHARED_DIR) + "/models/tiny-llama",
              data = std::string(LOOM_SHARED_DIR) + "/training/tiny-llama";
  if (!std::filesystem::exists(data + "/adamw/losses.json"))
    GTEST_SKIP() << "no " << data;
  ImportOptions options;
  options.entry = "train_step";
  options.ropeFrequencies = "f32"; // as `loom grad` trains
  ImportResult imported;
  std::string error;
  ASSERT_TRUE(importModel(model, options, imported, error)) << error;
  std::unique_ptr<reference::WeightSource> checkpoint = reference::openWeights(model, error);
  ASSERT_TRUE(checkpoint) << error;
  std::unique_ptr<reference::Executor> step =
      reference::Executor::create(imported.ir, reference::openWeights(model, error), error);
  ASSERT_TRUE(step) << error;

  // The batch, the parameters (the checkpoint's, as float32) and zero moments.
  std::map<std::string, Tensor> inputs;
  std::map<std::string, ElementType> batchTypes;
  for (const reference::Port &port : step->inputs()) {
    if (port.name.rfind("param.", 0) == 0 || port.name.rfind("adam_", 0) == 0) {
      std::string name = port.name.substr(port.name.find('.') + 1);
      reference::Shape shape;
      for (const std::string &d : port.dims)
        shape.push_back(std::stoll(d));
      if (port.name.rfind("param.", 0) == 0)
        ASSERT_TRUE(checkpoint->load(name, ElementType::F32, shape, inputs[port.name], error))
            << error;
      else
        inputs[port.name] = Tensor::zeros(ElementType::F32, shape);
    } else if (port.name != "lr" && port.name != "step_size" &&
               port.name != "bias2_root") {
      batchTypes[port.name] = port.type;
    }
  }
  std::map<std::string, Tensor> batch;
  ASSERT_TRUE(reference::readNamedTensors(data + "/batch.safetensors", batchTypes, batch, error))
      << error;
  for (auto &[name, tensor] : batch)
    inputs[name] = tensor;
  EXPECT_EQ(inputs.count("param.lm_head.weight"), 1u);

  std::string text;
  ASSERT_TRUE(readTextFile(data + "/adamw/losses.json", text, error)) << error;
  json::Value reference;
  ASSERT_TRUE(json::parse(text, reference, error)) << error;
  const auto &expected = reference.get("all_losses")->asArray();
  ASSERT_EQ(expected.size(), 6u);

  std::vector<Tensor> outputs;
  for (int t = 1; t <= 6; ++t) {
    double lr = 1e-3;
    inputs["lr"] = scalar(lr);
    inputs["step_size"] = scalar(lr / (1 - std::pow(0.9, t)));
    inputs["bias2_root"] = scalar(std::sqrt(1 - std::pow(0.999, t)));
    ASSERT_TRUE(step->run(inputs, outputs, error)) << error;
    double loss = outputs[0].floats[0], want = expected[t - 1].asNumber();
    EXPECT_LE(std::fabs(loss - want) / want, 1e-5) << "loss before step " << t;
    std::printf("loss %d: %.9g (PyTorch %.9g)\n", t, loss, want);
    if (t == 6)
      break; // the loss at the final parameters; its update is not kept
    for (size_t i = 1; i < outputs.size(); ++i)
      inputs[step->outputs()[i].name] = std::move(outputs[i]);
  }
  // The final parameters PyTorch stored, element by element.
  std::map<std::string, Tensor> final;
  std::map<std::string, ElementType> finalTypes;
  for (const reference::Port &port : step->inputs())
    if (port.name.rfind("param.", 0) == 0)
      finalTypes[port.name.substr(6)] = ElementType::F32;
  ASSERT_TRUE(reference::readNamedTensors(data + "/adamw/final.safetensors", finalTypes, final,
                                     error))
      << error;
  ASSERT_GT(final.size(), 10u);
  double largest = 0;
  for (const auto &[name, want] : final) {
    const Tensor &got = inputs.at("param." + name);
    ASSERT_EQ(got.floats.size(), want.floats.size()) << name;
    double worst = 0;
    for (size_t i = 0; i < want.floats.size(); ++i)
      worst = std::max(worst, std::fabs(got.floats[i] - want.floats[i]));
    EXPECT_LE(worst, 2e-4) << name;
    largest = std::max(largest, worst);
  }
  std::printf("%zu stored parameters, largest difference %.3g\n", final.size(), largest);
}
