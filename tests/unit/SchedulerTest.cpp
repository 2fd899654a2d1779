//===- SchedulerTest.cpp - Paged KV blocks and continuous batching ---------===//
//
// The scheduler is driven by a fake model that keeps a paged "KV cache" of token ids:
// each step writes the entries' tokens into their block tables' slots and computes the
// next token from the context read back through the block table. So a block table
// pointing at the wrong blocks, or a block reused while still held, changes the
// output, and preemption must not (greedy output depends only on the context).
//
//===----------------------------------------------------------------------===//

#include "loom/serving/Scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>

using namespace loom::serve;

namespace {

/// A deterministic "model": the next token from the whole context (1..97; 0 is never
/// produced, so it can serve as a stop token only where a test forces it).
int32_t nextToken(const std::vector<int32_t> &context) {
  uint64_t h = 1469598103934665603ULL;
  for (int32_t t : context)
    h = (h ^ static_cast<uint64_t>(t)) * 1099511628211ULL;
  return static_cast<int32_t>(h % 97) + 1;
}

/// The fake model's cache: (block, slot) to the token whose KV would live there.
using FakeCache = std::map<std::pair<int32_t, int32_t>, int32_t>;

/// Runs a plan on the fake model: writes its tokens into their slots and samples one
/// token per entry (prefill entries first) from the context read back.
std::vector<int32_t> runPlan(const StepPlan &plan, BlockPool &pool, FakeCache &cache) {
  std::vector<int32_t> sampled;
  auto run = [&](const StepEntry &e) {
    const std::vector<int32_t> &table = *e.blocks;
    int64_t end = e.start + static_cast<int64_t>(e.tokens.size());
    EXPECT_GE(static_cast<int64_t>(table.size()) * pool.blockSize(), end);
    for (size_t i = 0; i < e.tokens.size(); ++i) {
      int64_t position = e.start + static_cast<int64_t>(i);
      cache[{table[position / pool.blockSize()],
             static_cast<int32_t>(position % pool.blockSize())}] = e.tokens[i];
    }
    std::vector<int32_t> context;
    for (int64_t p = 0; p < end; ++p)
      context.push_back(cache.at(
          {table[p / pool.blockSize()], static_cast<int32_t>(p % pool.blockSize())}));
    sampled.push_back(nextToken(context));
  };
  for (const StepEntry &e : plan.prefill)
    run(e);
  for (const StepEntry &e : plan.decode)
    run(e);
  return sampled;
}

/// Runs `requests` to completion; returns the outputs by id. With `ahead`, like the
/// engine: while a step "runs", the step after it is planned (planAhead) and run with
/// the first one's sampled tokens as its inputs, before the first one is completed;
/// rows of sequences that finished in between are left out of its completion.
std::map<uint64_t, Finished> serve(Scheduler &scheduler, BlockPool &pool,
                                   const std::vector<Request> &requests,
                                   int *steps = nullptr, bool ahead = false,
                                   int *aheadSteps = nullptr) {
  FakeCache cache;
  std::map<uint64_t, Finished> done;
  for (const Request &r : requests) {
    std::string error;
    EXPECT_TRUE(scheduler.add(r, error)) << error;
  }
  struct Ran {
    StepPlan plan;
    std::vector<int32_t> sampled;
    std::vector<bool> live;
  };
  std::optional<Ran> queued;
  int count = 0, aheads = 0;
  while (queued || !scheduler.idle()) {
    Ran step;
    if (queued) {
      step = std::move(*queued);
      queued.reset();
    } else {
      step.plan = scheduler.schedule();
      EXPECT_FALSE(step.plan.empty()) << "the scheduler stalled with work left";
      if (step.plan.empty())
        break;
      step.sampled = runPlan(step.plan, pool, cache);
      step.live.assign(step.sampled.size(), true);
    }
    StepPlan next;
    if (ahead &&
        std::all_of(step.live.begin(), step.live.end(), [](bool b) { return b; }) &&
        scheduler.planAhead(step.plan, next)) {
      EXPECT_EQ(next.decode.size(), step.plan.decode.size());
      for (size_t i = 0; i < next.decode.size(); ++i)
        next.decode[i].tokens = {step.sampled[i]};
      std::vector<int32_t> sampled = runPlan(next, pool, cache);
      size_t rows = sampled.size();
      queued = Ran{std::move(next), std::move(sampled), std::vector<bool>(rows, true)};
      ++aheads;
    }
    StepPlan completed;
    std::vector<int32_t> sampled;
    size_t row = 0;
    for (const StepEntry &e : step.plan.prefill)
      if (step.live[row++]) {
        completed.prefill.push_back(e);
        sampled.push_back(step.sampled[row - 1]);
      }
    for (const StepEntry &e : step.plan.decode)
      if (step.live[row++]) {
        completed.decode.push_back(e);
        sampled.push_back(step.sampled[row - 1]);
      }
    for (Finished &f : scheduler.complete(completed, sampled)) {
      if (queued)
        for (size_t i = 0; i < queued->plan.decode.size(); ++i)
          if (queued->plan.decode[i].id == f.id)
            queued->live[i] = false;
      done[f.id] = f;
    }
    if (queued &&
        std::none_of(queued->live.begin(), queued->live.end(), [](bool b) { return b; }))
      queued.reset();
    ++count;
  }
  if (steps)
    *steps = count;
  if (aheadSteps)
    *aheadSteps = aheads;
  return done;
}

Request request(uint64_t id, int length, int64_t maxNew) {
  Request r;
  r.id = id;
  for (int i = 0; i < length; ++i)
    r.prompt.push_back(static_cast<int32_t>((id * 31 + i * 7) % 50 + 1));
  r.stop.maxNewTokens = maxNew;
  return r;
}

} // namespace

TEST(BlockPool, HandsOutReleasesAndReusesBlocks) {
  BlockPool pool(3, 16);
  EXPECT_EQ(pool.blocksFor(0), 0);
  EXPECT_EQ(pool.blocksFor(16), 1);
  EXPECT_EQ(pool.blocksFor(17), 2);
  std::vector<int32_t> table;
  for (int i = 0; i < 3; ++i)
    table.push_back(*pool.allocate());
  EXPECT_EQ(table, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_FALSE(pool.allocate().has_value());
  pool.retain(1);
  pool.release(1);
  EXPECT_EQ(pool.numFree(), 0);
  pool.release(1);
  EXPECT_EQ(*pool.allocate(), 1); // the block just released comes back first
  pool.releaseAll(table);
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(pool.numFree(), 3);
  EXPECT_THROW(pool.release(2), std::logic_error);
  EXPECT_THROW(BlockPool(0, 16), std::invalid_argument);
}

TEST(Scheduler, RefusesRequestsThatCanNeverRun) {
  BlockPool pool(4, 8);
  SchedulerOptions options;
  options.maxContext = 64;
  Scheduler scheduler(pool, options);
  std::string error;
  Request empty;
  EXPECT_FALSE(scheduler.add(empty, error));
  EXPECT_NE(error.find("empty prompt"), std::string::npos);
  EXPECT_FALSE(scheduler.add(request(1, 30, 8), error)); // 38 slots > 32
  EXPECT_NE(error.find("needs 5 KV blocks"), std::string::npos) << error;
  EXPECT_FALSE(scheduler.add(request(2, 64, 1), error));
  EXPECT_NE(error.find("model's context of 64"), std::string::npos) << error;
  Request strings = request(3, 4, 4);
  strings.stop.stopStrings = {"x"};
  EXPECT_FALSE(scheduler.add(strings, error));
  EXPECT_NE(error.find("detokenizer"), std::string::npos);
  EXPECT_TRUE(scheduler.add(request(4, 4, 4), error));
  EXPECT_FALSE(scheduler.add(request(4, 4, 4), error));
  EXPECT_NE(error.find("already queued"), std::string::npos);
}

TEST(Scheduler, BatchedOutputsEqualSoloOutputs) {
  std::vector<Request> requests;
  for (uint64_t id = 1; id <= 12; ++id)
    requests.push_back(request(id, 3 + static_cast<int>(id * 5 % 23), 5 + id % 9));
  std::map<uint64_t, Finished> solo;
  for (const Request &r : requests) {
    BlockPool pool(64, 4);
    Scheduler scheduler(pool, {});
    solo[r.id] = serve(scheduler, pool, {r}).at(r.id);
  }
  BlockPool pool(256, 4);
  SchedulerOptions options;
  options.maxBatch = 5;
  options.maxStepTokens = 40;
  Scheduler scheduler(pool, options);
  int steps = 0;
  std::map<uint64_t, Finished> batched = serve(scheduler, pool, requests, &steps);
  ASSERT_EQ(batched.size(), requests.size());
  for (const Request &r : requests) {
    EXPECT_EQ(batched[r.id].tokens, solo[r.id].tokens) << "request " << r.id;
    EXPECT_EQ(batched[r.id].tokens.size(), static_cast<size_t>(r.stop.maxNewTokens));
    EXPECT_EQ(batched[r.id].reason, FinishReason::MaxTokens);
  }
  EXPECT_EQ(scheduler.totalPreemptions(), 0);
  EXPECT_EQ(pool.numFree(), pool.numBlocks());
  EXPECT_LT(steps, 80); // requests overlapped rather than ran one after another
}

TEST(Scheduler, PreemptsWhenBlocksRunOutAndStillCompletesEveryRequest) {
  std::vector<Request> requests;
  for (uint64_t id = 1; id <= 10; ++id)
    requests.push_back(request(id, 2 + static_cast<int>(id % 7), 20 + id % 5));
  std::map<uint64_t, Finished> solo;
  for (const Request &r : requests) {
    BlockPool pool(64, 4);
    Scheduler scheduler(pool, {});
    solo[r.id] = serve(scheduler, pool, {r}).at(r.id);
  }
  // 12 blocks of 4 slots: every request fits alone (at most 8 + 24 = 32 slots), but
  // not many together, so decode steps run out of blocks.
  BlockPool pool(12, 4);
  SchedulerOptions options;
  options.maxBatch = 8;
  Scheduler scheduler(pool, options);
  std::map<uint64_t, Finished> batched = serve(scheduler, pool, requests);
  ASSERT_EQ(batched.size(), requests.size());
  int preempted = 0;
  for (const Request &r : requests) {
    EXPECT_EQ(batched[r.id].tokens, solo[r.id].tokens) << "request " << r.id;
    preempted += batched[r.id].preemptions;
  }
  EXPECT_GT(scheduler.totalPreemptions(), 0);
  EXPECT_EQ(preempted, scheduler.totalPreemptions());
  EXPECT_EQ(pool.numFree(), pool.numBlocks());
}

/// What the fake model generates for `probe` with no stop condition but its length.
static std::vector<int32_t> unstopped(const Request &probe) {
  BlockPool pool(64, 4);
  Scheduler scheduler(pool, {});
  return serve(scheduler, pool, {probe}).at(probe.id).tokens;
}

/// A detokenizer for the tests: each token as "<id>".
static std::string spell(const std::vector<int32_t> &tokens) {
  std::string text;
  for (int32_t t : tokens)
    text += "<" + std::to_string(t) + ">";
  return text;
}

TEST(Scheduler, StopsAtStopTokensStopStringsAndTheModelLength) {
  Request probe = request(1, 5, 8);
  std::vector<int32_t> free = unstopped(probe);
  ASSERT_EQ(free.size(), 8u);

  SchedulerOptions options;
  options.maxContext = 11; // 5 prompt tokens + at most 6 generated
  options.detokenize = spell;
  BlockPool pool(16, 4);
  Scheduler scheduler(pool, options);
  // Three requests with the probe's prompt, so the model would give all three `free`.
  Request byToken = probe, byString = probe, byLength = probe;
  byToken.stop.stopTokens = {free[2]};
  byString.id = 2;
  byString.stop.stopStrings = {"<" + std::to_string(free[1]) + "><"};
  byLength.id = 3;
  std::map<uint64_t, Finished> done = serve(scheduler, pool, {byToken, byString, byLength});
  EXPECT_EQ(done[1].reason, FinishReason::StopToken);
  EXPECT_EQ(done[1].tokens, std::vector<int32_t>(free.begin(), free.begin() + 3));
  EXPECT_EQ(done[2].reason, FinishReason::StopString);
  EXPECT_EQ(done[2].text, "<" + std::to_string(free[0]) + ">");
  EXPECT_EQ(done[3].reason, FinishReason::ModelLength);
  EXPECT_EQ(done[3].tokens.size(), 6u);
  EXPECT_STREQ(finishReasonName(done[3].reason), "model context length");
}

TEST(Scheduler, LooksForStopStringsInTheLastTokensOnly) {
  Request probe = request(1, 5, 96);
  std::vector<int32_t> free = unstopped(probe);
  ASSERT_EQ(free.size(), 96u);
  // A stop string made of three tokens late in the output; it ends where its first
  // occurrence in the whole text does.
  std::string stop = spell({free[70], free[71], free[72]});
  std::string whole = spell(free);
  size_t at = whole.find(stop);
  ASSERT_NE(at, std::string::npos);

  size_t longCalls = 0, calls = 0;
  SchedulerOptions options;
  options.detokenize = [&](const std::vector<int32_t> &tokens) {
    ++calls;
    longCalls += tokens.size() > 32;
    return spell(tokens);
  };
  BlockPool pool(64, 4);
  Scheduler scheduler(pool, options);
  Request stopped = probe, unstopped = probe;
  stopped.stop.stopStrings = {stop};
  unstopped.id = 2;
  unstopped.stop.stopStrings = {"<0>"}; // 0 is never generated
  std::map<uint64_t, Finished> done = serve(scheduler, pool, {stopped, unstopped});
  EXPECT_EQ(done[1].reason, FinishReason::StopString);
  EXPECT_EQ(done[1].text, whole.substr(0, at));
  EXPECT_EQ(spell(done[1].tokens), whole.substr(0, at + stop.size()));
  EXPECT_EQ(done[2].reason, FinishReason::MaxTokens);
  EXPECT_EQ(done[2].tokens, free);
  // Each step detokenized a few tokens; the whole output only when a sequence finished
  // (once for each of the two).
  EXPECT_GT(calls, 96u);
  EXPECT_EQ(longCalls, 2u);
}

TEST(Scheduler, StepsPlannedAheadGiveTheSameOutputs) {
  // Varied prompts and lengths, stop tokens that end some requests early (their rows of
  // the step planned ahead go unused), and a pool small enough to preempt: every output
  // must equal the request's output alone, and every block must come back.
  std::vector<Request> requests;
  for (uint64_t id = 1; id <= 10; ++id)
    requests.push_back(request(id, 2 + static_cast<int>(id * 5 % 11), 8 + id % 13));
  std::map<uint64_t, Finished> solo;
  for (Request &r : requests) {
    std::vector<int32_t> free = unstopped(r);
    if (r.id % 3 == 0)
      r.stop.stopTokens = {free[free.size() / 2]};
    BlockPool pool(64, 4);
    Scheduler scheduler(pool, {});
    solo[r.id] = serve(scheduler, pool, {r}).at(r.id);
  }
  for (int32_t blocks : {256, 14}) {
    BlockPool pool(blocks, 4);
    SchedulerOptions options;
    options.maxBatch = 6;
    options.maxContext = 40;
    Scheduler scheduler(pool, options);
    int steps = 0, aheads = 0;
    std::map<uint64_t, Finished> batched =
        serve(scheduler, pool, requests, &steps, /*ahead=*/true, &aheads);
    ASSERT_EQ(batched.size(), requests.size()) << blocks << " blocks";
    for (const Request &r : requests)
      EXPECT_EQ(batched[r.id].tokens, solo[r.id].tokens)
          << "request " << r.id << ", " << blocks << " blocks";
    EXPECT_GT(aheads, 0) << blocks << " blocks";
    EXPECT_EQ(pool.numFree(), pool.numBlocks()) << blocks << " blocks";
  }
  // Planned ahead only from decode-only steps with nothing waiting.
  BlockPool pool(64, 4);
  Scheduler scheduler(pool, {});
  std::string error;
  ASSERT_TRUE(scheduler.add(request(1, 5, 4), error));
  StepPlan prefill = scheduler.schedule(), ahead;
  EXPECT_FALSE(scheduler.planAhead(prefill, ahead));
  EXPECT_TRUE(ahead.empty());
}
