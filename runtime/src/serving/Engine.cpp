//===- Engine.cpp - Text generation on the GPU ----------------------------===//

#include "loom/serving/Engine.h"

#include "ModelState.h"
#include "Status.h"
#include "serving/GpuSampler.h"

#include "loom/support/StepInputs.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>

namespace loom::serve {

using rt::launchSequence;

namespace {

/// The step entry's integer inputs, in the order they are uploaded (StepInputs.h).
const auto &kStepInputs = step::kIntegerInputs;
constexpr int kNumStepInputs = step::kNumIntegerInputs;

std::string describe(loom_status_t status) {
  std::string text = loom_status_message(status);
  loom_status_free(status);
  return text;
}

} // namespace

struct Engine::State {
  loom_device_t device = nullptr;
  loom_model_t model = nullptr;
  EngineOptions options;
  EngineStats stats;
  std::unique_ptr<BlockPool> pool;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<rt::GpuSampler> sampler;
  int64_t blockSize = 0, tableWidth = 0, vocab = 0, maxTokens = 0;
  /// The block table width of the staged step (tableWidth, or more for the warm-up).
  int64_t usedWidth = 0;
  /// The step inputs' buffers; their device memory mirrors `staging` (each input at
  /// the offset stage() put it, so one copy uploads them all).
  int inputBuffer[kNumStepInputs] = {};
  uint64_t inputMemory = 0;
  /// Cache buffers and their memory; the logits output.
  std::vector<std::pair<int, uint64_t>> caches;
  std::vector<uint64_t> cacheBytesPerBlock;
  int logitsBuffer = -1;
  uint64_t logits = 0, sampled = 0;
  /// Page-locked staging for the step's inputs and the sampled tokens, in two halves
  /// (stagingElements and maxBatch each): a step queued ahead (see step()) takes the
  /// half the step before it does not. `done[h]` is recorded after the download of the
  /// step in half h; `lastHalf` is the half of the step launched last.
  int64_t *staging = nullptr;
  size_t stagingElements = 0;
  int32_t *sampledHost = nullptr;
  loom_event_t done[2] = {};
  int lastHalf = 1;
  /// The step queued ahead while the one before it ran: its plan (decode entries, in
  /// the order of that step's rows, whose sampled tokens are its token inputs), which
  /// of its rows still belong to running sequences, and its half.
  struct Ahead {
    StepPlan plan;
    std::vector<bool> live;
    int half = 0;
  };
  std::optional<Ahead> ahead;
  int64_t *stagingHalf(int half) { return staging + half * stagingElements; }
  int32_t *sampledHalf(int half) { return sampledHost + half * options.maxBatch; }
  struct Live {
    Sampling sampling;
    std::vector<int32_t> seen; // prompt + generated, for the repetition penalty
    int32_t produced = 0;
  };
  std::map<uint64_t, Live> live;
  struct Graph {
    loom_graph_t graph = nullptr;
    uint64_t arena = 0;
    /// Where the step inputs were when it was captured.
    std::vector<uint64_t> inputs;
  };
  std::map<int64_t, Graph> graphs;
  std::map<int64_t, int> bucketRuns;

  ~State() {
    // A step queued ahead may still run on buffers freed below.
    if (ahead)
      if (loom_status_t s = loom_device_synchronize(device))
        loom_status_free(s);
    for (loom_event_t event : done)
      loom_event_destroy(event);
    dropGraphs();
    for (auto &[buffer, pointer] : caches)
      freeDevice(pointer);
    freeDevice(inputMemory);
    freeDevice(logits);
    freeDevice(sampled);
    loom_host_free(device, staging);
    loom_host_free(device, sampledHost);
    sampler.reset();
    loom_model_free(model);
  }
  void freeDevice(uint64_t pointer) {
    if (pointer)
      if (loom_status_t s = loom_device_free(device, pointer))
        loom_status_free(s);
  }
  void dropGraphs() {
    for (auto &[bucket, graph] : graphs)
      loom_graph_destroy(graph.graph);
    graphs.clear();
  }

  bool setUp(const std::string &artifact, const std::string &weights, std::string &error);
  bool allocateCaches(int32_t blocks, std::string &error);
  /// The batch-size bucket of a decode step of `seqs` sequences: the next power of two,
  /// at most maxBatch. Each bucket has its graph.
  int64_t bucketOf(int64_t seqs) const {
    int64_t bucket = 1;
    while (bucket < seqs)
      bucket *= 2;
    return std::min<int64_t>(bucket, options.maxBatch);
  }
  /// Captures the decode graph of every bucket, each from padding steps that write no
  /// cache rows.
  bool captureGraphs(std::string &error);
  /// Runs a step of padding sequences only (no entries: see stage()) `times` times,
  /// through the graph path when `graph`.
  loom_status_t runPadding(int64_t tokens, int64_t seqs, bool graph, int times);
  /// Runs the staged step, its inputs at `offsets` (elements) of inputMemory.
  loom_status_t run(int64_t tokens, int64_t seqs, bool graph,
                    const size_t offsets[kNumStepInputs]);
  /// The step's inputs: entries laid end to end, padded to `seqs` sequences, packed in
  /// order from the start of staging half `half`, each at offsets[i] (elements).
  /// Returns the bytes packed, so one copy uploads them all.
  size_t stage(const std::vector<const StepEntry *> &entries, int64_t seqs,
               int64_t &tokens, size_t offsets[kNumStepInputs], int half = 0);
  /// Queues a step: its inputs' upload, its rows' sampling parameters, the step (a
  /// graph when `graph`), the sampler and the download of its tokens into sampledHost
  /// half `half`, then records done[half]. With `ahead`, the step is queued before the
  /// one before it has run: its entries' tokens are left to that step's sampler, which
  /// writes them into place, and each row samples the token after its next one.
  loom_status_t launch(const StepPlan &plan, bool graph, bool ahead, int half);
};

bool Engine::State::setUp(const std::string &artifact, const std::string &weights,
                          std::string &error) {
  auto begin = std::chrono::steady_clock::now();
  if (loom_status_t s = loom_model_load(device, artifact.c_str(), &model)) {
    error = describe(s);
    return false;
  }
  auto progress = [](void *user, size_t done, size_t total, uint64_t, uint64_t) {
    auto *state = static_cast<State *>(user);
    if (state->options.progress)
      state->options.progress(done, total);
  };
  if (loom_status_t s = loom_model_bind_weights_with_progress(model, weights.c_str(),
                                                               progress, this)) {
    error = describe(s);
    return false;
  }
  // The step entry's ports.
  auto find = [&](const std::vector<rt::Port> &ports, const std::string &name) {
    return std::find_if(ports.begin(), ports.end(),
                        [&](const rt::Port &p) { return p.name == name; });
  };
  for (int i = 0; i < kNumStepInputs; ++i) {
    auto port = find(model->inputs, kStepInputs[i]);
    if (port == model->inputs.end()) {
      error = artifact + " has no input '" + kStepInputs[i] +
              "': compile the model with `loom compile --entry step`";
      return false;
    }
    if (port->dtype != DType::I64) {
      error = std::string("input '") + kStepInputs[i] + "' of " + artifact + " is not I64";
      return false;
    }
    inputBuffer[i] = port->buffer;
  }
  auto logitsPort = find(model->outputs, "logits");
  if (logitsPort == model->outputs.end() || logitsPort->shape.size() != 2 ||
      logitsPort->dtype != DType::F32) {
    error = artifact + " has no f32 output 'logits' [seqs, vocab]";
    return false;
  }
  logitsBuffer = logitsPort->buffer;
  vocab = std::atoll(logitsPort->shape[1].c_str());
  // The caches, and the scales of caches of 8-bit codes (a scale per slot and head):
  // every one is a buffer of whole blocks.
  for (const rt::Port &port : model->inputs) {
    bool scales = step::isScalesName(port.name);
    if (!step::isCacheName(port.name) && !scales)
      continue;
    if (port.shape.size() != (scales ? 3u : 4u) || port.shape[0] != "blocks") {
      error = std::string(scales ? "cache scales" : "cache") + " input '" + port.name +
              "' is not [blocks, block_size, heads" + (scales ? "]" : ", dim]");
      return false;
    }
    int64_t size = std::atoll(port.shape[1].c_str());
    if (blockSize && size != blockSize) {
      error = "the caches of " + artifact + " have different block sizes";
      return false;
    }
    blockSize = size;
    caches.emplace_back(port.buffer, 0);
    uint64_t bytes = static_cast<uint64_t>(dtypeSize(port.dtype));
    for (size_t d = 1; d < port.shape.size(); ++d)
      bytes *= static_cast<uint64_t>(std::atoll(port.shape[d].c_str()));
    cacheBytesPerBlock.push_back(bytes);
  }
  if (caches.empty() || blockSize <= 0 || vocab <= 0) {
    error = artifact + " has no KV cache inputs";
    return false;
  }
  if (options.maxContext <= 0) {
    auto bound = model->bounds.find("seq");
    options.maxContext = bound != model->bounds.end() ? bound->second : 2048;
  }
  tableWidth = (options.maxContext + blockSize - 1) / blockSize;
  options.maxStepTokens =
      std::min<int64_t>(options.maxStepTokens, options.maxBatch * options.maxContext);
  maxTokens = std::max<int64_t>(options.maxStepTokens, options.maxContext) + options.maxBatch;

  // Step inputs, logits and sampled tokens at their largest.
  size_t capacity[kNumStepInputs] = {
      size_t(maxTokens),          size_t(maxTokens),        size_t(maxTokens),
      size_t((options.maxBatch + 1) * tableWidth + options.maxBatch + 1),
      size_t(options.maxBatch),
      size_t(options.maxBatch),   size_t(options.maxBatch)};
  for (size_t elements : capacity)
    stagingElements += elements;
  if (loom_status_t s = loom_device_alloc(device, stagingElements * 8, &inputMemory)) {
    error = describe(s);
    return false;
  }
  if (loom_status_t s = loom_host_alloc(device, 2 * stagingElements * 8,
                                        reinterpret_cast<void **>(&staging))) {
    error = describe(s);
    return false;
  }
  for (loom_event_t &event : done)
    if (loom_status_t s = loom_event_create(device, &event)) {
      error = describe(s);
      return false;
    }
  if (loom_status_t s = loom_host_alloc(device, 2 * options.maxBatch * 4,
                                        reinterpret_cast<void **>(&sampledHost))) {
    error = describe(s);
    return false;
  }
  if (loom_status_t s = loom_device_alloc(device, options.maxBatch * vocab * 4, &logits)) {
    error = describe(s);
    return false;
  }
  if (loom_status_t s = loom_device_alloc(device, options.maxBatch * 4, &sampled)) {
    error = describe(s);
    return false;
  }
  sampler = std::make_unique<rt::GpuSampler>(device, model->arch);
  if (loom_status_t s = sampler->load()) {
    error = describe(s);
    return false;
  }

  // Warm up with a one-block cache: the largest prefill and the largest decode grow the
  // activation arena to what any step needs, before graphs capture its address.
  if (!allocateCaches(1, error))
    return false;
  for (auto [tokens, seqs] : {std::pair<int64_t, int64_t>{maxTokens, 1},
                              std::pair<int64_t, int64_t>{options.maxBatch, options.maxBatch}}) {
    if (loom_status_t s = runPadding(tokens, seqs, false, 1)) {
      error = "warm-up step: " + describe(s);
      return false;
    }
  }
  if (loom_status_t s = loom_device_synchronize(device)) {
    error = "warm-up step: " + describe(s);
    return false;
  }
  for (auto &[buffer, pointer] : caches) {
    freeDevice(pointer);
    pointer = 0;
  }

  // The KV cache: as many blocks as fit, at most what maxBatch full contexts need.
  int32_t blocks = options.kvBlocks;
  uint64_t perBlock = 0;
  for (uint64_t b : cacheBytesPerBlock)
    perBlock += b;
  if (blocks <= 0) {
    size_t free = 0, total = 0;
    if (loom_status_t s = loom_device_memory_info(device, &free, &total)) {
      error = describe(s);
      return false;
    }
    uint64_t fits = static_cast<uint64_t>(free * options.memoryFraction) / perBlock;
    uint64_t needed = static_cast<uint64_t>(options.maxBatch) * tableWidth + 1;
    blocks = static_cast<int32_t>(std::min<uint64_t>(fits, needed));
    if (blocks < tableWidth) {
      error = "not enough free GPU memory for the KV cache of one " +
              std::to_string(options.maxContext) + "-token sequence (" +
              std::to_string(free >> 20) + " MiB free)";
      return false;
    }
  }
  if (!allocateCaches(blocks, error))
    return false;
  stats.kvBlocks = blocks;
  stats.blockSize = static_cast<int32_t>(blockSize);
  stats.kvCacheBytes = perBlock * static_cast<uint64_t>(blocks);
  pool = std::make_unique<BlockPool>(blocks, static_cast<int32_t>(blockSize));
  SchedulerOptions schedulerOptions;
  schedulerOptions.maxBatch = options.maxBatch;
  schedulerOptions.maxStepTokens = options.maxStepTokens;
  schedulerOptions.maxContext = options.maxContext;
  schedulerOptions.detokenize = options.detokenize;
  scheduler = std::make_unique<Scheduler>(*pool, schedulerOptions);
  size_t free = 0, total = 0;
  if (loom_status_t s = loom_device_memory_info(device, &free, &total)) {
    error = describe(s);
    return false;
  }
  stats.deviceBytesUsed = total - free;
  if (options.profile) {
    options.cudaGraphs = false;
    if (loom_status_t s = loom_model_set_profiling(model, 1)) {
      error = describe(s);
      return false;
    }
  }
  if (options.cudaGraphs && options.captureGraphsAtLoad && !captureGraphs(error))
    return false;
  stats.loadSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  return true;
}

bool Engine::State::allocateCaches(int32_t blocks, std::string &error) {
  for (size_t i = 0; i < caches.size(); ++i) {
    uint64_t bytes = cacheBytesPerBlock[i] * static_cast<uint64_t>(blocks);
    loom_status_t s = loom_device_alloc(device, bytes, &caches[i].second);
    if (!s)
      s = loom_device_zero(device, caches[i].second, bytes);
    if (s) {
      error = "KV cache (" + std::to_string(blocks) + " blocks): " + describe(s);
      return false;
    }
  }
  return true;
}

bool Engine::State::captureGraphs(std::string &error) {
  for (int64_t seqs = bucketOf(1);; seqs = bucketOf(seqs + 1)) {
    // The bucket's first step runs directly, its second captures (see run()).
    if (loom_status_t s = runPadding(seqs, seqs, true, 2)) {
      error = "capturing the decode graph of " + std::to_string(seqs) +
              " sequences: " + describe(s);
      return false;
    }
    if (seqs == options.maxBatch)
      break;
  }
  stats.graphSteps = 0;
  if (loom_status_t s = loom_device_synchronize(device)) {
    error = "capturing the decode graphs: " + describe(s);
    return false;
  }
  return true;
}

loom_status_t Engine::State::runPadding(int64_t tokens, int64_t seqs, bool graph,
                                        int times) {
  size_t offsets[kNumStepInputs];
  std::vector<const StepEntry *> none;
  size_t bytes = stage(none, seqs, tokens, offsets);
  loom_status_t s = loom_device_upload(device, inputMemory, staging, bytes);
  for (int i = 0; i < times && !s; ++i)
    s = run(tokens, seqs, graph, offsets);
  return s;
}

size_t Engine::State::stage(const std::vector<const StepEntry *> &entries, int64_t seqs,
                            int64_t &tokens, size_t offsets[kNumStepInputs], int half) {
  // Tokens per sequence. Padding sequences (beyond the entries) have one token that
  // writes nothing (slot -1) and attends to slot 0 of block 0; their logits are
  // ignored. Without entries, the first padding sequence takes the rest of `tokens`
  // (the warm-up's long prefill).
  std::vector<int64_t> lengths(seqs, 1);
  for (size_t s = 0; s < entries.size(); ++s)
    lengths[s] = static_cast<int64_t>(entries[s]->tokens.size());
  if (entries.empty())
    lengths[0] = std::max<int64_t>(1, tokens - (seqs - 1));
  int64_t total = 0, width = tableWidth;
  for (int64_t n : lengths) {
    total += n;
    width = std::max(width, (n + blockSize - 1) / blockSize);
  }
  tokens = total;
  usedWidth = width;
  int64_t *base = stagingHalf(half);
  int64_t *tok = base, *pos = tok + total, *slot = pos + total, *table = slot + total;
  int64_t *len = table + seqs * width, *start = len + seqs, *last = start + seqs;
  std::fill(table, table + seqs * width, 0);
  int64_t t = 0;
  for (int64_t s = 0; s < seqs; ++s) {
    start[s] = t;
    const StepEntry *e = s < static_cast<int64_t>(entries.size()) ? entries[s] : nullptr;
    for (int64_t i = 0; i < lengths[s]; ++i, ++t) {
      int64_t position = e ? e->start + i : i;
      tok[t] = e ? e->tokens[i] : 0;
      pos[t] = position;
      slot[t] = e ? (*e->blocks)[position / blockSize] * blockSize + position % blockSize
                  : -1;
    }
    len[s] = e ? e->start + lengths[s] : lengths[s];
    if (e)
      std::copy(e->blocks->begin(), e->blocks->end(), table + s * width);
    last[s] = t - 1;
  }
  int64_t *bases[kNumStepInputs] = {tok, pos, slot, table, len, start, last};
  size_t sizes[kNumStepInputs] = {size_t(total),        size_t(total), size_t(total),
                                  size_t(seqs * width), size_t(seqs),  size_t(seqs),
                                  size_t(seqs)};
  for (int i = 0; i < kNumStepInputs; ++i)
    offsets[i] = static_cast<size_t>(bases[i] - base);
  return (offsets[kNumStepInputs - 1] + sizes[kNumStepInputs - 1]) * sizeof(int64_t);
}

loom_status_t Engine::State::run(int64_t tokens, int64_t seqs, bool graph,
                                 const size_t offsets[kNumStepInputs]) {
  std::map<std::string, int64_t> sizes = {{"tokens", tokens},
                                          {"seqs", seqs},
                                          {"table", usedWidth},
                                          {"blocks", pool ? pool->numBlocks() : 1}};
  std::map<int, uint64_t> pinned;
  std::vector<uint64_t> inputs;
  for (int i = 0; i < kNumStepInputs; ++i) {
    inputs.push_back(inputMemory + offsets[i] * 8);
    pinned[inputBuffer[i]] = inputs.back();
  }
  for (auto &[buffer, pointer] : caches)
    pinned[buffer] = pointer;
  pinned[logitsBuffer] = logits;
  std::vector<uint64_t> memory;
  if (!graph)
    return launchSequence(model, sizes, pinned, memory, {});
  // Decode steps of a bucket: the first runs directly (and grows the arena if it must),
  // later ones replay a graph captured from the second, while the arena stays put.
  Graph &g = graphs[seqs];
  if (g.graph && (g.arena != model->arena || g.inputs != inputs)) {
    loom_graph_destroy(g.graph);
    g.graph = nullptr;
  }
  if (!g.graph) {
    if (bucketRuns[seqs]++ == 0)
      return launchSequence(model, sizes, pinned, memory, {});
    if (loom_status_t s = loom_graph_capture_begin(device))
      return s;
    loom_status_t launched = launchSequence(model, sizes, pinned, memory, {});
    loom_graph_t captured = nullptr;
    loom_status_t ended = loom_graph_capture_end(device, &captured);
    if (launched) {
      loom_status_free(ended);
      loom_graph_destroy(captured);
      return launched;
    }
    if (ended)
      return ended;
    g.graph = captured;
    g.arena = model->arena;
    g.inputs = inputs;
  }
  ++stats.graphSteps;
  return loom_graph_launch(g.graph);
}

std::unique_ptr<Engine> Engine::create(loom_device_t device, const std::string &artifact,
                                       const std::string &weights,
                                       const EngineOptions &options, std::string &error) {
  if (options.maxBatch <= 0 || options.maxStepTokens <= 0) {
    error = "maxBatch and maxStepTokens must be positive";
    return nullptr;
  }
  auto state = std::make_unique<State>();
  state->device = device;
  state->options = options;
  if (!state->setUp(artifact, weights, error))
    return nullptr;
  return std::unique_ptr<Engine>(new Engine(std::move(state)));
}

Engine::Engine(std::unique_ptr<State> state) : state_(std::move(state)) {}
Engine::~Engine() = default;

bool Engine::add(GenerationRequest request, std::string &error) {
  State &st = *state_;
  if (request.sampling.temperature < 0 || request.sampling.topP <= 0 ||
      request.sampling.topP > 1 || request.sampling.topK < 0 ||
      request.sampling.repetitionPenalty <= 0) {
    error = "request " + std::to_string(request.id) +
            ": sampling needs temperature >= 0, 0 < top_p <= 1, top_k >= 0 and a "
            "positive repetition penalty";
    return false;
  }
  for (int32_t token : request.prompt)
    if (token < 0 || token >= st.vocab) {
      error = "request " + std::to_string(request.id) + ": token " +
              std::to_string(token) + " is outside the vocabulary of " +
              std::to_string(st.vocab);
      return false;
    }
  Request queued{request.id, request.prompt, request.stop};
  if (!st.scheduler->add(queued, error))
    return false;
  State::Live &live = st.live[request.id];
  live.sampling = request.sampling;
  if (request.sampling.repetitionPenalty != 1.0f)
    live.seen = request.prompt;
  return true;
}

loom_status_t Engine::State::launch(const StepPlan &plan, bool graph, bool ahead,
                                    int half) {
  std::vector<const StepEntry *> entries;
  for (const StepEntry &e : plan.prefill)
    entries.push_back(&e);
  for (const StepEntry &e : plan.decode)
    entries.push_back(&e);
  int64_t seqs = static_cast<int64_t>(entries.size());
  if (graph)
    seqs = bucketOf(seqs);
  int64_t count = 0;
  size_t offsets[kNumStepInputs];
  size_t bytes = stage(entries, seqs, count, offsets, half);
  // stage() packs the inputs in order, the tokens first: one copy takes them all, or
  // all but the entries' tokens.
  size_t skip = ahead ? entries.size() * sizeof(int64_t) : 0;
  const int64_t *staged = stagingHalf(half);
  if (loom_status_t s = loom_device_upload_async(
          device, inputMemory + skip, reinterpret_cast<const char *>(staged) + skip,
          bytes - skip))
    return s;
  // The real rows' sampling parameters go up before the step runs.
  std::vector<rt::SampleRow> rows;
  std::vector<int32_t> history;
  for (const StepEntry *e : entries) {
    const Live &l = live.at(e->id);
    rt::SampleRow row;
    row.temperature = l.sampling.temperature;
    row.topK = l.sampling.topK;
    row.topP = l.sampling.topP;
    row.repetitionPenalty = l.sampling.repetitionPenalty;
    row.seed = l.sampling.seed;
    row.index = l.produced + (ahead ? 1 : 0);
    row.historyBegin = static_cast<int32_t>(history.size());
    history.insert(history.end(), l.seen.begin(), l.seen.end());
    row.historyEnd = static_cast<int32_t>(history.size());
    rows.push_back(row);
  }
  if (loom_status_t s = sampler->prepare(vocab, rows, history))
    return s;
  if (loom_status_t s = run(count, seqs, graph, offsets))
    return s;
  // A decode step's tokens also land in the token inputs (offset 0), where a step queued
  // after it finds them; any other step's next upload overwrites them.
  uint64_t next = graph && plan.prefill.empty() ? inputMemory + offsets[0] * 8 : 0;
  if (loom_status_t s = sampler->launch(logits, sampled, next))
    return s;
  if (loom_status_t s = loom_device_download_async(device, sampledHalf(half), sampled,
                                                   entries.size() * 4))
    return s;
  return loom_event_record(done[half]);
}

/// A step's tokens come back while the step after it already runs, when that one can be
/// planned without them (decode steps of a steady batch, in graphs): the step queued
/// ahead in one call is the next call's step, so the host's work between steps (this
/// function, the scheduler, the caller's) overlaps the GPU's.
bool Engine::step(std::vector<StepToken> &tokens, std::vector<Finished> &finished,
                  std::string &error) {
  State &st = *state_;
  tokens.clear();
  finished.clear();
  auto fail = [&](loom_status_t s) {
    error = describe(s);
    return false;
  };
  // A step queued ahead whose sequences have all finished is waited for and dropped.
  if (st.ahead && std::none_of(st.ahead->live.begin(), st.ahead->live.end(),
                               [](bool b) { return b; })) {
    if (loom_status_t s = loom_event_synchronize(st.done[st.ahead->half]))
      return fail(s);
    st.ahead.reset();
  }
  StepPlan plan;
  std::vector<bool> rowLive;
  int half = 0;
  if (st.ahead) {
    plan = std::move(st.ahead->plan);
    rowLive = std::move(st.ahead->live);
    half = st.ahead->half;
    st.ahead.reset();
  } else {
    plan = st.scheduler->schedule();
    if (plan.empty())
      return true;
    for (const StepEntry &e : plan.prefill)
      st.stats.promptTokens += static_cast<int64_t>(e.tokens.size());
    half = st.lastHalf ^= 1;
    bool graph = st.options.cudaGraphs && plan.prefill.empty();
    if (loom_status_t s = st.launch(plan, graph, false, half))
      return fail(s);
    rowLive.assign(plan.prefill.size() + plan.decode.size(), true);
  }
  // Queue the next step now when it can be planned without this one's tokens: every
  // row still running, no repetition penalty (its history would need them).
  bool steady =
      st.options.cudaGraphs && plan.prefill.empty() &&
      std::all_of(rowLive.begin(), rowLive.end(), [](bool b) { return b; }) &&
      std::all_of(plan.decode.begin(), plan.decode.end(), [&](const StepEntry &e) {
        return st.live.at(e.id).sampling.repetitionPenalty == 1.0f;
      });
  StepPlan next;
  if (steady && st.scheduler->planAhead(plan, next)) {
    int nextHalf = st.lastHalf ^= 1;
    if (loom_status_t s = st.launch(next, true, true, nextHalf))
      return fail(s);
    size_t rows = next.decode.size();
    st.ahead = State::Ahead{std::move(next), std::vector<bool>(rows, true), nextHalf};
  }
  if (loom_status_t s = loom_event_synchronize(st.done[half]))
    return fail(s);
  // The rows whose sequences are still running take their tokens.
  const int32_t *got = st.sampledHalf(half);
  StepPlan completed;
  std::vector<int32_t> sampled;
  size_t row = 0;
  auto take = [&](const std::vector<StepEntry> &from, std::vector<StepEntry> &into) {
    for (const StepEntry &e : from) {
      if (rowLive[row]) {
        into.push_back(e);
        sampled.push_back(got[row]);
      }
      ++row;
    }
  };
  take(plan.prefill, completed.prefill);
  take(plan.decode, completed.decode);
  for (size_t i = 0; i < sampled.size(); ++i) {
    const StepEntry &e = i < completed.prefill.size()
                             ? completed.prefill[i]
                             : completed.decode[i - completed.prefill.size()];
    tokens.push_back({e.id, sampled[i]});
    State::Live &live = st.live[e.id];
    ++live.produced;
    if (live.sampling.repetitionPenalty != 1.0f)
      live.seen.push_back(sampled[i]);
  }
  ++st.stats.steps;
  if (!plan.prefill.empty())
    ++st.stats.prefillSteps;
  st.stats.generatedTokens += static_cast<int64_t>(sampled.size());
  finished = st.scheduler->complete(completed, sampled);
  for (const Finished &f : finished) {
    st.live.erase(f.id);
    // Its row of the step queued ahead is wasted.
    if (st.ahead)
      for (size_t i = 0; i < st.ahead->plan.decode.size(); ++i)
        if (st.ahead->plan.decode[i].id == f.id)
          st.ahead->live[i] = false;
  }
  st.stats.preemptions = st.scheduler->totalPreemptions();
  return true;
}

bool Engine::idle() const { return state_->scheduler->idle(); }
const EngineStats &Engine::stats() const { return state_->stats; }
int64_t Engine::vocabSize() const { return state_->vocab; }
std::string Engine::profile() const {
  const char *text = loom_model_profile(state_->model);
  return text ? text : "";
}

} // namespace loom::serve
