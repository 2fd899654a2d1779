//===- Scheduler.cpp - Continuous batching over a paged KV cache -----------===//

#include "loom/serving/Scheduler.h"

#include <algorithm>
#include <stdexcept>

namespace loom::serve {

const char *finishReasonName(FinishReason reason) {
  switch (reason) {
  case FinishReason::StopToken:
    return "stop token";
  case FinishReason::StopString:
    return "stop string";
  case FinishReason::MaxTokens:
    return "max new tokens";
  case FinishReason::ModelLength:
    return "model context length";
  }
  return "?";
}

Scheduler::Scheduler(BlockPool &pool, SchedulerOptions options)
    : pool_(pool), options_(std::move(options)) {}

bool Scheduler::add(Request request, std::string &error) {
  std::string which = "request " + std::to_string(request.id);
  int64_t length = static_cast<int64_t>(request.prompt.size());
  if (length == 0) {
    error = which + " has an empty prompt";
    return false;
  }
  if (sequences_.count(request.id)) {
    error = which + " is already queued or running";
    return false;
  }
  if (options_.maxContext && length >= options_.maxContext) {
    error = which + ": a prompt of " + std::to_string(length) +
            " tokens leaves no room in the model's context of " +
            std::to_string(options_.maxContext);
    return false;
  }
  int64_t worst = length + std::max<int64_t>(request.stop.maxNewTokens, 1);
  if (options_.maxContext)
    worst = std::min(worst, options_.maxContext);
  if (pool_.blocksFor(worst) > pool_.numBlocks()) {
    error = which + " needs " + std::to_string(pool_.blocksFor(worst)) +
            " KV blocks for its prompt and max new tokens; the cache has " +
            std::to_string(pool_.numBlocks());
    return false;
  }
  if (!request.stop.stopStrings.empty() && !options_.detokenize) {
    error = which + " has stop strings but the scheduler has no detokenizer";
    return false;
  }
  uint64_t id = request.id;
  sequences_[id].request = std::move(request);
  waiting_.push_back(id);
  return true;
}

std::vector<int32_t> Scheduler::context(const Sequence &sequence) const {
  std::vector<int32_t> tokens = sequence.request.prompt;
  tokens.insert(tokens.end(), sequence.generated.begin(), sequence.generated.end());
  return tokens;
}

bool Scheduler::grow(Sequence &sequence, int64_t slots) {
  while (static_cast<int64_t>(sequence.blocks.size()) * pool_.blockSize() < slots) {
    std::optional<int32_t> block = pool_.allocate();
    if (!block)
      return false;
    sequence.blocks.push_back(*block);
  }
  return true;
}

void Scheduler::preempt(uint64_t id, StepPlan &plan) {
  Sequence &victim = sequences_.at(id);
  pool_.releaseAll(victim.blocks);
  victim.cached = 0;
  ++victim.preemptions;
  ++preemptions_;
  running_.erase(std::find(running_.begin(), running_.end(), id));
  waiting_.push_front(id);
  plan.preempted.push_back(id);
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  // 1. One token for every running sequence, preempting from the back when the pool
  // runs dry. Entries already planned are in front of the victim, so they stay valid.
  for (size_t i = 0; i < running_.size();) {
    uint64_t id = running_[i];
    Sequence &sequence = sequences_.at(id);
    bool self = false;
    while (!grow(sequence, sequence.cached + 1)) {
      uint64_t victim = running_.back();
      preempt(victim, plan);
      if (victim == id) {
        self = true;
        break;
      }
    }
    if (self)
      break;
    plan.decode.push_back(
        {id, {sequence.generated.back()}, sequence.cached, &sequence.blocks});
    ++i;
  }
  // 2. Admissions, in order, unless this step had to preempt.
  int64_t budget = options_.maxStepTokens;
  while (plan.preempted.empty() && !waiting_.empty() &&
         static_cast<int64_t>(plan.prefill.size() + plan.decode.size()) <
             options_.maxBatch) {
    uint64_t id = waiting_.front();
    Sequence &sequence = sequences_.at(id);
    std::vector<int32_t> tokens = context(sequence);
    int64_t length = static_cast<int64_t>(tokens.size());
    if (pool_.numFree() < pool_.blocksFor(length + 1))
      break;
    if (length > budget && !plan.empty())
      break;
    if (!grow(sequence, length))
      break; // cannot happen after the check above; kept for safety
    budget -= length;
    waiting_.pop_front();
    running_.push_back(id);
    plan.prefill.push_back({id, std::move(tokens), 0, &sequence.blocks});
  }
  return plan;
}

bool Scheduler::planAhead(const StepPlan &plan, StepPlan &ahead) {
  ahead = StepPlan();
  if (!waiting_.empty() || !plan.prefill.empty() || plan.decode.empty())
    return false;
  StepPlan next;
  bool useful = false;
  // The blocks it needs must all be free (no preemption ahead of time).
  int64_t needed = 0;
  for (const StepEntry &entry : plan.decode) {
    Sequence &sequence = sequences_.at(entry.id);
    // `plan` leaves the sequence with generated + 1 tokens; the step ahead makes
    // generated + 2, the token at position `position`.
    int64_t position = entry.start + static_cast<int64_t>(entry.tokens.size());
    if (options_.maxContext && position + 1 > options_.maxContext)
      return false;
    useful |= static_cast<int64_t>(sequence.generated.size()) + 2 <=
              sequence.request.stop.maxNewTokens;
    needed += std::max<int64_t>(0, pool_.blocksFor(position + 1) -
                                       static_cast<int64_t>(sequence.blocks.size()));
    next.decode.push_back({entry.id, {-1}, position, &sequence.blocks});
  }
  if (!useful || needed > pool_.numFree())
    return false;
  for (const StepEntry &entry : next.decode)
    grow(sequences_.at(entry.id), entry.start + 1);
  ahead = std::move(next);
  return true;
}

/// A stop string that appears with the newest token ends in that token's text and
/// starts at most its length before, so the text of the last tokens holds it once it
/// is longer than the longest stop string plus the newest token's text plus a margin
/// (a decoder may treat the first few bytes of a text differently: a stripped leading
/// space, an incomplete UTF-8 sequence). Every token yields at least one byte in
/// byte-level vocabularies, so the window starts at that many tokens and doubles
/// until its text is long enough or it is the whole output. A stop string that
/// appeared earlier was found at its own step.
bool Scheduler::stopStringInTail(const std::vector<int32_t> &generated,
                                 const std::vector<std::string> &stops) const {
  constexpr size_t kMargin = 4;
  size_t longest = 0;
  for (const std::string &s : stops)
    longest = std::max(longest, s.size());
  size_t need = longest + options_.detokenize({generated.back()}).size() + kMargin;
  size_t count = std::min(generated.size(), need);
  std::string window;
  while (true) {
    window = options_.detokenize(std::vector<int32_t>(
        generated.end() - static_cast<std::ptrdiff_t>(count), generated.end()));
    if (window.size() >= need || count == generated.size())
      break;
    count = std::min(generated.size(), count * 2);
  }
  return std::any_of(stops.begin(), stops.end(), [&](const std::string &s) {
    return !s.empty() && window.find(s) != std::string::npos;
  });
}

std::vector<Finished> Scheduler::complete(const StepPlan &plan,
                                          const std::vector<int32_t> &sampled) {
  if (sampled.size() != plan.prefill.size() + plan.decode.size())
    throw std::invalid_argument("Scheduler::complete: " + std::to_string(sampled.size()) +
                                " sampled tokens for a plan of " +
                                std::to_string(plan.prefill.size() + plan.decode.size()) +
                                " entries");
  std::vector<Finished> finished;
  size_t next = 0;
  auto advance = [&](const StepEntry &entry) {
    Sequence &sequence = sequences_.at(entry.id);
    const StopCriteria &stop = sequence.request.stop;
    sequence.cached = entry.start + static_cast<int64_t>(entry.tokens.size());
    int32_t token = sampled[next++];
    sequence.generated.push_back(token);
    std::optional<FinishReason> reason;
    std::string text;
    if (std::find(stop.stopTokens.begin(), stop.stopTokens.end(), token) !=
        stop.stopTokens.end())
      reason = FinishReason::StopToken;
    // Each step looks for stop strings in the text of the output's last tokens only;
    // the whole output is detokenized once, when one is there.
    if (!reason && !stop.stopStrings.empty() &&
        stopStringInTail(sequence.generated, stop.stopStrings)) {
      text = options_.detokenize(sequence.generated);
      size_t earliest = std::string::npos;
      for (const std::string &s : stop.stopStrings)
        if (!s.empty())
          earliest = std::min(earliest, text.find(s));
      if (earliest != std::string::npos) {
        text.resize(earliest);
        reason = FinishReason::StopString;
      }
    }
    if (!reason && static_cast<int64_t>(sequence.generated.size()) >= stop.maxNewTokens)
      reason = FinishReason::MaxTokens;
    if (!reason && options_.maxContext && sequence.contextLength() >= options_.maxContext)
      reason = FinishReason::ModelLength;
    if (!reason)
      return;
    if (text.empty() && options_.detokenize && reason != FinishReason::StopString)
      text = options_.detokenize(sequence.generated);
    finished.push_back(
        {entry.id, sequence.generated, std::move(text), *reason, sequence.preemptions});
    pool_.releaseAll(sequence.blocks);
    running_.erase(std::find(running_.begin(), running_.end(), entry.id));
    sequences_.erase(entry.id);
  };
  for (const StepEntry &entry : plan.prefill)
    advance(entry);
  for (const StepEntry &entry : plan.decode)
    advance(entry);
  return finished;
}

} // namespace loom::serve
