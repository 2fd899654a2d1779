//===- GenerateCommand.cpp - `loom generate` --------------------------------===//
//
// Text generation from a prompt. Until the GPU path lands it runs on the CPU reference
// executor, recomputing the whole sequence for each new token (no KV cache there).
// Tokens stream to stdout as they come; a line with the speed goes to stderr.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "Training.h"
#include "compiler/reference/Reference.h"

#include "loom/runtime.hpp"
#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"
#include "loom/support/Sampler.h"
#include "loom/support/Tokenizer.h"
#include "loom/support/Utf8.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <sys/stat.h>

namespace loom::cli {

namespace {

bool isDirectory(const std::string &path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

/// The number of positions the model supports, from config.json; 0 when unknown.
int64_t readMaxPositions(const std::string &folder) {
  std::string text, error;
  json::Value root;
  if (!readTextFile(folder + "/config.json", text, error) ||
      !json::parse(text, root, error))
    return 0;
  for (const char *key : {"max_position_embeddings", "n_positions"})
    if (const json::Value *v = root.get(key); v && v->isInteger())
      return v->asInteger();
  return 0;
}

/// More new tokens than any model has positions for.
constexpr int64_t kMaxNewTokens = int64_t(1) << 24;

} // namespace

int runGenerate(int argc, char **argv) {
  const char *usage =
      "usage: loom generate <hf-folder | model.onnx> --prompt TEXT [--max-new-tokens N]\n"
      "                     [--temperature T --top-k K --top-p P --seed S] [--show-ids]\n"
      "                     [--quantize int8|int4[:gN][:asym]|fp8] [--fp8-activations "
      "auto|none]\n"
      "Greedy unless --temperature is above 0. The tokenizer is the model folder's\n"
      "tokenizer.json; generation stops at an end-of-sequence token or after N tokens\n"
      "(default 32). --show-ids prints the prompt and generated token ids to stderr.\n"
      "--lora <adapter folder> adds a PEFT LoRA adapter (adapter_config.json,\n"
      "adapter_model.safetensors; `loom train --lora` writes one) to the layers it\n"
      "targets.\n";
  std::string model, prompt, loraPath;
  bool havePrompt = false, showIds = false;
  int64_t maxNewTokens = 32;
  SamplingOptions sampling;
  ImportOptions importOptions;
  OptionParser parser("loom generate", usage);
  parser.positional("the model", model, true)
      .text("--prompt", prompt, &havePrompt)
      .integer("--max-new-tokens", maxNewTokens, 0, kMaxNewTokens)
      .number("--temperature", sampling.temperature, 0, 1e6)
      .integer("--top-k", sampling.topK, 0)
      .number("--top-p", sampling.topP, 0, 1)
      .seed("--seed", sampling.seed)
      .flag("--show-ids", showIds)
      .text("--lora", loraPath)
      .custom([&](int argc, char **argv, int &i, std::string &error) {
        std::string arg = argv[i];
        return arg == "--quantize" || arg == "--fp8-activations"
                   ? takeImportOption(argc, argv, i, importOptions, error)
                   : 0;
      });
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  if (!havePrompt)
    return parser.misuse("give the prompt with --prompt");
  if (sampling.topP == 0)
    return parser.misuse("--top-p must be above 0");
  std::string folder = isDirectory(model) ? model
                       : model.find('/') == std::string::npos
                           ? "."
                           : model.substr(0, model.find_last_of('/'));

  std::string error;
  Tokenizer tokenizer;
  if (!tokenizer.load(folder + "/tokenizer.json", error)) {
    std::fprintf(stderr, "loom generate: %s\n", error.c_str());
    return 1;
  }
  std::vector<loom_device_info_t> devices;
  bool haveGpu = listDevices(devices).ok() && !devices.empty();
  std::fprintf(stderr, "loom generate: %s; running on the CPU reference executor\n",
               haveGpu ? "the GPU path is not built yet" : "no CUDA device here");
  // The weights: the model's, or with an adapter its tensors first (held here, as the
  // executor reads them by name).
  std::map<std::string, reference::Tensor> adapter;
  std::unique_ptr<reference::Executor> executor;
  if (loraPath.empty()) {
    executor = reference::openModel(model, "", importOptions, error);
  } else if (!isDirectory(model)) {
    error = "--lora adds an adapter to a Hugging Face folder, not to " + model;
  } else if (readAdapter(loraPath, importOptions.lora, adapter, error)) {
    std::string ir, weightPath;
    std::unique_ptr<reference::WeightSource> base;
    if (reference::readModelIr(model, "", importOptions, ir, weightPath, error) &&
        (base = reference::openWeights(weightPath, error)))
      executor = reference::Executor::create(
          ir, reference::memoryWeights(adapter, std::move(base)), error);
  }
  if (!executor) {
    std::fprintf(stderr, "loom generate: %s\n", error.c_str());
    return 1;
  }
  if (executor->inputs().empty() ||
      executor->inputs()[0].type != reference::ElementType::I64 ||
      executor->outputs().empty() || executor->outputs()[0].name != "logits") {
    std::fprintf(stderr, "loom generate: %s does not take token ids and give logits\n",
                 model.c_str());
    return 1;
  }

  std::vector<int32_t> ids = tokenizer.encode(prompt);
  if (ids.empty()) {
    std::fprintf(stderr, "loom generate: the prompt is empty after tokenization\n");
    return 1;
  }
  int64_t maxPositions = readMaxPositions(folder);
  // Subtract rather than add: a huge --max-new-tokens must not overflow the check.
  if (maxPositions > 0 &&
      (static_cast<int64_t>(ids.size()) > maxPositions ||
       maxNewTokens > maxPositions - static_cast<int64_t>(ids.size()))) {
    std::fprintf(stderr,
                 "loom generate: %zu prompt tokens + %lld new tokens exceed the "
                 "model's %lld positions\n",
                 ids.size(), static_cast<long long>(maxNewTokens),
                 static_cast<long long>(maxPositions));
    return 1;
  }
  std::set<int32_t> eos = readEosIds(folder);
  size_t promptLength = ids.size();
  Sampler sampler(sampling);
  std::string pending; // bytes of a UTF-8 character not complete yet
  auto start = std::chrono::steady_clock::now();
  double firstTokenSeconds = 0;
  for (int64_t step = 0; step < maxNewTokens; ++step) {
    reference::Tensor input = reference::Tensor::zeros(
        reference::ElementType::I64, {1, static_cast<int64_t>(ids.size())});
    for (size_t i = 0; i < ids.size(); ++i)
      input.ints[i] = ids[i];
    std::vector<reference::Tensor> outputs;
    if (!executor->run(
            std::map<std::string, reference::Tensor>{
                {executor->inputs()[0].name, std::move(input)}},
            outputs, error)) {
      std::fprintf(stderr, "\nloom generate: %s\n", error.c_str());
      return 1;
    }
    const reference::Tensor &logits = outputs[0];
    int64_t vocab = logits.shape.back();
    std::vector<float> last(vocab);
    for (int64_t v = 0; v < vocab; ++v)
      last[v] = static_cast<float>(logits.floats[(ids.size() - 1) * vocab + v]);
    int32_t next = sampler.sample(last.data(), vocab);
    if (step == 0)
      firstTokenSeconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ids.push_back(next);
    if (eos.count(next))
      break;
    pending += tokenizer.isSpecial(next) ? "" : tokenizer.tokenBytes(next);
    size_t ready = utf8::completePrefix(pending);
    std::fwrite(pending.data(), 1, ready, stdout);
    std::fflush(stdout);
    pending.erase(0, ready);
  }
  std::fwrite(pending.data(), 1, pending.size(), stdout);
  std::fputc('\n', stdout);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  size_t generated = ids.size() - promptLength;
  if (showIds) {
    std::string text = "prompt ids:";
    for (size_t i = 0; i < promptLength; ++i)
      text += " " + std::to_string(ids[i]);
    text += "\ngenerated ids:";
    for (size_t i = promptLength; i < ids.size(); ++i)
      text += " " + std::to_string(ids[i]);
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  std::fprintf(stderr, "%zu tokens in %.2f s: %.1f tokens/s (first token after %.2f s)\n",
               generated, seconds, seconds > 0 ? generated / seconds : 0.0,
               firstTokenSeconds);
  return 0;
}

} // namespace loom::cli
