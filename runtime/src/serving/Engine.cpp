//===- Engine.cpp - Text generation on the GPU ----------------------------===//

#include "loom/serving/Engine.h"

#include "ModelState.h"
#include "Status.h"
#include "serving/GpuSampler.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>

namespace loom::serve {

using rt::launchSequence;

namespace {

/// The step entry's integer inputs, in the order they are uploaded.
const char *const kStepInputs[] = {"tokens",       "positions",    "slots",      "block_tables",
                                   "context_lens", "query_starts", "last_tokens"};
constexpr int kNumStepInputs = 7;

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
  /// Page-locked staging for the step's inputs and the sampled tokens.
  int64_t *staging = nullptr;
  size_t stagingElements = 0;
  int32_t *sampledHost = nullptr;
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
  /// Runs the staged step, its inputs at `offsets` (elements) of inputMemory.
  loom_status_t run(int64_t tokens, int64_t seqs, bool graph,
                    const size_t offsets[kNumStepInputs]);
  /// The step's inputs: entries laid end to end, padded to `seqs` sequences, packed in
  /// order from the start of `staging`, each at offsets[i] (elements). Returns the
  /// bytes packed, so one copy uploads them all.
  size_t stage(const std::vector<const StepEntry *> &entries, int64_t seqs,
               int64_t &tokens, size_t offsets[kNumStepInputs]);
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
  for (const rt::Port &port : model->inputs) {
    if (port.name.find("_cache_") == std::string::npos)
      continue;
    if (port.shape.size() != 4 || port.shape[0] != "blocks") {
      error = "cache input '" + port.name + "' is not [blocks, block_size, heads, dim]";
      return false;
    }
    int64_t size = std::atoll(port.shape[1].c_str());
    if (blockSize && size != blockSize) {
      error = "the caches of " + artifact + " have different block sizes";
      return false;
    }
    blockSize = size;
    caches.emplace_back(port.buffer, 0);
    cacheBytesPerBlock.push_back(static_cast<uint64_t>(
        size * std::atoll(port.shape[2].c_str()) * std::atoll(port.shape[3].c_str()) *
        dtypeSize(port.dtype)));
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
  if (loom_status_t s = loom_host_alloc(device, stagingElements * 8,
                                        reinterpret_cast<void **>(&staging))) {
    error = describe(s);
    return false;
  }
  if (loom_status_t s = loom_host_alloc(device, options.maxBatch * 4,
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
    size_t offsets[kNumStepInputs];
    std::vector<const StepEntry *> none;
    int64_t staged = tokens;
    size_t bytes = stage(none, seqs, staged, offsets);
    if (loom_status_t s = loom_device_upload(device, inputMemory, staging, bytes)) {
      error = describe(s);
      return false;
    }
    if (loom_status_t s = run(staged, seqs, false, offsets)) {
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

size_t Engine::State::stage(const std::vector<const StepEntry *> &entries, int64_t seqs,
                            int64_t &tokens, size_t offsets[kNumStepInputs]) {
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
  int64_t *tok = staging, *pos = tok + total, *slot = pos + total, *table = slot + total;
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
    offsets[i] = static_cast<size_t>(bases[i] - staging);
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

bool Engine::step(std::vector<StepToken> &tokens, std::vector<Finished> &finished,
                  std::string &error) {
  State &st = *state_;
  tokens.clear();
  finished.clear();
  StepPlan plan = st.scheduler->schedule();
  if (plan.empty())
    return true;
  std::vector<const StepEntry *> entries;
  for (const StepEntry &e : plan.prefill) {
    entries.push_back(&e);
    st.stats.promptTokens += static_cast<int64_t>(e.tokens.size());
  }
  for (const StepEntry &e : plan.decode)
    entries.push_back(&e);
  int64_t seqs = static_cast<int64_t>(entries.size());
  bool graph = st.options.cudaGraphs && plan.prefill.empty();
  if (graph) {
    int64_t bucket = 1;
    while (bucket < seqs)
      bucket *= 2;
    seqs = std::min<int64_t>(bucket, st.options.maxBatch);
  }
  int64_t count = 0;
  size_t offsets[kNumStepInputs];
  size_t bytes = st.stage(entries, seqs, count, offsets);
  auto fail = [&](loom_status_t s) {
    error = describe(s);
    return false;
  };
  // stage() packs the inputs in order: one copy takes them all.
  if (loom_status_t s =
          loom_device_upload_async(st.device, st.inputMemory, st.staging, bytes))
    return fail(s);
  // The real rows' sampling parameters go up before the step runs.
  std::vector<rt::SampleRow> rows;
  std::vector<int32_t> history;
  for (const StepEntry *e : entries) {
    State::Live &live = st.live[e->id];
    rt::SampleRow row;
    row.temperature = live.sampling.temperature;
    row.topK = live.sampling.topK;
    row.topP = live.sampling.topP;
    row.repetitionPenalty = live.sampling.repetitionPenalty;
    row.seed = live.sampling.seed;
    row.index = live.produced;
    row.historyBegin = static_cast<int32_t>(history.size());
    history.insert(history.end(), live.seen.begin(), live.seen.end());
    row.historyEnd = static_cast<int32_t>(history.size());
    rows.push_back(row);
  }
  if (loom_status_t s = st.sampler->prepare(st.vocab, rows, history))
    return fail(s);
  if (loom_status_t s = st.run(count, seqs, graph, offsets))
    return fail(s);
  if (loom_status_t s = st.sampler->launch(st.logits, st.sampled))
    return fail(s);
  if (loom_status_t s = loom_device_download(st.device, st.sampledHost, st.sampled,
                                             entries.size() * 4))
    return fail(s);
  std::vector<int32_t> sampled(st.sampledHost, st.sampledHost + entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    tokens.push_back({entries[i]->id, sampled[i]});
    State::Live &live = st.live[entries[i]->id];
    ++live.produced;
    if (live.sampling.repetitionPenalty != 1.0f)
      live.seen.push_back(sampled[i]);
  }
  ++st.stats.steps;
  if (!plan.prefill.empty())
    ++st.stats.prefillSteps;
  st.stats.generatedTokens += static_cast<int64_t>(entries.size());
  finished = st.scheduler->complete(plan, sampled);
  for (const Finished &f : finished)
    st.live.erase(f.id);
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
