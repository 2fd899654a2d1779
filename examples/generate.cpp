//===- generate.cpp - Text generation from a program, with Loom's runtime ---===//
//
// Embeds the serving engine: loads a step artifact (`loom compile <hf-folder> -o art
// --entry step`), tokenizes prompts with the model's tokenizer.json, runs them as one
// continuous batch on GPU 0 and prints each token of the first prompt as it comes,
// then every completed text.
//
//   build/bin/loom-example-generate art ../shared/models/tiny-llama "def f(" "import"
//
//===----------------------------------------------------------------------===//

#include "loom/runtime.h"
#include "loom/serving/Engine.h"
#include "loom/support/Tokenizer.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s <step-artifact> <hf-folder> <prompt>...\n", argv[0]);
    return 2;
  }
  std::string artifact = argv[1], folder = argv[2], error;
  loom::Tokenizer tokenizer;
  if (!tokenizer.load(folder + "/tokenizer.json", error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  loom_device_t device = nullptr;
  if (loom_status_t status = loom_device_open(0, &device)) {
    std::fprintf(stderr, "%s\n", loom_status_message(status));
    loom_status_free(status);
    return 1;
  }
  loom::serve::EngineOptions options;
  options.maxBatch = 8;
  options.detokenize = [&](const std::vector<int32_t> &ids) {
    return tokenizer.decode(ids, true);
  };
  std::unique_ptr<loom::serve::Engine> engine =
      loom::serve::Engine::create(device, artifact, folder, options, error);
  if (!engine) {
    std::fprintf(stderr, "%s\n", error.c_str());
    loom_device_close(device);
    return 1;
  }
  for (int i = 3; i < argc; ++i) {
    loom::serve::GenerationRequest request;
    request.id = static_cast<uint64_t>(i - 2);
    request.prompt = tokenizer.encode(argv[i]);
    request.stop.maxNewTokens = 24;
    request.sampling.temperature = 0.7f; // sampled on the GPU, seeded per request
    request.sampling.topP = 0.9f;
    request.sampling.seed = request.id;
    if (!engine->add(request, error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
  }
  std::vector<loom::serve::StepToken> tokens;
  std::vector<loom::serve::Finished> finished;
  std::vector<std::string> texts(argc);
  while (!engine->idle()) {
    if (!engine->step(tokens, finished, error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    for (const loom::serve::StepToken &t : tokens)
      if (t.id == 1) // stream the first prompt
        std::fputs(tokenizer.decode({t.token}, true).c_str(), stdout), std::fflush(stdout);
    for (const loom::serve::Finished &f : finished)
      texts[f.id] = tokenizer.decode(f.tokens, true);
  }
  std::printf("\n");
  for (int i = 3; i < argc; ++i)
    std::printf("[%d] %s%s\n", i - 2, argv[i], texts[i - 2].c_str());
  engine.reset();
  loom_device_close(device);
  return 0;
}
