//===- Engine.h - Text generation on the GPU --------------------------*- C++ -*-===//
//
// The serving engine runs a model compiled with `loom compile --entry step` on one
// GPU: it owns the paged KV cache (one key and one value tensor per layer, in blocks
// handed out by a BlockPool), the continuous-batching Scheduler, the GPU sampler and
// the CUDA graphs of decode steps. Each call to `step` plans a step, lays its tokens
// out end to end (block tables, slots, context lengths), runs the compiled step,
// samples one token per sequence on the GPU and hands the tokens to the scheduler.
//
//   loom_device_t device; loom_device_open(0, &device);
//   std::string error;
//   auto engine = loom::serve::Engine::create(device, "model.loom", "hf-folder", {},
//   error); engine->add({/*id*/ 1, prompt, stop, sampling}, error); while
//   (!engine->idle()) engine->step(tokens, finished, error);
//
// Decode steps whose batch fits a bucket (1, 2, 4, ... up to maxBatch) are replayed
// from a CUDA graph of that bucket, captured while the engine loads (or, with
// captureGraphsAtLoad off, at the bucket's second step); steps with prompt tokens run
// the launch sequence directly.
//
// While a decode step runs, the step after it is queued when it can be planned without
// the running step's tokens (nothing waits to be admitted, every sequence has the
// block of its next position free and no repetition penalty): the sampler writes the
// tokens straight into the queued step's inputs, and the next call to `step` only
// waits for that step's tokens, so the host's work overlaps the GPU's. A sequence that
// finishes meanwhile leaves its row of the queued step unused.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SERVING_ENGINE_H
#define LOOM_SERVING_ENGINE_H

#include "loom/runtime.h"
#include "loom/serving/Scheduler.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace loom::serve {

struct Sampling {
  float temperature = 0.0f; // 0: greedy
  int32_t topK = 0;         // 0: no limit
  float topP = 1.0f;        // 1: no limit
  float repetitionPenalty = 1.0f;
  uint64_t seed = 0;
};

struct GenerationRequest {
  uint64_t id = 0;
  std::vector<int32_t> prompt;
  StopCriteria stop;
  Sampling sampling;
};

struct EngineOptions {
  /// Sequences per step at most, and prompt tokens per step at most.
  int32_t maxBatch = 64;
  int64_t maxStepTokens = 2048;
  /// The longest context a sequence may reach (prompt + generated); 0: the artifact's
  /// `seq` bound, else 2048.
  int64_t maxContext = 0;
  /// KV blocks to allocate; 0: as many as `memoryFraction` of the free memory holds
  /// after the weights and activations, at most what maxBatch full contexts need.
  int32_t kvBlocks = 0;
  double memoryFraction = 0.9;
  /// Replay decode steps from CUDA graphs, per batch-size bucket.
  bool cudaGraphs = true;
  /// Capture every bucket's graph while loading (two padding steps each), so that no
  /// request's step waits for a capture; off, a bucket's first step runs directly and
  /// its second captures.
  bool captureGraphsAtLoad = true;
  /// Time every kernel launch (loom_model_set_profiling); turns CUDA graphs off.
  bool profile = false;
  /// Token ids to text, for stop strings.
  std::function<std::string(const std::vector<int32_t> &)> detokenize;
  /// Called with (done, total) while weights load; may be empty.
  std::function<void(size_t, size_t)> progress;
};

/// A token sampled in a step, for streaming.
struct StepToken {
  uint64_t id = 0;
  int32_t token = 0;
};

struct EngineStats {
  int64_t steps = 0, prefillSteps = 0, graphSteps = 0;
  int64_t promptTokens = 0, generatedTokens = 0, preemptions = 0;
  int32_t kvBlocks = 0, blockSize = 0;
  uint64_t kvCacheBytes = 0;
  /// Seconds spent loading (compile + weights + cache + warm-up + graph captures).
  double loadSeconds = 0;
  /// Device memory in use once loaded (weights, KV cache, activations, everything
  /// else on the device), from the driver's free-memory count.
  uint64_t deviceBytesUsed = 0;
};

class Engine {
public:
  /// Loads the artifact (compiled with `--entry step`), binds the weights from `weights`
  /// (a safetensors file or an HF folder), allocates the KV cache and warms up. Null
  /// with the reason in `error` on failure.
  static std::unique_ptr<Engine> create(loom_device_t device, const std::string &artifact,
                                        const std::string &weights,
                                        const EngineOptions &options, std::string &error);
  ~Engine();

  /// Queues a request; false with the reason when it can never run.
  bool add(GenerationRequest request, std::string &error);
  /// Runs one step: `tokens` gets the token sampled for each sequence in it (in plan
  /// order), `finished` the sequences that completed. False with the reason on a
  /// device error (the engine is then unusable).
  bool step(std::vector<StepToken> &tokens, std::vector<Finished> &finished,
            std::string &error);
  bool idle() const;
  const EngineStats &stats() const;
  /// The vocabulary size (the logits' width).
  int64_t vocabSize() const;
  /// The per-kernel profile so far (EngineOptions::profile), as loom_model_profile.
  std::string profile() const;

  struct State;

private:
  explicit Engine(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

} // namespace loom::serve

#endif // LOOM_SERVING_ENGINE_H
