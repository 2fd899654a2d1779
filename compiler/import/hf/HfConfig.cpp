//===- HfConfig.cpp - What a Hugging Face config.json says about the math -===//

#include "compiler/import/hf/HfConfig.h"

#include "loom/support/Checkpoint.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sys/stat.h>

namespace loom {

namespace {

/// Keys of any family that describe training, generation or bookkeeping: they never
/// change the forward pass.
const std::set<std::string> kInertKeys = {
    "_name_or_path", "architectures", "attention_dropout", "attention_probs_dropout_prob",
    "attn_pdrop", "bos_token_id", "classifier_dropout", "dtype", "embd_pdrop",
    "eos_token_id", "hidden_dropout_prob", "initializer_range", "model_type",
    "pad_token_id", "resid_pdrop", "summary_activation", "summary_first_dropout",
    "summary_proj_to_labels", "summary_type", "summary_use_proj", "torch_dtype",
    "transformers_version", "use_cache", "output_attentions", "output_hidden_states",
    "return_dict", "gradient_checkpointing", "id2label", "label2id", "problem_type",
    "tokenizer_class", "max_window_layers", "task_specific_params", "layer_types",
    "bos_token", "eos_token", "chunk_size_feed_forward", "decoder_start_token_id",
    "sep_token_id", "prefix", "finetuning_task", "tie_encoder_decoder"};

/// The largest size a config may give (any dimension, count or length).
constexpr int64_t kMaxSize = (int64_t(1) << 31) - 1;

/// Reads typed members, collecting what is wrong instead of stopping.
class ConfigReader {
public:
  ConfigReader(const json::Value &root, std::vector<std::string> &errors)
      : root_(root), errors_(errors) {}

  const json::Value *get(const std::string &key) {
    used_.insert(key);
    const json::Value *value = root_.get(key);
    return value && !value->isNull() ? value : nullptr;
  }
  int64_t integer(const std::string &key, int64_t fallback = -1, bool required = true) {
    const json::Value *value = get(key);
    if (!value) {
      if (required && fallback < 0)
        errors_.push_back("config.json: \"" + key + "\" is missing");
      return fallback;
    }
    // Bounded so that products of sizes stay far from overflow; the checkpoint
    // bounds them further before anything is allocated (checkSizesAgainstCheckpoint).
    if (!value->isInteger() || value->asInteger() <= 0 || value->asInteger() > kMaxSize) {
      errors_.push_back("config.json: \"" + key + "\" must be a positive integer below " +
                        std::to_string(kMaxSize + 1));
      return fallback;
    }
    return value->asInteger();
  }
  double number(const std::string &key, double fallback) {
    const json::Value *value = get(key);
    if (!value)
      return fallback;
    if (!value->isNumber() || !std::isfinite(value->asNumber())) {
      errors_.push_back("config.json: \"" + key + "\" must be a finite number");
      return fallback;
    }
    return value->asNumber();
  }
  bool boolean(const std::string &key, bool fallback) {
    const json::Value *value = get(key);
    if (!value)
      return fallback;
    if (!value->isBool()) {
      errors_.push_back("config.json: \"" + key + "\" must be true or false");
      return fallback;
    }
    return value->asBool();
  }
  std::string string(const std::string &key, const std::string &fallback) {
    const json::Value *value = get(key);
    if (!value)
      return fallback;
    if (!value->isString()) {
      errors_.push_back("config.json: \"" + key + "\" must be a string");
      return fallback;
    }
    return value->asString();
  }
  /// Records that `key` would change the math in a way Loom does not support.
  void unsupported(const std::string &key, const std::string &why) {
    errors_.push_back("config.json: \"" + key + "\" " + why);
  }
  /// Keys never read: neither inert nor understood.
  std::vector<std::string> unknownKeys() const {
    std::vector<std::string> unknown;
    for (const auto &[key, value] : root_.asObject())
      if (!used_.count(key) && !kInertKeys.count(key))
        unknown.push_back(key);
    return unknown;
  }

private:
  const json::Value &root_;
  std::vector<std::string> &errors_;
  std::set<std::string> used_;
};

bool parseActivation(const std::string &name, Activation &out) {
  if (name == "silu" || name == "swish")
    out = Activation::Silu;
  else if (name == "gelu")
    out = Activation::GeluErf;
  else if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast")
    out = Activation::GeluTanh;
  else if (name == "relu")
    out = Activation::Relu;
  else
    return false;
  return true;
}

/// RoPE settings: `rope_parameters` (transformers 5) or `rope_theta` + `rope_scaling`.
void readRope(ConfigReader &reader, HfModelSpec &spec) {
  spec.ropeTheta = reader.number("rope_theta", spec.ropeTheta);
  for (const char *key : {"rope_parameters", "rope_scaling"}) {
    const json::Value *rope = reader.get(key);
    if (!rope)
      continue;
    if (!rope->isObject()) {
      reader.unsupported(key, "must be an object");
      continue;
    }
    HfModelSpec::RopeScaling &scaling = spec.ropeScaling;
    for (const auto &[name, value] : rope->asObject()) {
      std::string field = std::string(key) + "." + name;
      if (name == "rope_theta" && value.isNumber()) {
        spec.ropeTheta = value.asNumber(); // checked below, with rope_theta's own value
      } else if (name == "rope_type" || name == "type") {
        if (!value.isString() || (value.asString() != "default" &&
                                  value.asString() != "linear" && value.asString() != "llama3"))
          reader.unsupported(field,
                             "is " + (value.isString() ? "\"" + value.asString() + "\""
                                                       : std::string("not a string")) +
                                 "; RoPE types \"default\", \"linear\" and \"llama3\" are "
                                 "supported (dynamic and yarn not yet)");
        else
          scaling.type = value.asString();
      } else if (name == "factor" || name == "low_freq_factor" || name == "high_freq_factor" ||
                 name == "original_max_position_embeddings") {
        double number = value.isNumber() ? value.asNumber() : -1;
        if (!(number > 0) || !std::isfinite(number)) {
          reader.unsupported(field, "must be a positive number");
          continue;
        }
        (name == "factor"            ? scaling.factor
         : name == "low_freq_factor" ? scaling.lowFreqFactor
         : name == "high_freq_factor" ? scaling.highFreqFactor
                                      : scaling.originalMaxPositions) = number;
      } else if (name == "partial_rotary_factor" && value.isNumber()) {
        if (!(value.asNumber() > 0 && value.asNumber() <= 1))
          reader.unsupported(std::string(key) + "." + name, "must be in (0, 1]");
        else
          spec.rotaryDim = static_cast<int64_t>(spec.headDim * value.asNumber());
      } else {
        reader.unsupported(std::string(key) + "." + name, "is not supported");
      }
    }
  }
  const HfModelSpec::RopeScaling &scaling = spec.ropeScaling;
  if (scaling.type == "llama3" && !(scaling.highFreqFactor > scaling.lowFreqFactor))
    reader.unsupported("rope_scaling.high_freq_factor",
                       "must be above low_freq_factor (llama3 blends between them)");
  if (!(spec.ropeTheta > 0.0) || !std::isfinite(spec.ropeTheta))
    reader.unsupported("rope_theta", "must be a positive finite number");
  if (spec.rotaryDim <= 0 || spec.rotaryDim % 2 || spec.rotaryDim > spec.headDim)
    reader.unsupported("partial_rotary_factor",
                       "gives a rotary dimension of " + std::to_string(spec.rotaryDim) +
                           "; it must be even and at most head_dim " +
                           std::to_string(spec.headDim));
}

void readLlamaLike(ConfigReader &reader, HfModelSpec &spec) {
  spec.vocabSize = reader.integer("vocab_size");
  spec.hiddenSize = reader.integer("hidden_size");
  spec.numLayers = reader.integer("num_hidden_layers");
  spec.numHeads = reader.integer("num_attention_heads");
  spec.numKvHeads = reader.integer("num_key_value_heads", spec.numHeads);
  spec.intermediateSize = reader.integer("intermediate_size");
  spec.maxPositions = reader.integer("max_position_embeddings", 2048);
  spec.headDim = reader.integer("head_dim", 0, /*required=*/false);
  if (spec.headDim <= 0 && spec.numHeads > 0)
    spec.headDim = spec.hiddenSize / spec.numHeads;
  spec.rotaryDim = spec.headDim;
  spec.normEpsilon = reader.number("rms_norm_eps", 1e-6);
  spec.tieEmbeddings = reader.boolean("tie_word_embeddings", false);
  std::string act = reader.string("hidden_act", "silu");
  if (!parseActivation(act, spec.activation))
    reader.unsupported("hidden_act", "\"" + act + "\" is not a supported activation");
  spec.storedDtype = reader.string("dtype", reader.string("torch_dtype", ""));
  readRope(reader, spec);
  if (spec.numKvHeads > 0 && spec.numHeads % spec.numKvHeads)
    reader.unsupported("num_key_value_heads",
                       "must divide num_attention_heads (" + std::to_string(spec.numHeads) +
                           " by " + std::to_string(spec.numKvHeads) + ")");
  if (spec.family == HfFamily::Llama) {
    spec.attentionBias = spec.outputBias = reader.boolean("attention_bias", false);
    spec.mlpBias = reader.boolean("mlp_bias", false);
    reader.integer("pretraining_tp", 1, false); // splits matmuls; same math
  } else if (spec.family == HfFamily::Qwen2) {
    spec.attentionBias = true; // Qwen2 projects q, k, v with biases, o without
    if (reader.boolean("use_sliding_window", false))
      reader.unsupported("use_sliding_window", "is true; sliding-window attention is not "
                                               "supported yet");
    reader.get("sliding_window"); // only read when use_sliding_window is true
  } else if (spec.family == HfFamily::Mistral) {
    if (const json::Value *window = reader.get("sliding_window"))
      reader.unsupported("sliding_window",
                         "is " + std::to_string(window->isInteger() ? window->asInteger() : 0) +
                             "; sliding-window attention is not supported yet (set it to "
                             "null for full attention)");
  }
}

void readGpt2(ConfigReader &reader, HfModelSpec &spec) {
  spec.vocabSize = reader.integer("vocab_size");
  spec.hiddenSize = reader.integer("n_embd");
  spec.numLayers = reader.integer("n_layer");
  spec.numHeads = spec.numKvHeads = reader.integer("n_head");
  spec.maxPositions = reader.integer("n_positions");
  spec.intermediateSize = reader.integer("n_inner", 4 * spec.hiddenSize, false);
  spec.headDim = spec.numHeads > 0 ? spec.hiddenSize / spec.numHeads : 0;
  spec.normEpsilon = reader.number("layer_norm_epsilon", 1e-5);
  spec.tieEmbeddings = reader.boolean("tie_word_embeddings", true);
  spec.attentionBias = spec.outputBias = spec.mlpBias = true;
  spec.scaleAttention = reader.boolean("scale_attn_weights", true);
  spec.scaleByInverseLayer = reader.boolean("scale_attn_by_inverse_layer_idx", false);
  reader.boolean("reorder_and_upcast_attn", false); // precision only; same math in f32
  if (reader.boolean("add_cross_attention", false))
    reader.unsupported("add_cross_attention", "is true; encoder-decoder GPT-2 is not supported");
  std::string act = reader.string("activation_function", "gelu_new");
  if (!parseActivation(act, spec.activation))
    reader.unsupported("activation_function", "\"" + act + "\" is not supported");
}

void readBert(ConfigReader &reader, HfModelSpec &spec) {
  spec.vocabSize = reader.integer("vocab_size");
  spec.hiddenSize = reader.integer("hidden_size");
  spec.numLayers = reader.integer("num_hidden_layers");
  spec.numHeads = spec.numKvHeads = reader.integer("num_attention_heads");
  spec.intermediateSize = reader.integer("intermediate_size");
  spec.maxPositions = reader.integer("max_position_embeddings");
  spec.typeVocabSize = reader.integer("type_vocab_size", 2, false);
  spec.headDim = spec.numHeads > 0 ? spec.hiddenSize / spec.numHeads : 0;
  spec.normEpsilon = reader.number("layer_norm_eps", 1e-12);
  spec.attentionBias = spec.outputBias = spec.mlpBias = true;
  reader.boolean("tie_word_embeddings", true); // no LM head in BertModel
  std::string act = reader.string("hidden_act", "gelu");
  if (!parseActivation(act, spec.activation))
    reader.unsupported("hidden_act", "\"" + act + "\" is not supported");
  std::string positions = reader.string("position_embedding_type", "absolute");
  if (positions != "absolute")
    reader.unsupported("position_embedding_type",
                       "is \"" + positions + "\"; only \"absolute\" is supported");
  if (reader.boolean("is_decoder", false))
    reader.unsupported("is_decoder", "is true; BERT as a decoder is not supported");
  if (reader.boolean("add_cross_attention", false))
    reader.unsupported("add_cross_attention", "is true; cross-attention is not supported");
}

} // namespace

const char *familyName(HfFamily family) {
  switch (family) {
  case HfFamily::Llama:
    return "llama";
  case HfFamily::Mistral:
    return "mistral";
  case HfFamily::Qwen2:
    return "qwen2";
  case HfFamily::Gpt2:
    return "gpt2";
  case HfFamily::Bert:
    return "bert";
  }
  return "?";
}

bool readHfConfig(const std::string &configPath, HfModelSpec &spec,
                  std::vector<std::string> &errors, std::vector<std::string> &warnings) {
  std::string text, error;
  if (!readTextFile(configPath, text, error)) {
    errors.push_back(error);
    return false;
  }
  return parseHfConfig(text, configPath, spec, errors, warnings);
}

bool parseHfConfig(const std::string &text, const std::string &configPath,
                   HfModelSpec &spec, std::vector<std::string> &errors,
                   std::vector<std::string> &warnings) {
  std::string error;
  json::Value root;
  if (!json::parse(text, root, error)) {
    errors.push_back(configPath + ": " + error);
    return false;
  }
  if (!root.isObject()) {
    errors.push_back(configPath + ": not a JSON object");
    return false;
  }
  const json::Value *architectures = root.get("architectures");
  if (!architectures || !architectures->isArray() || architectures->asArray().size() != 1 ||
      !architectures->asArray()[0].isString()) {
    errors.push_back(configPath + ": \"architectures\" must list exactly one class name");
    return false;
  }
  spec.architecture = architectures->asArray()[0].asString();
  static const std::pair<const char *, HfFamily> kArchitectures[] = {
      {"LlamaForCausalLM", HfFamily::Llama},   {"MistralForCausalLM", HfFamily::Mistral},
      {"Qwen2ForCausalLM", HfFamily::Qwen2},   {"GPT2LMHeadModel", HfFamily::Gpt2},
      {"BertModel", HfFamily::Bert}};
  bool known = false;
  for (const auto &[name, family] : kArchitectures)
    if (spec.architecture == name) {
      spec.family = family;
      known = true;
    }
  if (!known) {
    errors.push_back(configPath + ": architecture \"" + spec.architecture +
                     "\" is not supported (supported: LlamaForCausalLM, MistralForCausalLM, "
                     "Qwen2ForCausalLM, GPT2LMHeadModel, BertModel)");
    return false;
  }
  ConfigReader reader(root, errors);
  switch (spec.family) {
  case HfFamily::Llama:
  case HfFamily::Mistral:
  case HfFamily::Qwen2:
    readLlamaLike(reader, spec);
    break;
  case HfFamily::Gpt2:
    readGpt2(reader, spec);
    break;
  case HfFamily::Bert:
    readBert(reader, spec);
    break;
  }
  if (spec.normEpsilon < 0)
    errors.push_back("config.json: the norm epsilon must not be negative");
  if (spec.numHeads > 0 && spec.family != HfFamily::Llama && spec.family != HfFamily::Mistral &&
      spec.family != HfFamily::Qwen2 && spec.hiddenSize % spec.numHeads)
    errors.push_back("config.json: hidden size " + std::to_string(spec.hiddenSize) +
                     " is not a multiple of the head count " + std::to_string(spec.numHeads));
  readHfQuantization(configPath.substr(0, configPath.find_last_of('/')),
                     reader.get("quantization_config"), spec, errors);
  for (const std::string &key : reader.unknownKeys())
    warnings.push_back("config.json: ignoring unknown key \"" + key + "\"");
  for (std::string &message : errors)
    if (message.rfind("config.json", 0) == 0)
      message = configPath + message.substr(std::string("config.json").size());
  return errors.empty();
}

namespace {

/// The layer index in a tensor name ("model.layers.3.mlp..." or "h.3.attn..."), or -1.
int64_t layerOf(const std::string &name) {
  size_t start = 0;
  std::string previous;
  while (start <= name.size()) {
    size_t end = std::min(name.find('.', start), name.size());
    std::string part = name.substr(start, end - start);
    bool digits = !part.empty() && part.size() < 10 &&
                  part.find_first_not_of("0123456789") == std::string::npos;
    if (digits && (previous == "layers" || previous == "h" || previous == "layer"))
      return std::stoll(part);
    previous = part;
    start = end + 1;
  }
  return -1;
}

} // namespace

bool checkSizesAgainstCheckpoint(const HfModelSpec &spec, const Checkpoint &checkpoint,
                                 std::vector<std::string> &errors) {
  int64_t largest = 0, lastLayer = -1;
  std::string lastLayerTensor;
  for (const SafetensorsHeader &shard : checkpoint.shards())
    for (const TensorInfo &tensor : shard.tensors) {
      for (int64_t d : tensor.shape)
        largest = std::max(largest, d);
      if (int64_t layer = layerOf(tensor.name); layer > lastLayer) {
        lastLayer = layer;
        lastLayerTensor = tensor.name;
      }
    }
  size_t before = errors.size();
  auto fits = [&](const std::string &what, int64_t a, int64_t b = 1) {
    int64_t product = 0;
    if (__builtin_mul_overflow(a, b, &product) || product > largest)
      errors.push_back("config.json: " + what + " (" +
                       (b == 1 ? std::to_string(a)
                               : std::to_string(a) + " x " + std::to_string(b)) +
                       ") is larger than any dimension of the checkpoint's tensors (" +
                       std::to_string(largest) + "); the config does not match the weights");
  };
  fits("the hidden size", spec.hiddenSize);
  fits("the vocabulary size", spec.vocabSize);
  fits("the intermediate size", spec.intermediateSize);
  fits("the head dimension", spec.headDim);
  fits("heads x head_dim", spec.numHeads, spec.headDim);
  fits("key/value heads x head_dim", spec.numKvHeads, spec.headDim);
  if (spec.family == HfFamily::Gpt2 || spec.family == HfFamily::Bert)
    fits("the position count", spec.maxPositions); // a table of that many rows
  if (lastLayer + 1 < spec.numLayers)
    errors.push_back("config.json: the config has " + std::to_string(spec.numLayers) +
                     " layers but the checkpoint's tensors stop at layer " +
                     std::to_string(lastLayer));
  if (lastLayer >= spec.numLayers)
    errors.push_back("config.json: the config has " + std::to_string(spec.numLayers) +
                     " layers but the checkpoint holds tensors of layer " +
                     std::to_string(lastLayer) + " ('" + lastLayerTensor +
                     "'), which would be silently unused");
  return errors.size() == before;
}

bool readHfQuantization(const std::string &folder, const json::Value *config,
                        HfModelSpec &spec, std::vector<std::string> &errors) {
  std::string where = "config.json: \"quantization_config\"";
  json::Value separate;
  if (!config) {
    // GPTQ tools also write the same object as quantize_config.json.
    std::string path = folder + "/quantize_config.json", text, error;
    struct stat info;
    if (::stat(path.c_str(), &info) != 0)
      return true;
    if (!readTextFile(path, text, error)) {
      errors.push_back(error);
      return false;
    }
    if (!json::parse(text, separate, error)) {
      errors.push_back(path + ": " + error);
      return false;
    }
    config = &separate;
    where = path;
  }
  if (!config->isObject()) {
    errors.push_back(where + " must be an object");
    return false;
  }
  CheckpointQuantization quantization;
  std::string error;
  if (!parseQuantizationConfig(*config, quantization, error)) {
    errors.push_back(where + ": " + error);
    return false;
  }
  spec.quantization = quantization;
  spec.fp8Activations = quantization.fp8Activations;
  return true;
}

} // namespace loom
