//===- PagedStepTest.cpp - Greedy serving over a paged KV cache, on the CPU ---===//
//
// The serving step of tiny-llama and tiny-gpt2 (ImportOptions::entry = "step": cache_write and
// paged_attention over block tables) run by the reference executor under the
// continuous-batching scheduler: every prompt of generations.json, twice with different
// lengths, in one batch whose KV blocks run out. The greedy tokens must equal
// transformers' generations, whatever the batching and the preemptions did.
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "compiler/reference/Reference.h"
#include "loom/serving/Scheduler.h"
#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"
#include "loom/support/StepInputs.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace loom;

namespace {

reference::Tensor ints(std::vector<int64_t> values, std::vector<int64_t> shape) {
  reference::Tensor t;
  t.type = reference::ElementType::I64;
  t.shape = std::move(shape);
  t.ints = std::move(values);
  return t;
}

} // namespace

/// Greedy generation of shared model `name` through its serving step on the reference
/// executor. With `kvDtype` the cache holds that type; the generations then match in
/// at least `minAgreement` of their tokens (a rounded cache may flip a near tie).
void checkPagedGreedy(const std::string &name, const std::string &kvDtype = "",
                      double minAgreement = 1.0) {
  std::string model = std::string(LOOM_SHARED_DIR) + "/models/" + name;
  if (!std::filesystem::exists(model + "/generations.json"))
    GTEST_SKIP() << "no " << model;
  constexpr int64_t kBlockSize = 4;
  ImportOptions options;
  options.entry = "step";
  options.kvBlockSize = kBlockSize;
  options.kvDtype = kvDtype;
  ImportResult imported;
  std::string error;
  ASSERT_TRUE(importModel(model, options, imported, error)) << error;
  std::unique_ptr<reference::Executor> step = reference::Executor::create(
      imported.ir, reference::openWeights(model, error), error);
  ASSERT_TRUE(step) << error;

  std::string text;
  ASSERT_TRUE(readTextFile(model + "/generations.json", text, error)) << error;
  json::Value generations;
  ASSERT_TRUE(json::parse(text, generations, error)) << error;
  std::vector<serve::Request> requests;
  std::map<uint64_t, std::vector<int32_t>> expected;
  uint64_t id = 0;
  for (const json::Value &g : generations.get("generations")->asArray()) {
    std::vector<int32_t> prompt, output;
    for (const json::Value &t : g.get("prompt_ids")->asArray())
      prompt.push_back(static_cast<int32_t>(t.asInteger()));
    for (const json::Value &t : g.get("output_ids")->asArray())
      output.push_back(static_cast<int32_t>(t.asInteger()));
    // Each prompt in full and cut short, so requests of different lengths share steps.
    for (size_t length : {output.size(), output.size() / 3}) {
      serve::Request r;
      r.id = ++id;
      r.prompt = prompt;
      r.stop.maxNewTokens = static_cast<int64_t>(length);
      requests.push_back(r);
      expected[r.id].assign(output.begin(), output.begin() + length);
    }
  }

  // 20 blocks of 4 slots: any request fits alone (at most 10 blocks), six do not.
  constexpr int64_t kBlocks = 20;
  serve::BlockPool pool(kBlocks, kBlockSize);
  serve::Scheduler scheduler(pool, {});
  for (serve::Request &r : requests)
    ASSERT_TRUE(scheduler.add(r, error)) << error;
  std::map<std::string, reference::Tensor> inputs;
  // The caches (and, for 8-bit ones, their scales), zero, in kBlocks blocks.
  std::string cacheType = kvDtype.empty()     ? "f32"
                          : kvDtype == "int8" ? "i8"
                          : kvDtype == "fp8"  ? "f8E4M3FN"
                                              : kvDtype;
  bool codes = kvDtype == "int8" || kvDtype == "fp8";
  int caches = 0, scales = 0;
  for (const reference::Port &port : step->inputs()) {
    bool isScales = step::isScalesName(port.name);
    if (!step::isCacheName(port.name) && !isScales)
      continue;
    (isScales ? scales : caches) += 1;
    EXPECT_EQ(elementTypeName(port.type), isScales ? "f32" : cacheType) << port.name;
    std::vector<int64_t> shape = {kBlocks};
    for (size_t d = 1; d < port.dims.size(); ++d)
      shape.push_back(std::stoll(port.dims[d]));
    inputs[port.name] = reference::Tensor::zeros(port.type, shape);
  }
  EXPECT_EQ(scales, codes ? caches : 0);
  std::map<uint64_t, serve::Finished> finished;
  int steps = 0;
  while (!scheduler.idle() && steps < 400) {
    serve::StepPlan plan = scheduler.schedule();
    ASSERT_FALSE(plan.empty());
    std::vector<const serve::StepEntry *> entries;
    for (const serve::StepEntry &e : plan.prefill)
      entries.push_back(&e);
    for (const serve::StepEntry &e : plan.decode)
      entries.push_back(&e);
    std::vector<int64_t> tokens, positions, slots, lens, starts, last;
    size_t width = 1;
    for (const serve::StepEntry *e : entries)
      width = std::max(width, e->blocks->size());
    std::vector<int64_t> tables(entries.size() * width, 0);
    for (size_t s = 0; s < entries.size(); ++s) {
      const serve::StepEntry &e = *entries[s];
      starts.push_back(static_cast<int64_t>(tokens.size()));
      for (size_t i = 0; i < e.tokens.size(); ++i) {
        int64_t position = e.start + static_cast<int64_t>(i);
        tokens.push_back(e.tokens[i]);
        positions.push_back(position);
        slots.push_back((*e.blocks)[position / kBlockSize] * kBlockSize +
                        position % kBlockSize);
      }
      lens.push_back(e.start + static_cast<int64_t>(e.tokens.size()));
      last.push_back(static_cast<int64_t>(tokens.size()) - 1);
      std::copy(e.blocks->begin(), e.blocks->end(), tables.begin() + s * width);
    }
    int64_t n = static_cast<int64_t>(tokens.size()), seqs = static_cast<int64_t>(entries.size());
    inputs["tokens"] = ints(tokens, {n});
    inputs["positions"] = ints(positions, {n});
    inputs["slots"] = ints(slots, {n});
    inputs["block_tables"] = ints(tables, {seqs, static_cast<int64_t>(width)});
    inputs["context_lens"] = ints(lens, {seqs});
    inputs["query_starts"] = ints(starts, {seqs});
    inputs["last_tokens"] = ints(last, {seqs});
    std::vector<reference::Tensor> outputs;
    ASSERT_TRUE(step->run(inputs, outputs, error)) << error;
    // Greedy: the lowest index among equal maxima, as torch.argmax.
    const reference::Tensor &logits = outputs[0];
    int64_t vocab = logits.shape[1];
    std::vector<int32_t> sampled;
    for (int64_t s = 0; s < seqs; ++s) {
      const double *row = logits.floats.data() + s * vocab;
      sampled.push_back(static_cast<int32_t>(std::max_element(row, row + vocab) - row));
    }
    for (size_t i = 1; i < outputs.size(); ++i)
      inputs[step->outputs()[i].name] = std::move(outputs[i]);
    for (serve::Finished &f : scheduler.complete(plan, sampled))
      finished[f.id] = f;
    ++steps;
  }
  ASSERT_EQ(finished.size(), requests.size());
  size_t same = 0, total = 0;
  for (const auto &[rid, tokens] : expected) {
    if (minAgreement >= 1.0)
      EXPECT_EQ(finished[rid].tokens, tokens) << "request " << rid;
    ASSERT_EQ(finished[rid].tokens.size(), tokens.size()) << "request " << rid;
    for (size_t i = 0; i < tokens.size(); ++i)
      same += finished[rid].tokens[i] == tokens[i];
    total += tokens.size();
  }
  double agreement = static_cast<double>(same) / static_cast<double>(total);
  std::printf("%s, KV cache %s: %zu of %zu greedy tokens as in generations.json\n",
              name.c_str(), kvDtype.empty() ? "f32" : kvDtype.c_str(), same, total);
  EXPECT_GE(agreement, minAgreement);
  EXPECT_GT(scheduler.totalPreemptions(), 0);
  EXPECT_EQ(pool.numFree(), pool.numBlocks());
}

TEST(PagedStep, LlamaGreedyGenerationsMatchInAContinuousBatchWithPreemption) {
  checkPagedGreedy("tiny-llama");
}

TEST(PagedStep, Gpt2GreedyGenerationsMatchInAContinuousBatchWithPreemption) {
  checkPagedGreedy("tiny-gpt2");
}

// A bf16 and an f16 KV cache under the f32 model: the step compiles with cache inputs of
// that type, every value is rounded as it is written, and the generations stay close.
TEST(PagedStep, LlamaWithA16BitKvCache) {
  checkPagedGreedy("tiny-llama", "bf16", 0.8);
  checkPagedGreedy("tiny-llama", "f16", 0.8);
}

// Caches of 8-bit codes (int8 and FP8 e4m3) with a scale per (slot, KV head): the step
// takes the scales as inputs and returns them, every row is quantized as it is written
// and dequantized in the attention, and the generations stay close.
TEST(PagedStep, LlamaWithAn8BitKvCache) {
  checkPagedGreedy("tiny-llama", "int8", 0.8);
  checkPagedGreedy("tiny-llama", "fp8", 0.7);
}

TEST(PagedStep, Gpt2WithAnInt8KvCache) { checkPagedGreedy("tiny-gpt2", "int8", 0.8); }
