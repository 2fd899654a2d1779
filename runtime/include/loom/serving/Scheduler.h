//===- Scheduler.h - Continuous batching over a paged KV cache -----*- C++ -*-===//
//
// Requests join and leave the running batch at every step. A step is planned as:
//
//  1. every running sequence decodes one token; one whose next token starts a new
//     block gets a block from the pool. When the pool is empty, the most recently
//     admitted running sequence is preempted: its blocks are freed and it goes back to
//     the front of the waiting queue, to be recomputed later from its prompt and the
//     tokens it had generated (so its output does not change). A request is only
//     accepted when its prompt and max new tokens fit in the whole cache, so a sequence
//     running alone always has the blocks it needs.
//  2. unless a sequence was preempted in this step, waiting requests are admitted in
//     order while the blocks of their whole context (prompt + generated, plus the slot
//     of the next token) are free, the batch has room and the step's token budget
//     allows; the first one is admitted even over the budget when the plan is empty,
//     so a long prompt always makes progress.
//
// The engine runs the plan (prefill entries, then decode entries), samples one token
// per entry, and hands the tokens back to `complete`, which appends them, applies the
// stop conditions (stop tokens, stop strings through a detokenizer, max new tokens,
// the model's length) and frees the blocks of finished sequences.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SERVING_SCHEDULER_H
#define LOOM_SERVING_SCHEDULER_H

#include "loom/serving/BlockPool.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace loom::serve {

struct StopCriteria {
  int64_t maxNewTokens = 16;
  std::vector<int32_t> stopTokens;
  /// Generation stops when the detokenized output contains one of these; the text
  /// returned ends before it.
  std::vector<std::string> stopStrings;
};

struct Request {
  uint64_t id = 0;
  std::vector<int32_t> prompt;
  StopCriteria stop;
};

enum class FinishReason { StopToken, StopString, MaxTokens, ModelLength };
const char *finishReasonName(FinishReason reason);

struct Finished {
  uint64_t id = 0;
  std::vector<int32_t> tokens;
  /// With stop strings: the detokenized output up to the stop string.
  std::string text;
  FinishReason reason = FinishReason::MaxTokens;
  int preemptions = 0;
};

/// One sequence's share of a step: its new tokens, the position of the first, and its
/// block table (valid until the next call to schedule or complete).
struct StepEntry {
  uint64_t id = 0;
  std::vector<int32_t> tokens;
  int64_t start = 0;
  const std::vector<int32_t> *blocks = nullptr;
};

struct StepPlan {
  std::vector<StepEntry> prefill, decode;
  /// Requests preempted while planning this step (they wait to be recomputed).
  std::vector<uint64_t> preempted;
  bool empty() const { return prefill.empty() && decode.empty(); }
};

struct SchedulerOptions {
  /// Sequences per step at most (prefill and decode together).
  int32_t maxBatch = 64;
  /// Prompt tokens per step at most (see the class comment for the exception).
  int64_t maxStepTokens = 4096;
  /// The model's maximum context; a sequence reaching it finishes (0: no limit).
  int64_t maxContext = 0;
  /// Token ids to text, for stop strings (required when a request has any).
  std::function<std::string(const std::vector<int32_t> &)> detokenize;
};

class Scheduler {
public:
  Scheduler(BlockPool &pool, SchedulerOptions options);

  /// Queues a request. Fails (false, `error` says why) when it can never run: an empty
  /// prompt, a duplicate id, a prompt as long as the model's context, a prompt plus max
  /// new tokens needing more blocks than the cache has, or stop strings without a
  /// detokenizer.
  bool add(Request request, std::string &error);
  /// Plans the next step (empty when nothing waits or runs).
  StepPlan schedule();
  /// Plans the step after `plan` before `plan`'s tokens are known, so that an engine
  /// can queue it while `plan` runs: a decode entry per entry of `plan`, in its order,
  /// one position further, its token the one `plan` will sample (-1 here). Only when
  /// `plan` is decode alone, nothing waits, every sequence gets the block of its next
  /// position without preempting, none would pass the model's context and one at least
  /// has tokens left after `plan`'s; otherwise false. Blocks it takes stay with their
  /// sequences (their next step needs them). `plan` must be completed before `ahead`,
  /// and an entry of `ahead` whose sequence finished in between must be left out of its
  /// completion.
  bool planAhead(const StepPlan &plan, StepPlan &ahead);
  /// Takes one sampled token per entry of `plan` (prefill entries first, then decode
  /// entries, in plan order) and returns the sequences that finished.
  std::vector<Finished> complete(const StepPlan &plan, const std::vector<int32_t> &sampled);

  bool idle() const { return waiting_.empty() && running_.empty(); }
  size_t numRunning() const { return running_.size(); }
  size_t numWaiting() const { return waiting_.size(); }
  int64_t totalPreemptions() const { return preemptions_; }

private:
  struct Sequence {
    Request request;
    std::vector<int32_t> generated;
    std::vector<int32_t> blocks;
    /// Tokens whose keys and values are in the cache.
    int64_t cached = 0;
    int preemptions = 0;
    int64_t contextLength() const {
      return static_cast<int64_t>(request.prompt.size() + generated.size());
    }
  };

  bool grow(Sequence &sequence, int64_t slots);
  /// Whether one of `stops` is in the text of the last tokens of `generated`: enough
  /// of them to hold the longest stop string before the newest token's text.
  bool stopStringInTail(const std::vector<int32_t> &generated,
                        const std::vector<std::string> &stops) const;
  void preempt(uint64_t id, StepPlan &plan);
  std::vector<int32_t> context(const Sequence &sequence) const;

  BlockPool &pool_;
  SchedulerOptions options_;
  std::map<uint64_t, Sequence> sequences_;
  std::deque<uint64_t> waiting_;
  /// In admission order (the last is preempted first).
  std::vector<uint64_t> running_;
  int64_t preemptions_ = 0;
};

} // namespace loom::serve

#endif // LOOM_SERVING_SCHEDULER_H
