//===- QuantizationConfig.cpp - Reading a checkpoint's quantization_config -----===//
//
// GPTQ (GPTQModel / AutoGPTQ / optimum), AWQ (AutoAWQ / transformers) and
// compressed-tensors (llm-compressor) configs map to one QuantEncoding. Whatever would
// change the stored layout or the arithmetic and is not read by Loom is refused, every
// such key in one message; keys that only describe how the checkpoint was calibrated
// (damp_percent, true_sequential, static_groups, meta, observer, ...) and keys Loom
// does not know are accepted.
//
//===----------------------------------------------------------------------===//

#include "loom/support/Json.h"
#include "loom/support/Quantization.h"

#include <algorithm>
#include <cctype>
#include <regex>

namespace loom {

namespace {

/// `value` as JSON text, keys in file order.
std::string dump(const json::Value &value) {
  switch (value.kind()) {
  case json::Value::Kind::Null:
    return "null";
  case json::Value::Kind::Bool:
    return value.asBool() ? "true" : "false";
  case json::Value::Kind::Number:
    if (value.isInteger())
      return std::to_string(value.asInteger());
    return std::to_string(value.asNumber());
  case json::Value::Kind::String:
    return "\"" + value.asString() + "\"";
  case json::Value::Kind::Array: {
    std::string text = "[";
    for (const json::Value &item : value.asArray())
      text += (text.size() > 1 ? ", " : "") + dump(item);
    return text + "]";
  }
  case json::Value::Kind::Object: {
    std::string text = "{";
    for (const auto &[key, item] : value.asObject())
      text += (text.size() > 1 ? ", \"" : "\"") + key + "\": " + dump(item);
    return text + "}";
  }
  }
  return "";
}

/// `value` shortened for a message.
std::string show(const json::Value *value) {
  if (!value)
    return "missing";
  std::string text = dump(*value);
  return text.size() > 80 ? text.substr(0, 77) + "..." : text;
}

bool isSet(const json::Value *value) { return value && !value->isNull(); }

/// Empty: null, {} or [].
bool isEmpty(const json::Value *value) {
  return !isSet(value) || (value->isObject() && value->asObject().empty()) ||
         (value->isArray() && value->asArray().empty());
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

/// The refused keys, each "key: value (why)".
struct Refusals {
  std::vector<std::string> items;
  void add(const std::string &key, const json::Value *value, const std::string &why) {
    items.push_back(key + ": " + show(value) + " (" + why + ")");
  }
};

/// The first present member among `keys` (older and newer spellings of one key).
const json::Value *member(const json::Value &object,
                          std::initializer_list<const char *> keys,
                          std::string *found = nullptr) {
  for (const char *key : keys) {
    if (const json::Value *value = object.get(key)) {
      if (found)
        *found = key;
      return value;
    }
  }
  if (found)
    *found = *keys.begin();
  return nullptr;
}

/// A boolean member, `fallback` when absent or null.
bool flag(const json::Value &object, const char *key, bool fallback, Refusals &refusals) {
  const json::Value *value = object.get(key);
  if (!isSet(value))
    return fallback;
  if (!value->isBool()) {
    refusals.add(key, value, "expected true or false");
    return fallback;
  }
  return value->asBool();
}

/// bits: one of `allowed`.
int readBits(const json::Value &object, std::initializer_list<const char *> keys,
             std::initializer_list<int> allowed, const std::string &why,
             Refusals &refusals) {
  std::string key;
  const json::Value *value = member(object, keys, &key);
  if (value && value->isInteger() &&
      std::find(allowed.begin(), allowed.end(), value->asInteger()) != allowed.end())
    return static_cast<int>(value->asInteger());
  refusals.add(key, value, why);
  return *allowed.begin();
}

bool allowedGroupSize(int64_t size) {
  return size == 16 || size == 32 || size == 64 || size == 128 || size == 256;
}

/// group_size: 16..256, or -1 (and, where `perChannelNull`, null) for one group per
/// output channel, returned as 0.
int64_t readGroupSize(const json::Value &object, std::initializer_list<const char *> keys,
                      Refusals &refusals) {
  std::string key;
  const json::Value *value = member(object, keys, &key);
  if (value && value->isInteger() &&
      (value->asInteger() == -1 || allowedGroupSize(value->asInteger())))
    return value->asInteger() == -1 ? 0 : value->asInteger();
  refusals.add(key, value,
               "Loom takes group sizes 16, 32, 64, 128, 256 or -1 (per channel)");
  return 0;
}

void parseGptq(const json::Value &config, CheckpointQuantization &out,
               Refusals &refusals) {
  QuantEncoding &encoding = out.encoding;
  int bits = readBits(config, {"bits"}, {4, 8}, "Loom reads 4- and 8-bit GPTQ", refusals);
  encoding.element = bits == 4 ? QuantElement::Int4 : QuantElement::Int8;
  encoding.groupSize = readGroupSize(config, {"group_size"}, refusals);
  // desc_act without groups leaves every g_idx entry 0: nothing to permute.
  encoding.permuted =
      flag(config, "desc_act", false, refusals) && encoding.groupSize != 0;
  // Symmetric GPTQ still stores zero points; offset none makes the reader check that
  // every one is the midpoint 2^(b-1), and lets the kernels skip them.
  encoding.offset =
      flag(config, "sym", true, refusals) ? QuantOffset::None : QuantOffset::Zero;
  encoding.scaleType = DType::F16;
  encoding.source = QuantSource::Gptq;
  const json::Value *checkpointFormat = config.get("checkpoint_format");
  const json::Value *format = config.get("format"); // GPTQModel's newer spelling
  for (const auto &[key, value] :
       {std::pair{"checkpoint_format", checkpointFormat}, std::pair{"format", format}}) {
    if (!isSet(value))
      continue;
    if (value->isString() && value->asString() == "gptq")
      continue;
    if (value->isString() && value->asString() == "gptq_v2")
      encoding.source = QuantSource::GptqV2;
    else
      refusals.add(key, value, "Loom reads GPTQ's own packing, gptq (v1) or gptq_v2");
  }
  if (isSet(checkpointFormat) && isSet(format) &&
      dump(*checkpointFormat) != dump(*format))
    refusals.add("format", format,
                 "disagrees with checkpoint_format " + show(checkpointFormat));
  const json::Value *packDtype = config.get("pack_dtype");
  if (isSet(packDtype) &&
      !(packDtype->isString() &&
        (packDtype->asString() == "int32" || packDtype->asString() == "torch.int32")))
    refusals.add("pack_dtype", packDtype, "Loom reads codes packed in int32 words");
  if (!isEmpty(config.get("dynamic")))
    refusals.add("dynamic", config.get("dynamic"),
                 "per-module overrides of bits or group size are not supported");
  if (flag(config, "is_marlin_format", false, refusals))
    refusals.add("is_marlin_format", config.get("is_marlin_format"),
                 "Marlin's repacked layout is not read");
  if (isSet(config.get("modules_in_block_to_quantize")))
    refusals.add("modules_in_block_to_quantize",
                 config.get("modules_in_block_to_quantize"),
                 "a partial selection of quantized modules is not supported");
  if (isSet(config.get("rotation")))
    refusals.add("rotation", config.get("rotation"),
                 "rotated weights need the rotation applied to the activations");
  out.quantizesLmHead = flag(config, "lm_head", false, refusals);
}

void parseAwq(const json::Value &config, CheckpointQuantization &out,
              Refusals &refusals) {
  QuantEncoding &encoding = out.encoding;
  // config.json spells bits/group_size, AutoAWQ's quant_config.json w_bit/q_group_size.
  readBits(config, {"bits", "w_bit"}, {4}, "AWQ's GEMM packing holds 4-bit codes",
           refusals);
  encoding.element = QuantElement::Int4;
  encoding.groupSize = readGroupSize(config, {"group_size", "q_group_size"}, refusals);
  encoding.scaleType = DType::F16;
  encoding.source = QuantSource::Awq;
  const json::Value *version = config.get("version");
  if (isSet(version) && !(version->isString() && lower(version->asString()) == "gemm"))
    refusals.add(
        "version", version,
        "Loom reads AWQ's GEMM packing; gemv, gemv_fast, marlin, exllama and ipex "
        "pack differently");
  const json::Value *backend = config.get("backend");
  if (isSet(backend) && !(backend->isString() && backend->asString() == "autoawq"))
    refusals.add("backend", backend, "only AutoAWQ's packing is read");
  // AutoAWQ's GEMM packer asserts that zero points exist, and every GEMM loader applies
  // the stored qzeros whatever the flag says; zero_point false is taken as offset none,
  // for which the reader checks that every stored zero is 8.
  encoding.offset =
      flag(config, "zero_point", true, refusals) ? QuantOffset::Zero : QuantOffset::None;
  const json::Value *modules = config.get("modules_to_not_convert");
  if (isSet(modules)) {
    bool strings = modules->isArray();
    for (const json::Value &item :
         strings ? modules->asArray() : std::vector<json::Value>())
      strings = strings && item.isString();
    if (!strings)
      refusals.add("modules_to_not_convert", modules, "expected a list of module names");
    else
      for (const json::Value &item : modules->asArray())
        out.ignore.push_back(item.asString());
  }
}

/// compressed-tensors' dynamic per-token FP8 input activations (FP8_DYNAMIC).
bool isDynamicTokenFp8(const json::Value &args) {
  auto is = [&](const char *key, const std::string &text) {
    const json::Value *value = args.get(key);
    return value && dump(*value) == text;
  };
  const json::Value *symmetric = args.get("symmetric");
  return args.isObject() && is("type", "\"float\"") && is("num_bits", "8") &&
         is("strategy", "\"token\"") && is("dynamic", "true") &&
         (!isSet(symmetric) || dump(*symmetric) == "true") &&
         !isSet(args.get("block_structure"));
}

void parseCompressedTensors(const json::Value &config, CheckpointQuantization &out,
                            Refusals &refusals) {
  QuantEncoding &encoding = out.encoding;
  const json::Value *status = config.get("quantization_status");
  if (isSet(status) && dump(*status) != "\"compressed\"")
    refusals.add("quantization_status", status,
                 "Loom reads compressed checkpoints; the weights are not packed");
  const json::Value *sparsity = config.get("sparsity_config");
  if (!isEmpty(sparsity) && !(sparsity->isObject() && sparsity->get("format") &&
                              dump(*sparsity->get("format")) == "\"dense\""))
    refusals.add("sparsity_config", sparsity, "sparse weights are not supported");
  if (!isEmpty(config.get("transform_config")))
    refusals.add("transform_config", config.get("transform_config"),
                 "weight transforms (rotations) are not supported");
  if (isSet(config.get("kv_cache_scheme")))
    refusals.add("kv_cache_scheme", config.get("kv_cache_scheme"),
                 "KV-cache quantization is not yet supported");

  const json::Value *ignore = config.get("ignore");
  if (isSet(ignore)) {
    bool ok = ignore->isArray();
    for (const json::Value &item : ok ? ignore->asArray() : std::vector<json::Value>()) {
      if (!item.isString()) {
        ok = false;
        break;
      }
      const std::string &entry = item.asString();
      if (entry.rfind("re:", 0) == 0) {
        try {
          std::regex pattern(entry.substr(3));
        } catch (const std::regex_error &) {
          refusals.add("ignore", &item, "not a valid regular expression");
          continue;
        }
      }
      out.ignore.push_back(entry);
    }
    if (!ok)
      refusals.add("ignore", ignore,
                   "expected a list of module names or \"re:\" patterns");
  }

  const json::Value *groups = config.get("config_groups");
  if (!groups || !groups->isObject() || groups->asObject().empty()) {
    refusals.add("config_groups", groups, "expected an object with one scheme");
    return;
  }
  // Several groups are fine as long as they quantize alike (their targets differ).
  const json::Value &scheme = groups->asObject().front().second;
  const std::string &schemeName = groups->asObject().front().first;
  auto sameScheme = [&](const json::Value &other) {
    for (const char *key :
         {"format", "weights", "input_activations", "output_activations"}) {
      const json::Value *a = scheme.isObject() ? scheme.get(key) : nullptr;
      const json::Value *b = other.isObject() ? other.get(key) : nullptr;
      if ((a ? dump(*a) : "null") != (b ? dump(*b) : "null"))
        return false;
    }
    return true;
  };
  for (const auto &[name, group] : groups->asObject()) {
    if (!group.isObject()) {
      refusals.add("config_groups." + name, &group, "expected an object");
      return;
    }
    if (!sameScheme(group))
      refusals.add("config_groups." + name, &group,
                   "differs from " + schemeName +
                       ": one scheme for every layer is supported");
    const json::Value *targets = group.get("targets");
    if (!targets || !targets->isArray() || targets->asArray().empty() ||
        std::any_of(targets->asArray().begin(), targets->asArray().end(),
                    [](const json::Value &t) { return dump(t) != "\"Linear\""; }))
      refusals.add("config_groups." + name + ".targets", targets,
                   "Loom quantizes the Linear layers, by targets [\"Linear\"]");
  }

  const std::string where = "config_groups." + schemeName + ".";
  const json::Value *weights = scheme.get("weights");
  if (!weights || !weights->isObject()) {
    refusals.add(where + "weights", weights,
                 "expected the weights' quantization arguments");
    return;
  }
  // The format: the group's, else the top level's (older checkpoints name it only there).
  const json::Value *format = scheme.get("format");
  const json::Value *topFormat = config.get("format");
  if (!isSet(format))
    format = topFormat;
  if (isSet(topFormat) && isSet(format) && dump(*topFormat) != dump(*format))
    refusals.add("format", topFormat, "differs from the group's format " + show(format));
  const std::string formatName =
      isSet(format) && format->isString() ? format->asString() : "";

  const json::Value *type = weights->get("type");
  const bool isFloat = type && dump(*type) == "\"float\"";
  if (!isFloat && !(type && dump(*type) == "\"int\""))
    refusals.add(where + "weights.type", type, "expected int or float");
  if (flag(*weights, "dynamic", false, refusals))
    refusals.add(where + "weights.dynamic", weights->get("dynamic"),
                 "dynamic weight quantization is not stored quantized");
  const json::Value *actorder = weights->get("actorder");
  // "weight" (alias "static") only changes the order GPTQ quantized in: the groups stay
  // contiguous and no g_idx is stored. "group" (alias "dynamic") stores weight_g_idx.
  if (isSet(actorder) && dump(*actorder) != "\"weight\"" &&
      dump(*actorder) != "\"static\"")
    refusals.add(where + "weights.actorder", actorder,
                 "only natural groups are read (weight_g_idx is not yet supported)");
  if (isSet(weights->get("block_structure")))
    refusals.add(where + "weights.block_structure", weights->get("block_structure"),
                 "block-wise scales are not supported");
  const json::Value *strategy = weights->get("strategy");
  const std::string strategyName =
      strategy && strategy->isString() ? strategy->asString() : "";
  const bool symmetric = flag(*weights, "symmetric", true, refusals);
  if (isSet(scheme.get("output_activations")))
    refusals.add(where + "output_activations", scheme.get("output_activations"),
                 "output quantization is not supported");
  const json::Value *inputs = scheme.get("input_activations");

  if (isFloat) {
    encoding.element = QuantElement::Fp8E4M3;
    encoding.groupSize = 0;
    encoding.offset = QuantOffset::None;
    encoding.source = QuantSource::CtFloat;
    if (formatName != "float-quantized")
      refusals.add("format", format,
                   "FP8 weights are read in the float-quantized format");
    readBits(*weights, {"num_bits"}, {8}, "FP8 weights are 8-bit e4m3", refusals);
    if (strategyName != "channel")
      refusals.add(where + "weights.strategy", strategy,
                   "FP8 weights are read with one scale per output channel");
    if (!symmetric)
      refusals.add(where + "weights.symmetric", weights->get("symmetric"),
                   "FP8 weights take no zero point");
    if (isSet(inputs)) {
      if (isDynamicTokenFp8(*inputs))
        out.fp8Activations = true;
      else
        refusals.add(where + "input_activations", inputs,
                     "only dynamic per-token FP8 activations are supported, not static "
                     "or per-tensor scales");
    }
  } else {
    int bits = readBits(*weights, {"num_bits"}, {4, 8},
                        "Loom reads 4- and 8-bit integers", refusals);
    encoding.element = bits == 4 ? QuantElement::Int4 : QuantElement::Int8;
    encoding.offset = symmetric ? QuantOffset::None : QuantOffset::Zero;
    encoding.source = QuantSource::CtPacked;
    if (formatName != "pack-quantized")
      refusals.add("format", format,
                   "integer weights are read in the pack-quantized format");
    if (strategyName == "group") {
      const json::Value *size = weights->get("group_size");
      if (size && size->isInteger() && allowedGroupSize(size->asInteger()))
        encoding.groupSize = size->asInteger();
      else
        refusals.add(where + "weights.group_size", size,
                     "Loom takes group sizes 16, 32, 64, 128 and 256");
    } else if (strategyName != "channel") {
      refusals.add(where + "weights.strategy", strategy,
                   "integer weights are read per group or per channel");
    }
    if (isSet(inputs))
      refusals.add(where + "input_activations", inputs,
                   "integer weights are read with unquantized activations only");
  }
  // The scale dtype is not in older configs: BF16 (what compressed-tensors gives a bf16
  // model) until the importer reads it from weight_scale (scaleTypeFromCheckpoint).
  encoding.scaleType = DType::BF16;
  const json::Value *scaleDtype = weights->get("scale_dtype");
  if (isSet(scaleDtype) && scaleDtype->isString()) {
    std::string name = scaleDtype->asString();
    if (name.rfind("torch.", 0) == 0)
      name = name.substr(6);
    if (name == "float16" || name == "half")
      encoding.scaleType = DType::F16;
    else if (name == "float32" || name == "float")
      encoding.scaleType = DType::F32;
    else if (name != "bfloat16")
      refusals.add(where + "weights.scale_dtype", scaleDtype,
                   "scales are read as float16, bfloat16 or float32");
  }
  // compressed-tensors quantizes every targeted Linear, lm_head included, unless ignored.
  out.quantizesLmHead = true;
  out.quantizesLmHead = out.quantizes("lm_head");
}

/// Whether the ignore entry `entry` names `module`, by the rule of the config's source.
bool ignores(const std::string &entry, const std::string &module, QuantSource source) {
  if (source == QuantSource::Awq) // AutoAWQ: `any(key in name for key in ...)`
    return module.find(entry) != std::string::npos;
  if (entry.rfind("re:", 0) == 0) {
    // compressed-tensors: Python's re.match, anchored at the start only.
    try {
      return std::regex_search(module, std::regex(entry.substr(3)),
                               std::regex_constants::match_continuous);
    } catch (const std::regex_error &) {
      return false;
    }
  }
  return module == entry;
}

} // namespace

bool CheckpointQuantization::quantizes(const std::string &module) const {
  const size_t dot = module.rfind('.');
  const std::string last = dot == std::string::npos ? module : module.substr(dot + 1);
  if (last.find("embed") != std::string::npos || last == "wte" || last == "wpe")
    return false;
  for (const std::string &entry : ignore)
    if (ignores(entry, module, encoding.source))
      return false;
  if (last == "lm_head")
    return quantizesLmHead;
  return true;
}

bool parseQuantizationConfig(const json::Value &config, CheckpointQuantization &out,
                             std::string &error) {
  out = CheckpointQuantization();
  if (!config.isObject()) {
    error =
        std::string("quantization_config: expected an object, not ") + config.kindName();
    return false;
  }
  Refusals refusals;
  const json::Value *method = config.get("quant_method");
  std::string methodName =
      isSet(method) && method->isString() ? lower(method->asString()) : "";
  if (!isSet(method)) {
    // Older quantize_config.json (AutoGPTQ) and quant_config.json (AutoAWQ) omit it.
    if (config.get("w_bit") || config.get("q_group_size") || config.get("zero_point"))
      methodName = "awq";
    else if (config.get("bits"))
      methodName = "gptq";
  }
  if (methodName == "gptq")
    parseGptq(config, out, refusals);
  else if (methodName == "awq")
    parseAwq(config, out, refusals);
  else if (methodName == "compressed-tensors")
    parseCompressedTensors(config, out, refusals);
  else
    refusals.add("quant_method", method, "Loom reads gptq, awq and compressed-tensors");

  if (refusals.items.empty()) {
    std::string rule = checkQuantEncoding(out.encoding);
    if (!rule.empty())
      refusals.items.push_back(rule);
  }
  if (refusals.items.empty())
    return true;
  error = "quantization_config: not supported: ";
  for (size_t i = 0; i < refusals.items.size(); ++i)
    error += (i ? "; " : "") + refusals.items[i];
  return false;
}

} // namespace loom
