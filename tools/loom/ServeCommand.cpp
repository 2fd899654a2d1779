//===- ServeCommand.cpp - `loom generate` on the GPU ------------------------===//
//
// Text generation with a step artifact (`loom compile --entry step`) through the
// serving engine: every prompt joins one continuous batch; with one prompt the text
// streams as it is generated. `--check generations.json` runs the file's prompts alone
// and then mixed (each in full and cut short) on a small KV cache, and compares every
// output with the file's greedy one (with sampling options that keep only the most
// likely token, such as `--temperature 1 --top-k 1`, this checks the sampling path).
// `--random-prompts N:L` with `--json` measures speed.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"

#include "loom/runtime.hpp"
#include "loom/serving/Engine.h"
#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"
#include "loom/support/Tokenizer.h"
#include "loom/support/Utf8.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <map>
#include <random>
#include <set>
#include <sys/stat.h>

namespace loom::cli {

std::set<int32_t> readEosIds(const std::string &folder) {
  std::set<int32_t> ids;
  for (const char *file : {"generation_config.json", "config.json"}) {
    std::string text, error;
    json::Value root;
    if (!readTextFile(folder + "/" + file, text, error) || !json::parse(text, root, error))
      continue;
    const json::Value *eos = root.get("eos_token_id");
    if (!eos)
      continue;
    if (eos->isInteger())
      ids.insert(static_cast<int32_t>(eos->asInteger()));
    for (const json::Value &id : eos->isArray() ? eos->asArray() : std::vector<json::Value>{})
      if (id.isInteger())
        ids.insert(static_cast<int32_t>(id.asInteger()));
    if (!ids.empty())
      break;
  }
  return ids;
}

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Run {
  std::map<uint64_t, serve::Finished> finished;
  /// Seconds from the first step to each request's first token.
  std::map<uint64_t, double> firstToken;
  double seconds = 0, prefillSeconds = 0, decodeSeconds = 0;
  int64_t decodeTokens = 0;
};

/// Steps `engine` until it is idle; `onToken` sees every sampled token.
bool drain(serve::Engine &engine, Run &run, std::string &error,
           const std::function<void(const serve::StepToken &)> &onToken = {}) {
  auto start = Clock::now();
  std::vector<serve::StepToken> tokens;
  std::vector<serve::Finished> finished;
  while (!engine.idle()) {
    int64_t prefillBefore = engine.stats().prefillSteps;
    auto stepStart = Clock::now();
    if (!engine.step(tokens, finished, error))
      return false;
    double seconds = since(stepStart);
    if (engine.stats().prefillSteps != prefillBefore) {
      run.prefillSeconds += seconds;
    } else {
      run.decodeSeconds += seconds;
      run.decodeTokens += static_cast<int64_t>(tokens.size());
    }
    for (const serve::StepToken &t : tokens) {
      run.firstToken.emplace(t.id, since(start));
      if (onToken)
        onToken(t);
    }
    for (serve::Finished &f : finished)
      run.finished[f.id] = std::move(f);
  }
  run.seconds = since(start);
  return true;
}

struct Expected {
  std::vector<int32_t> prompt, output;
};

bool readGenerations(const std::string &path, std::vector<Expected> &out, std::string &error) {
  std::string text;
  json::Value root;
  if (!readTextFile(path, text, error) || !json::parse(text, root, error))
    return false;
  const json::Value *list = root.get("generations");
  if (!list || !list->isArray()) {
    error = path + " has no \"generations\" list";
    return false;
  }
  for (const json::Value &g : list->asArray()) {
    Expected e;
    const json::Value *prompt = g.get("prompt_ids"), *output = g.get("output_ids");
    if (!prompt || !output || !prompt->isArray() || !output->isArray()) {
      error = path + ": a generation lacks prompt_ids or output_ids";
      return false;
    }
    for (const json::Value &t : prompt->asArray())
      e.prompt.push_back(static_cast<int32_t>(t.asInteger()));
    for (const json::Value &t : output->asArray())
      e.output.push_back(static_cast<int32_t>(t.asInteger()));
    out.push_back(std::move(e));
  }
  return true;
}

struct Options {
  std::string artifact, weights, checkPath, promptsPath, jsonPath, randomPrompts;
  std::vector<std::string> prompts, stops;
  serve::Sampling sampling;
  serve::EngineOptions engine;
  int64_t maxNewTokens = 32, randomCount = 0, randomLength = 0;
  bool ignoreEos = false;
};

std::unique_ptr<serve::Engine> openEngine(loom_device_t device, const Options &o,
                                          serve::EngineOptions engineOptions) {
  std::string error;
  std::unique_ptr<serve::Engine> engine =
      serve::Engine::create(device, o.artifact, o.weights, engineOptions, error);
  if (!engine)
    std::fprintf(stderr, "loom generate: %s\n", error.c_str());
  return engine;
}

/// `--check`: outputs alone, then mixed on a small cache, equal the file's (greedy, or
/// sampled with options that keep only the most likely token).
int check(loom_device_t device, const Options &o) {
  std::vector<Expected> expected;
  std::string error;
  if (!readGenerations(o.checkPath, expected, error)) {
    std::fprintf(stderr, "loom generate: %s\n", error.c_str());
    return 1;
  }
  int failures = 0;
  auto compare = [&](const char *mode, uint64_t id, const std::vector<int32_t> &want,
                     const serve::Finished &got) {
    if (got.tokens == want)
      return;
    ++failures;
    size_t at = 0;
    while (at < want.size() && at < got.tokens.size() && want[at] == got.tokens[at])
      ++at;
    std::fprintf(stderr, "%s: request %llu differs at token %zu of %zu\n", mode,
                 static_cast<unsigned long long>(id), at, want.size());
  };
  // Alone: one engine, one request at a time.
  std::unique_ptr<serve::Engine> engine = openEngine(device, o, o.engine);
  if (!engine)
    return 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    serve::GenerationRequest r;
    r.id = i + 1;
    r.prompt = expected[i].prompt;
    r.sampling = o.sampling;
    r.stop.maxNewTokens = static_cast<int64_t>(expected[i].output.size());
    Run run;
    if (!engine->add(r, error) || !drain(*engine, run, error)) {
      std::fprintf(stderr, "loom generate: %s\n", error.c_str());
      return 1;
    }
    compare("alone", r.id, expected[i].output, run.finished[r.id]);
  }
  std::printf("alone: %zu prompts, %lld graph steps of %lld\n", expected.size(),
              static_cast<long long>(engine->stats().graphSteps),
              static_cast<long long>(engine->stats().steps));
  engine.reset();
  // Mixed: every prompt in full and cut to a third, in one batch, on a cache that holds
  // only some of them at once.
  serve::EngineOptions small = o.engine;
  size_t longest = 0;
  for (const Expected &e : expected)
    longest = std::max(longest, e.prompt.size() + e.output.size());
  if (small.kvBlocks <= 0)
    small.kvBlocks = static_cast<int32_t>(2 * ((longest + 15) / 16) + 2);
  engine = openEngine(device, o, small);
  if (!engine)
    return 1;
  std::map<uint64_t, std::vector<int32_t>> want;
  uint64_t id = 0;
  for (const Expected &e : expected)
    for (size_t length : {e.output.size(), e.output.size() / 3}) {
      serve::GenerationRequest r;
      r.id = ++id;
      r.prompt = e.prompt;
      r.sampling = o.sampling;
      r.stop.maxNewTokens = static_cast<int64_t>(std::max<size_t>(1, length));
      want[r.id].assign(e.output.begin(), e.output.begin() + r.stop.maxNewTokens);
      if (!engine->add(r, error)) {
        std::fprintf(stderr, "loom generate: %s\n", error.c_str());
        return 1;
      }
    }
  Run run;
  if (!drain(*engine, run, error)) {
    std::fprintf(stderr, "loom generate: %s\n", error.c_str());
    return 1;
  }
  for (const auto &[rid, tokens] : want)
    compare("mixed", rid, tokens, run.finished[rid]);
  const serve::EngineStats &stats = engine->stats();
  std::printf("mixed: %zu requests on %d KV blocks of %d: %lld steps (%lld with prompts, "
              "%lld from CUDA graphs), %lld preemptions\n",
              want.size(), stats.kvBlocks, stats.blockSize,
              static_cast<long long>(stats.steps), static_cast<long long>(stats.prefillSteps),
              static_cast<long long>(stats.graphSteps),
              static_cast<long long>(stats.preemptions));
  if (failures) {
    std::printf("FAILED: %d outputs differ from %s\n", failures, o.checkPath.c_str());
    return 1;
  }
  if (stats.preemptions == 0) {
    std::printf("FAILED: the mixed batch never ran out of KV blocks\n");
    return 1;
  }
  std::printf("OK: every output equals %s, alone and mixed\n", o.checkPath.c_str());
  return 0;
}

} // namespace

int runServeGenerate(int argc, char **argv) {
  const char *usage =
      "usage: loom generate <step-artifact> --weights <hf-folder>\n"
      "         (--prompt TEXT ... | --prompts FILE | --check generations.json |\n"
      "          --random-prompts N:LENGTH)\n"
      "         [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P]\n"
      "         [--repetition-penalty R] [--seed S] [--stop TEXT ...] [--ignore-eos]\n"
      "         [--max-batch N] [--max-step-tokens N] [--max-context N] [--kv-blocks N]\n"
      "         [--no-graphs | --lazy-graphs] [--profile] [--json FILE]\n"
      "Runs a model compiled with `loom compile --entry step` on the GPU. Every prompt\n"
      "(--prompt may repeat; --prompts reads one per line) joins one continuous batch;\n"
      "one prompt streams its text as it comes. Greedy unless --temperature > 0.\n"
      "--check runs the file's prompts alone, then mixed on a small KV cache, and\n"
      "compares the outputs with its greedy ones (sampling options must keep only the\n"
      "most likely token then, e.g. --temperature 1 --top-k 1). --json writes the\n"
      "run's figures and each request's output ids. Decode steps replay CUDA graphs,\n"
      "one per batch-size bucket, captured while loading (--lazy-graphs: at each\n"
      "bucket's second step; --no-graphs: none).\n";
  Options o;
  bool noGraphs = false, lazyGraphs = false;
  OptionParser parser("loom generate", usage);
  parser.positional("the artifact", o.artifact, true)
      .text("--weights", o.weights)
      .list("--prompt", o.prompts)
      .text("--prompts", o.promptsPath)
      .text("--check", o.checkPath)
      .text("--random-prompts", o.randomPrompts)
      .text("--json", o.jsonPath)
      .list("--stop", o.stops)
      .integer("--max-new-tokens", o.maxNewTokens, 1, int64_t(1) << 24)
      .number("--temperature", o.sampling.temperature, 0, 1e6)
      .integer("--top-k", o.sampling.topK, 0)
      .number("--top-p", o.sampling.topP, 1e-9, 1)
      .number("--repetition-penalty", o.sampling.repetitionPenalty, 1e-6, 1e6)
      .seed("--seed", o.sampling.seed)
      .integer("--max-batch", o.engine.maxBatch, 1, 1 << 16)
      .integer("--max-step-tokens", o.engine.maxStepTokens, 1, int64_t(1) << 30)
      .integer("--max-context", o.engine.maxContext, 0, int64_t(1) << 30)
      .integer("--kv-blocks", o.engine.kvBlocks, 0)
      .flag("--profile", o.engine.profile)
      .flag("--ignore-eos", o.ignoreEos)
      .flag("--no-graphs", noGraphs)
      .flag("--lazy-graphs", lazyGraphs);
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  o.engine.cudaGraphs = !noGraphs;
  o.engine.captureGraphsAtLoad = !lazyGraphs;
  if (o.weights.empty())
    return parser.misuse("give the model folder with --weights");
  if (o.prompts.empty() && o.promptsPath.empty() && o.checkPath.empty() &&
      o.randomPrompts.empty())
    return parser.misuse("give a prompt (--prompt, --prompts, --random-prompts or --check)");
  if (!o.randomPrompts.empty()) {
    size_t colon = o.randomPrompts.find(':');
    std::string why;
    if (colon == std::string::npos ||
        !parseInteger(o.randomPrompts.substr(0, colon), 1, 1 << 20, o.randomCount, why) ||
        !parseInteger(o.randomPrompts.substr(colon + 1), 1, 1 << 24, o.randomLength, why))
      return parser.misuse("--random-prompts wants COUNT:LENGTH, not '" + o.randomPrompts +
                           "'");
  }
  loom_device_t device = nullptr;
  if (loom_status_t s = loom_device_open(0, &device)) {
    std::fprintf(stderr, "loom generate: %s\n", loom_status_message(s));
    loom_status_free(s);
    return 1;
  }
  struct Close {
    loom_device_t device;
    ~Close() { loom_device_close(device); }
  } closer{device};
  if (!o.checkPath.empty())
    return check(device, o);

  std::string error;
  Tokenizer tokenizer;
  bool haveTokenizer = tokenizer.load(o.weights + "/tokenizer.json", error);
  std::vector<std::vector<int32_t>> prompts;
  if (!o.randomPrompts.empty()) {
    int64_t count = o.randomCount, length = o.randomLength;
    std::mt19937 rng(1234);
    for (long long p = 0; p < count; ++p) {
      std::vector<int32_t> ids(length);
      for (int32_t &t : ids)
        t = static_cast<int32_t>(rng() % 1000 + 100);
      prompts.push_back(ids);
    }
  } else {
    if (!haveTokenizer) {
      std::fprintf(stderr, "loom generate: %s\n", error.c_str());
      return 1;
    }
    std::vector<std::string> texts = o.prompts;
    if (!o.promptsPath.empty()) {
      std::string text;
      if (!readTextFile(o.promptsPath, text, error)) {
        std::fprintf(stderr, "loom generate: %s\n", error.c_str());
        return 1;
      }
      std::istringstream in(text);
      for (std::string line; std::getline(in, line);)
        if (!line.empty())
          texts.push_back(line);
    }
    for (const std::string &text : texts)
      prompts.push_back(tokenizer.encode(text));
  }
  if (haveTokenizer)
    o.engine.detokenize = [&](const std::vector<int32_t> &ids) {
      return tokenizer.decode(ids, true);
    };
  else if (!o.stops.empty()) {
    std::fprintf(stderr, "loom generate: --stop needs the model's tokenizer.json\n");
    return 1;
  }
  o.engine.progress = [&](size_t done, size_t total) {
    std::fprintf(stderr, "\rloading weights %zu/%zu", done, total);
    if (done == total)
      std::fputc('\n', stderr);
  };
  auto loadStart = Clock::now();
  std::unique_ptr<serve::Engine> engine = openEngine(device, o, o.engine);
  if (!engine)
    return 1;
  double loadSeconds = since(loadStart);
  std::set<int32_t> eos = o.ignoreEos ? std::set<int32_t>{} : readEosIds(o.weights);
  for (size_t i = 0; i < prompts.size(); ++i) {
    serve::GenerationRequest r;
    r.id = i + 1;
    r.prompt = prompts[i];
    r.stop.maxNewTokens = o.maxNewTokens;
    r.stop.stopTokens.assign(eos.begin(), eos.end());
    r.stop.stopStrings = o.stops;
    r.sampling = o.sampling;
    r.sampling.seed += i;
    if (!engine->add(r, error)) {
      std::fprintf(stderr, "loom generate: %s\n", error.c_str());
      return 1;
    }
  }
  // One prompt streams its text; several print as each finishes.
  bool stream = prompts.size() == 1 && haveTokenizer && o.stops.empty();
  std::string pending;
  Run run;
  bool ok = drain(*engine, run, error, [&](const serve::StepToken &t) {
    if (!stream || eos.count(t.token) || tokenizer.isSpecial(t.token))
      return;
    pending += tokenizer.tokenBytes(t.token);
    size_t ready = utf8::completePrefix(pending);
    std::fwrite(pending.data(), 1, ready, stdout);
    std::fflush(stdout);
    pending.erase(0, ready);
  });
  if (!ok) {
    std::fprintf(stderr, "\nloom generate: %s\n", error.c_str());
    return 1;
  }
  if (stream)
    std::printf("%s\n", pending.c_str());
  else if (haveTokenizer && o.randomPrompts.empty())
    for (const auto &[id, f] : run.finished)
      std::printf("[%llu] %s\n", static_cast<unsigned long long>(id),
                  (f.text.empty() ? tokenizer.decode(f.tokens, true) : f.text).c_str());
  const serve::EngineStats &stats = engine->stats();
  double ttft = 0;
  for (const auto &[id, seconds] : run.firstToken)
    ttft += seconds;
  ttft /= std::max<size_t>(1, run.firstToken.size());
  std::fprintf(stderr,
               "%lld prompt tokens, %lld generated in %.3f s (%.1f tokens/s); decode "
               "%.1f tokens/s; mean time to first token %.3f s; %lld steps, %lld "
               "preemptions; KV cache %d blocks (%.1f MiB); load %.2f s\n",
               static_cast<long long>(stats.promptTokens),
               static_cast<long long>(stats.generatedTokens), run.seconds,
               stats.generatedTokens / std::max(run.seconds, 1e-9),
               run.decodeTokens / std::max(run.decodeSeconds, 1e-9), ttft,
               static_cast<long long>(stats.steps), static_cast<long long>(stats.preemptions),
               stats.kvBlocks, stats.kvCacheBytes / 1048576.0, loadSeconds);
  if (!o.jsonPath.empty()) {
    std::ostringstream out;
    out << "{\"requests\": " << prompts.size()
        << ", \"prompt_tokens\": " << stats.promptTokens
        << ", \"generated_tokens\": " << stats.generatedTokens
        << ", \"seconds\": " << run.seconds
        << ", \"prefill_seconds\": " << run.prefillSeconds
        << ", \"decode_seconds\": " << run.decodeSeconds
        << ", \"decode_tokens\": " << run.decodeTokens
        << ", \"mean_ttft_seconds\": " << ttft << ", \"steps\": " << stats.steps
        << ", \"graph_steps\": " << stats.graphSteps
        << ", \"preemptions\": " << stats.preemptions
        << ", \"kv_cache_bytes\": " << stats.kvCacheBytes
        << ", \"device_bytes_used\": " << stats.deviceBytesUsed
        << ", \"load_seconds\": " << loadSeconds << ", \"output_ids\": [";
    // Each request's generated ids, in request order: runs of one artifact compare.
    std::string separator;
    for (const auto &[id, f] : run.finished) {
      out << separator << "[";
      for (size_t i = 0; i < f.tokens.size(); ++i)
        out << (i ? ", " : "") << f.tokens[i];
      out << "]";
      separator = ", ";
    }
    out << "]}\n";
    if (!writeFileAtomically(o.jsonPath, out.str(), error)) {
      std::fprintf(stderr, "loom generate: %s\n", error.c_str());
      return 1;
    }
  }
  if (o.engine.profile)
    std::fprintf(stderr, "%s", engine->profile().c_str());
  return 0;
}

} // namespace loom::cli
