//===- ReferenceCommand.cpp - `loom reference` ------------------------------===//
//
// Runs a model on the CPU reference executor: named inputs from a safetensors file,
// named outputs to another, optionally compared with expected outputs.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "Training.h"
#include "compiler/reference/Kernels.h"
#include "compiler/reference/Parallel.h"
#include "compiler/reference/Reference.h"

#include "loom/support/Safetensors.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace loom::cli {

using reference::Tensor;

int runReference(int argc, char **argv) {
  const char *usage =
      "usage: loom reference <model.onnx | hf-folder | model.mlir> --inputs "
      "in.safetensors\n"
      "                      [--outputs out.safetensors] [--weights path] [--dtype "
      "f32|bf16|f16]\n"
      "                      [--quantize int8|int4[:gN][:asym]|fp8] [--fp8-activations "
      "auto|none]\n"
      "                      [--tensor-parallel N | --pipeline-parallel N]\n"
      "                      [--dump-ir out.mlir]\n"
      "                      [--check expected.safetensors [--tolerance 1e-4]\n"
      "                       [--check-name output=tensor]]\n"
      "Runs the model on the CPU reference executor. Inputs are read by name; inputs\n"
      "with a default (BERT's attention_mask, token_type_ids) may be left out. With\n"
      "--check, each output is compared with the tensor of the same name: the relative\n"
      "error is the largest absolute difference over the expected tensor's largest\n"
      "magnitude, and the command fails when it exceeds the tolerance. --check-name\n"
      "compares an output with a tensor of another name instead. --tensor-parallel N\n"
      "splits the model over N ranks (loom-partition-tensor), runs them all in this\n"
      "process and reports rank 0's outputs; --pipeline-parallel N splits a Hugging\n"
      "Face model's layers into N stages (loom-partition-pipeline), each a rank that\n"
      "sends its activations to the next; --dump-ir writes the partitioned IR.\n";
  std::string model, inputsPath, outputsPath, weights, checkPath, dumpIrPath;
  int64_t tensorParallel = 1, pipelineParallel = 1;
  ImportOptions importOptions;
  std::map<std::string, std::string> checkNames;
  double tolerance = 1e-4;
  OptionParser parser("loom reference", usage);
  parser.positional("the model", model, true)
      .text("--inputs", inputsPath)
      .text("-o|--outputs", outputsPath)
      .text("--weights", weights)
      .text("--check", checkPath)
      .integer("--tensor-parallel", tensorParallel, 1, 1024)
      .integer("--pipeline-parallel", pipelineParallel, 1, 1024)
      .text("--dump-ir", dumpIrPath)
      .number("--tolerance", tolerance, 0, 1e30)
      .custom([&](int argc, char **argv, int &i, std::string &error) {
        if (std::string(argv[i]) != "--check-name")
          return 0;
        std::string pair = i + 1 < argc ? argv[++i] : "";
        size_t eq = pair.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == pair.size()) {
          error = "wants output=tensor, not '" + pair + "'";
          return -1;
        }
        checkNames[pair.substr(0, eq)] = pair.substr(eq + 1);
        return 1;
      })
      .custom(importOptionTaker(importOptions));
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  if (inputsPath.empty())
    return parser.misuse("give the inputs with --inputs");

  std::string error;
  std::unique_ptr<reference::Executor> executor;
  std::unique_ptr<reference::ParallelExecutor> parallel;
  if (tensorParallel > 1 && pipelineParallel > 1) {
    return parser.misuse("--tensor-parallel and --pipeline-parallel do not combine yet");
  } else if (tensorParallel > 1 || pipelineParallel > 1) {
    std::string ir;
    parallel = tensorParallel > 1
                   ? reference::openTensorParallel(model, weights, importOptions,
                                                   tensorParallel, ir, error)
                   : reference::openPipelineParallel(model, weights, importOptions,
                                                     pipelineParallel, ir, error);
    if (parallel && !dumpIrPath.empty() && !writeFileAtomically(dumpIrPath, ir, error)) {
      std::fprintf(stderr, "loom reference: %s\n", error.c_str());
      return 1;
    }
  } else {
    executor = reference::openModel(model, weights, importOptions, error);
  }
  if (!executor && !parallel) {
    std::fprintf(stderr, "loom reference: %s\n", error.c_str());
    return 1;
  }
  const std::vector<reference::Port> &inPorts =
      executor ? executor->inputs() : parallel->inputs();
  const std::vector<reference::Port> &outPorts =
      executor ? executor->outputs() : parallel->outputs();
  std::map<std::string, reference::ElementType> inputTypes, outputTypes;
  for (const reference::Port &port : inPorts)
    inputTypes[port.name] = port.type;
  for (const reference::Port &port : outPorts)
    outputTypes[port.name] = port.type;
  std::map<std::string, Tensor> inputs;
  if (!readNamedTensors(inputsPath, inputTypes, inputs, error)) {
    std::fprintf(stderr, "loom reference: %s\n", error.c_str());
    return 1;
  }
  std::vector<Tensor> outputs;
  auto start = std::chrono::steady_clock::now();
  bool ran;
  if (executor) {
    ran = executor->run(inputs, outputs, error);
  } else {
    std::vector<std::vector<Tensor>> perRank;
    ran = parallel->run(inputs, perRank, error);
    if (ran)
      outputs = std::move(perRank.front());
  }
  if (!ran) {
    std::fprintf(stderr, "loom reference: %s\n", error.c_str());
    return 1;
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "loom reference: %s ran in %.3f s on the CPU reference executor%s\n",
               model.c_str(), seconds,
               parallel ? (" (" + std::to_string(parallel->world()) +
                           (tensorParallel > 1 ? " tensor-parallel ranks)"
                                               : " pipeline stages)"))
                              .c_str()
                        : "");

  if (!outputsPath.empty()) {
    std::vector<TensorBytes> written;
    for (size_t i = 0; i < outputs.size(); ++i) {
      // Float outputs are written as float32, whatever the compute type.
      Tensor out = outputs[i].isFloat()
                       ? reference::cast(outputs[i], reference::ElementType::F32)
                       : outputs[i];
      written.push_back({outPorts[i].name,
                         reference::safetensorsType(out.type), out.shape,
                         reference::toBytes(out)});
    }
    if (!writeSafetensors(outputsPath, written, error)) {
      std::fprintf(stderr, "loom reference: %s\n", error.c_str());
      return 1;
    }
  }

  if (checkPath.empty())
    return 0;
  std::map<std::string, Tensor> expected;
  for (const auto &[output, tensor] : checkNames)
    if (outputTypes.count(output))
      outputTypes[tensor] = outputTypes[output];
  if (!readNamedTensors(checkPath, outputTypes, expected, error)) {
    std::fprintf(stderr, "loom reference: %s\n", error.c_str());
    return 1;
  }
  bool passed = true;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string &name = outPorts[i].name;
    auto renamed = checkNames.find(name);
    auto it = expected.find(renamed == checkNames.end() ? name : renamed->second);
    if (it == expected.end()) {
      std::printf("%-20s not in %s\n", name.c_str(), checkPath.c_str());
      passed = false;
      continue;
    }
    reference::TensorDifference d = reference::compareTensors(outputs[i], it->second);
    if (d.shapeDiffers) {
      std::printf("%-20s FAIL: shape %s, expected %s\n", name.c_str(),
                  outputs[i].describe().c_str(), it->second.describe().c_str());
      passed = false;
      continue;
    }
    bool ok = d.relative <= tolerance;
    passed = passed && ok;
    std::printf("%-20s %s: max abs error %.3g, relative %.3g (tolerance %.3g)\n",
                name.c_str(), ok ? "ok" : "FAIL", d.maxAbsolute, d.relative, tolerance);
  }
  return passed ? 0 : 1;
}

} // namespace loom::cli
