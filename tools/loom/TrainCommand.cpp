//===- TrainCommand.cpp - `loom train` --------------------------------------===//
//
// Trains a model on the CPU reference executor: each step runs the grad entry with the
// current parameters as its weights (an in-memory weight source), then AdamW
// (loom/support/Optimizer.h) updates them on the host. With `--data batch.safetensors`
// every step trains on that one batch, as ../shared/training/*/adamw did.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "DataParallel.h"
#include "TrainData.h"
#include "Training.h"

#include "loom/support/Optimizer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>

namespace loom::cli {

using reference::ElementType;
using reference::Tensor;

namespace {

const char *kUsage =
    "usage: loom train <hf-folder> --data <batch.safetensors | corpus.jsonl> -o <out>\n"
    "         [--batch-size 4] [--max-tokens 256] (JSONL)\n"
    "         [--loss cross-entropy|distill[:T]|dpo[:beta]] [--checkpoint layers]\n"
    "         [--steps 1] [--lr 1e-3] [--weight-decay 0.01] [--betas 0.9,0.999]\n"
    "         [--eps 1e-8] [--clip <max global norm>] [--warmup <steps>]\n"
    "         [--schedule constant|linear|cosine] [--micro-batches N]\n"
    "         [--lora r=8,alpha=16,targets=q_proj,v_proj | <PEFT adapter folder>]\n"
    "         [--seed 0]\n"
    "         [--check-losses losses.json] [--check-params final.safetensors]\n"
    "         [--tolerance-abs 2e-4] [--loss-tolerance 1e-5]\n"
    "Trains every parameter with AdamW (torch.optim.AdamW's update: decoupled weight\n"
    "decay on every tensor, bias correction, float32) on the CPU reference executor,\n"
    "each step on the whole batch (input_ids, attention_mask, labels), and writes\n"
    "<out>/model.safetensors (every parameter, float32) and <out>/losses.json (the\n"
    "loss before each step and after the last). --check-losses compares the losses\n"
    "with a losses.json of the same form (relative), --check-params every parameter\n"
    "stored in a safetensors file (absolute, per element), and the json's\n"
    "update_summaries (l2 of final - initial, relative) where it has them.\n"
    "--lora trains only a LoRA adapter on the targeted linear layers (the base is\n"
    "frozen): a new one, A kaiming-uniform as PEFT initializes it (seeded by --seed)\n"
    "and B zeros, or the adapter in a folder; <out> then gets the adapter in PEFT's\n"
    "format (adapter_config.json, adapter_model.safetensors) instead of the model.\n"
    "--data corpus.jsonl trains on JSON lines {\"text\": ...} (loss on every token) or\n"
    "{\"prompt\": ..., \"completion\": ...} (loss on the completion), tokenized with\n"
    "the model's tokenizer.json and cut to --max-tokens; each step takes the next\n"
    "--batch-size examples of a shuffled order (--seed), padded on the right.\n"
    "--data may be given once per batch file (distillation's batch and teacher\n"
    "logits); --loss and --checkpoint as for loom grad.\n"
    "Under `loom launch -n N --` the ranks train data-parallel: each takes its rows of\n"
    "every batch, the gradients are summed over them (Gloo), and each rank keeps the\n"
    "AdamW state of its share of the tensors (ZeRO-1); rank 0 writes the output.\n";

/// A number list "0.9,0.999", each in [0, 1).
bool parseNumbers(const std::string &text, std::vector<double> &out) {
  out.clear();
  std::stringstream list(text);
  std::string why;
  for (std::string item; std::getline(list, item, ',');) {
    double value = 0;
    if (!parseNumber(item, 0, 0.999999999, value, why))
      return false;
    out.push_back(value);
  }
  return true;
}

/// Every file a training output folder holds.
const std::vector<std::string> kOutputFiles = {"model.safetensors", "adapter_model.safetensors",
                                               "adapter_config.json", "losses.json"};

/// The trainer's settings.
struct TrainOptions {
  std::string model, output, checkLosses, checkParams, lora;
  /// Batch files (their tensors together), or one JSONL corpus.
  std::vector<std::string> data;
  uint64_t seed = 0;
  int64_t steps = 1, batchSize = 4, maxTokens = 256;
  int microBatches = 1;
  double lr = 1e-3, clip = 0, toleranceAbs = 2e-4, lossTolerance = 1e-5;
  AdamWOptions adamw;
  Schedule schedule;
};

/// Parses the arguments into `o`; -1 to go on, else the exit code.
int parseArguments(int argc, char **argv, TrainOptions &o, ImportOptions &import) {
  std::string betas;
  bool haveBetas = false;
  constexpr double kHuge = 1e30;
  OptionParser parser("loom train", kUsage);
  parser.positional("the model", o.model, true)
      .list("--data", o.data)
      .text("-o|--output", o.output)
      .integer("--steps", o.steps, 1, 1 << 30)
      .number("--lr", o.lr, 0, kHuge)
      .number("--weight-decay", o.adamw.weightDecay, 0, kHuge)
      .number("--eps", o.adamw.eps, 0, kHuge)
      .text("--betas", betas, &haveBetas)
      .number("--clip", o.clip, 0, kHuge)
      .integer("--warmup", o.schedule.warmup, 0, 1 << 30)
      .text("--schedule", o.schedule.kind)
      .integer("--micro-batches", o.microBatches, 1, 1 << 20)
      .integer("--batch-size", o.batchSize, 1, 1 << 20)
      .integer("--max-tokens", o.maxTokens, 2, 1 << 24)
      .text("--lora", o.lora)
      .seed("--seed", o.seed)
      .text("--check-losses", o.checkLosses)
      .text("--check-params", o.checkParams)
      .number("--tolerance-abs", o.toleranceAbs, 0, kHuge)
      .number("--loss-tolerance", o.lossTolerance, 0, kHuge)
      .custom([&](int argc, char **argv, int &i, std::string &error) {
        return std::string(argv[i]) == "--entry"
                   ? 0
                   : takeImportOption(argc, argv, i, import, error);
      });
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  std::vector<double> pair;
  if (haveBetas && (!parseNumbers(betas, pair) || pair.size() != 2))
    return parser.misuse("--betas wants two numbers in [0, 1), e.g. 0.9,0.999");
  if (haveBetas) {
    o.adamw.beta1 = pair[0];
    o.adamw.beta2 = pair[1];
  }
  if (!isScheduleKind(o.schedule.kind))
    return parser.misuse("unknown --schedule '" + o.schedule.kind + "'");
  if (o.data.empty() || o.output.empty())
    return parser.misuse("give the data with --data and the output folder with -o");
  o.schedule.total = o.steps;
  return -1;
}

/// One tensor's AdamW moments.
struct Moments {
  std::vector<float> m, v;
};

/// Clips (by global norm) and applies one AdamW step to every parameter that has a
/// gradient. Returns the global norm before clipping.
double optimizerStep(const TrainOptions &o, int64_t step, double lr,
                     const std::vector<reference::Port> &ports,
                     std::vector<Tensor> &grads, std::map<std::string, Tensor> &params,
                     std::map<std::string, Moments> &state,
                     const std::vector<bool> *owned = nullptr) {
  double sumSquares = 0;
  for (size_t i = 1; i < grads.size(); ++i)
    for (double g : grads[i].floats)
      sumSquares += g * g;
  double norm = std::sqrt(sumSquares);
  double scale = o.clip > 0 ? clipFactor(norm, o.clip) : 1.0;
  std::vector<float> p, g;
  for (size_t i = 1; i < grads.size(); ++i) {
    if (owned && !(*owned)[i])
      continue; // another rank's shard of the optimizer (ZeRO-1)
    std::string name = ports[i].name.substr(5); // "grad."
    Tensor &param = params.at(name);
    size_t n = param.floats.size();
    Moments &moments = state[name];
    moments.m.resize(n, 0.0f);
    moments.v.resize(n, 0.0f);
    p.assign(param.floats.begin(), param.floats.end());
    g.resize(n);
    for (size_t j = 0; j < n; ++j)
      g[j] = static_cast<float>(grads[i].floats[j]) * static_cast<float>(scale);
    adamwStep(p.data(), g.data(), moments.m.data(), moments.v.data(), n, step, lr,
              o.adamw);
    std::copy(p.begin(), p.end(), param.floats.begin());
  }
  return norm;
}

/// A new adapter for the executor's adapter weights (its gradient outputs, whose
/// shapes are static): A [r, in] from U(-1/sqrt(in), 1/sqrt(in)), which is PEFT's
/// kaiming_uniform_(a = sqrt(5)), B [out, r] zeros, as PEFT's default initialization.
void initAdapter(const reference::Executor &executor, uint64_t seed,
                 std::map<std::string, Tensor> &adapter) {
  std::mt19937_64 generator(seed);
  for (size_t i = 1; i < executor.outputs().size(); ++i) {
    const reference::Port &port = executor.outputs()[i];
    std::string name = port.name.substr(5);
    reference::Shape shape;
    for (const std::string &dim : port.dims)
      shape.push_back(std::stoll(dim));
    Tensor &t = adapter[name] = Tensor::zeros(ElementType::F32, shape);
    if (name.find(".lora_A.") == std::string::npos)
      continue;
    float bound = 1.0f / std::sqrt(static_cast<float>(shape[1]));
    std::uniform_real_distribution<float> uniform(-bound, bound);
    for (double &x : t.floats)
      x = uniform(generator);
  }
}

/// The gradients of this rank's rows of `batch` (its labels' share of the whole
/// batch's counted tokens as the weight), summed over the group: the whole batch's
/// mean loss and gradients, as --micro-batches with one part per rank gives them.
bool dataParallelGradients(ProcessGroup &group, reference::Executor &executor,
                           const std::map<std::string, Tensor> &batch, int microBatches,
                           std::vector<Tensor> &outputs, std::string &error) {
  auto labels = batch.find("labels");
  if (labels == batch.end() || labels->second.shape.size() != 2) {
    error = "data parallelism splits a batch by its `labels` [batch, seq], which it lacks "
            "(the cross-entropy loss)";
    return false;
  }
  int64_t rows = labels->second.shape[0], world = group.world(), rank = group.rank();
  if (rows < world) {
    error = "a batch of " + std::to_string(rows) + " rows over " + std::to_string(world) +
            " ranks";
    return false;
  }
  int64_t begin = rank * rows / world, end = (rank + 1) * rows / world;
  int64_t total = countedTokens(labels->second, 0, rows),
          mine = countedTokens(labels->second, begin, end);
  std::map<std::string, Tensor> slice;
  for (const auto &[name, tensor] : batch)
    slice[name] = sliceRows(tensor, begin, end);
  if (!runGradients(executor, slice, microBatches, outputs, error))
    return false;
  // Weighted into one buffer, summed over the group (in double, as accumulation is).
  double weight = total > 0 ? static_cast<double>(mine) / static_cast<double>(total) : 0;
  std::vector<double> flat;
  for (const Tensor &t : outputs)
    for (double x : t.floats)
      flat.push_back(mine > 0 ? x * weight : 0.0);
  if (!group.allReduceSum(flat.data(), flat.size(), error))
    return false;
  size_t at = 0;
  for (Tensor &t : outputs)
    for (double &x : t.floats)
      x = flat[at++];
  return true;
}

/// ZeRO-1: which rank keeps the optimizer state of each gradient output (by index;
/// output 0 is the loss): the tensors dealt out largest first to the least loaded rank.
std::vector<int> shardOwners(const std::vector<Tensor> &grads, int world) {
  std::vector<int> owner(grads.size(), -1);
  std::vector<size_t> order;
  for (size_t i = 1; i < grads.size(); ++i)
    order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return grads[a].floats.size() > grads[b].floats.size();
  });
  std::vector<size_t> load(world, 0);
  for (size_t i : order) {
    int least = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[i] = least;
    load[least] += grads[i].floats.size();
  }
  return owner;
}

} // namespace

int runTrain(int argc, char **argv) {
  for (int i = 0; i < argc; ++i)
    if (std::string(argv[i]) == "-h" || std::string(argv[i]) == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  TrainOptions o;
  ImportOptions importOptions;
  importOptions.ropeFrequencies = "f32"; // as `loom grad`: the training type's RoPE
  if (int code = parseArguments(argc, argv, o, importOptions); code >= 0)
    return code;
  std::string why;
  // Under `loom launch -n N`: data parallelism over the ranks, rank 0 writing.
  std::unique_ptr<ProcessGroup> group = ProcessGroup::fromEnvironment(300, why);
  if (!group && !why.empty()) {
    std::fprintf(stderr, "loom train: %s\n", why.c_str());
    return 1;
  }
  bool writer = !group || group->rank() == 0;
  if (writer && !FolderOutput::mayReplace(o.output, "losses.json", "loom-training",
                                          kOutputFiles, why)) {
    std::fprintf(stderr, "loom train: %s\n", why.c_str()); // before hours of training
    return 1;
  }
  importOptions.entry = "grad";
  auto fail = [](const std::string &error) {
    std::fprintf(stderr, "loom train: %s\n", error.c_str());
    return 1;
  };

  std::string error;
  // The trained tensors live in `params`; the executor reads them before the checkpoint.
  std::map<std::string, Tensor> params, initial;
  bool newAdapter = false;
  if (!o.lora.empty()) {
    if (std::filesystem::is_directory(o.lora)) {
      if (!readAdapter(o.lora, importOptions.lora, params, error))
        return fail(error);
    } else if (!parseLoraSpec(o.lora, importOptions.lora, error)) {
      return fail(error);
    } else {
      newAdapter = true;
    }
  }
  std::unique_ptr<reference::WeightSource> checkpoint =
      reference::openWeights(o.model, error);
  if (!checkpoint)
    return fail(error);
  std::unique_ptr<reference::Executor> executor =
      openGradEntry(o.model, importOptions, params, error);
  if (!executor)
    return fail(error);
  if (newAdapter)
    initAdapter(*executor, o.seed, params);
  const std::vector<reference::Port> &ports = executor->outputs();
  // One batch for every step (a safetensors file), or the next batch of a corpus.
  std::map<std::string, Tensor> batch;
  std::vector<Example> examples;
  std::vector<size_t> order;
  auto isCorpus = [](const std::string &path) {
    return path.size() > 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0;
  };
  bool corpus = o.data.size() == 1 && isCorpus(o.data[0]);
  if (!corpus && std::any_of(o.data.begin(), o.data.end(), isCorpus))
    return fail("a JSONL corpus is the only --data when it is given");
  if (corpus) {
    if (!readJsonlExamples(o.data[0], o.model, o.maxTokens, examples, error))
      return fail(error);
    order.resize(examples.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    std::mt19937_64 shuffle(o.seed);
    std::shuffle(order.begin(), order.end(), shuffle);
    std::fprintf(stderr, "loom train: %zu examples from %s, %lld per step\n",
                 examples.size(), o.data[0].c_str(), static_cast<long long>(o.batchSize));
  } else if (!readBatch(o.data, *executor, batch, error)) {
    return fail(error);
  }

  std::vector<double> losses;
  std::map<std::string, Moments> state;
  std::vector<Tensor> outputs;
  for (int64_t step = 0; step <= o.steps; ++step) {
    auto start = std::chrono::steady_clock::now();
    // The loss after the last step is taken on the last step's batch.
    if (corpus)
      batch = makeBatch(examples, order, std::min(step, o.steps - 1) * o.batchSize,
                        o.batchSize, 0);
    // Tokens: the attention mask's ones, else every id of the *input_ids inputs
    // (DPO's chosen and rejected sequences).
    int64_t tokens = 0;
    if (auto mask = batch.find("attention_mask"); mask != batch.end()) {
      for (int64_t m : mask->second.ints)
        tokens += m != 0;
    } else {
      for (const auto &[name, tensor] : batch)
        if (name.size() >= 9 && name.compare(name.size() - 9, 9, "input_ids") == 0)
          tokens += tensor.numElements();
    }
    executor->forgetWeights();
    if (group ? !dataParallelGradients(*group, *executor, batch, o.microBatches, outputs,
                                       error)
              : !runGradients(*executor, batch, o.microBatches, outputs, error))
      return fail(error);
    losses.push_back(outputs[0].floats[0]);
    if (step == o.steps)
      break;       // the loss after the last step
    if (step == 0) // the parameters start as the checkpoint's, in float32
      for (size_t i = 1; i < ports.size(); ++i) {
        std::string name = ports[i].name.substr(5);
        if (!params.count(name) &&
            !checkpoint->load(name, ElementType::F32, outputs[i].shape, params[name],
                              error))
          return fail(error);
        initial[name] = params[name];
      }
    double lr = o.lr * scheduleFactor(o.schedule, step);
    double norm;
    if (group) {
      // ZeRO-1: each rank updates the tensors whose optimizer state it keeps, then
      // every tensor comes from its keeper.
      std::vector<int> owners = shardOwners(outputs, group->world());
      std::vector<bool> owned(owners.size());
      for (size_t i = 1; i < owners.size(); ++i)
        owned[i] = owners[i] == group->rank();
      norm = optimizerStep(o, step + 1, lr, ports, outputs, params, state, &owned);
      std::vector<float> buffer;
      for (size_t i = 1; i < ports.size(); ++i) {
        Tensor &param = params.at(ports[i].name.substr(5));
        buffer.assign(param.floats.begin(), param.floats.end());
        if (!group->broadcast(buffer.data(), buffer.size(), owners[i], error))
          return fail(error);
        std::copy(buffer.begin(), buffer.end(), param.floats.begin());
      }
      if (step == 0) {
        size_t mine = 0, all = 0;
        for (size_t i = 1; i < owners.size(); ++i) {
          all += outputs[i].floats.size();
          mine += owned[i] ? outputs[i].floats.size() : 0;
        }
        std::fprintf(stderr,
                     "loom train: rank %d of %d keeps AdamW's moments of %zu of %zu "
                     "parameters (%.2f of %.2f MiB)\n",
                     group->rank(), group->world(), mine, all, mine * 8.0 / (1 << 20),
                     all * 8.0 / (1 << 20));
      }
    } else {
      norm = optimizerStep(o, step + 1, lr, ports, outputs, params, state);
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (writer) // the group's loss: one line for all ranks
      std::fprintf(stderr,
                 "step %lld/%lld  loss %.7f  lr %.3g  grad norm %.4g  %.0f tokens/s\n",
                 static_cast<long long>(step + 1), static_cast<long long>(o.steps),
                 losses.back(), lr, norm, tokens / seconds);
  }
  if (!writer)
    return 0; // rank 0 reports and writes the result
  std::fprintf(stderr, "loom train: loss after step %lld: %.7f\n",
               static_cast<long long>(o.steps), losses.back());

  // The output folder appears whole or not at all, and replaces only an earlier one.
  FolderOutput output;
  if (!output.open(o.output, "losses.json", "loom-training", kOutputFiles, error))
    return fail(error);
  std::vector<std::pair<std::string, const Tensor *>> written;
  for (size_t i = 1; i < ports.size(); ++i) {
    std::string name = ports[i].name.substr(5);
    written.push_back({name, &params.at(name)});
  }
  bool saved = importOptions.lora.enabled()
                   ? writeAdapter(output, importOptions.lora, o.model, written, error)
                   : writeTensors(output.staged("model.safetensors"), written, error);
  if (!saved ||
      !output.write("losses.json", lossesJson(o.steps, losses, o.lr, o.adamw), error) ||
      !output.commit(error))
    return fail(error);

  bool passed = true;
  if (!o.checkLosses.empty())
    passed &= checkLosses(losses, params, initial, o.checkLosses, o.lossTolerance,
                          o.toleranceAbs);
  if (!o.checkParams.empty())
    passed &= checkParameters(params, o.checkParams, o.toleranceAbs);
  return passed ? 0 : 1;
}

} // namespace loom::cli
