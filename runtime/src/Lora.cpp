//===- Lora.cpp - LoRA adapters in PEFT's format ----------------------------===//

#include "loom/support/Lora.h"
#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace loom {

double LoraConfig::scaling() const {
  return useRslora ? alpha / std::sqrt(static_cast<double>(r))
                   : alpha / static_cast<double>(r);
}

bool LoraConfig::appliesTo(const std::string &path) const {
  for (const std::string &target : targets) {
    if (path == target)
      return true;
    if (path.size() > target.size() &&
        path.compare(path.size() - target.size(), target.size(), target) == 0 &&
        path[path.size() - target.size() - 1] == '.')
      return true;
  }
  return false;
}

std::string loraTensorName(const std::string &path, char which) {
  return "base_model.model." + path + ".lora_" + std::string(1, which) + ".weight";
}

bool readLoraConfig(const std::string &folder, LoraConfig &config, std::string &error) {
  std::string path = folder + "/adapter_config.json", text;
  json::Value root;
  if (!readTextFile(path, text, error))
    return false;
  if (!json::parse(text, root, error)) {
    error = path + ": " + error;
    return false;
  }
  auto refuse = [&](const std::string &why) {
    error = path + ": " + why;
    return false;
  };
  const json::Value *type = root.get("peft_type");
  if (!type || !type->isString() || type->asString() != "LORA")
    return refuse("peft_type is not \"LORA\"");
  const json::Value *r = root.get("r"), *alpha = root.get("lora_alpha");
  if (!r || !r->isInteger() || r->asInteger() <= 0 || !alpha || !alpha->isNumber())
    return refuse("needs a positive integer r and a number lora_alpha");
  config.r = r->asInteger();
  config.alpha = alpha->asNumber();
  const json::Value *targets = root.get("target_modules");
  if (!targets || !targets->isArray())
    return refuse("target_modules must be a list of module names (a regex is not "
                  "supported)");
  config.targets.clear();
  for (const json::Value &t : targets->asArray())
    if (t.isString())
      config.targets.push_back(t.asString());
  auto flag = [&](const char *key) {
    const json::Value *v = root.get(key);
    return v && v->isBool() && v->asBool();
  };
  config.useRslora = flag("use_rslora");
  config.fanInFanOut = flag("fan_in_fan_out");
  if (flag("use_dora"))
    return refuse("DoRA adapters (use_dora) are not supported");
  for (const char *key : {"rank_pattern", "alpha_pattern"})
    if (const json::Value *v = root.get(key);
        v && v->isObject() && !v->asObject().empty())
      return refuse(std::string(key) + " (per-layer ranks or alphas) is not supported");
  if (const json::Value *v = root.get("bias");
      v && v->isString() && v->asString() != "none")
    return refuse("bias \"" + v->asString() + "\" (trained biases) is not supported");
  for (const char *key : {"layers_to_transform", "modules_to_save", "exclude_modules"})
    if (const json::Value *v = root.get(key); v && !v->isNull())
      return refuse(std::string(key) + " is not supported");
  return true;
}

std::string loraConfigJson(const LoraConfig &config, const std::string &baseModel) {
  auto quoted = [](const std::string &s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    return out + "\"";
  };
  std::string targets;
  for (const std::string &t : config.targets)
    targets += (targets.empty() ? "" : ", ") + quoted(t);
  char alpha[32];
  std::snprintf(alpha, sizeof alpha, "%.17g", config.alpha);
  return "{\n  \"base_model_name_or_path\": " + quoted(baseModel) +
         ",\n  \"bias\": \"none\",\n  \"fan_in_fan_out\": " +
         (config.fanInFanOut ? "true" : "false") +
         ",\n  \"inference_mode\": true,\n  \"init_lora_weights\": true,\n"
         "  \"lora_alpha\": " +
         alpha +
         ",\n  \"lora_dropout\": 0.0,\n  \"modules_to_save\": null,\n"
         "  \"peft_type\": \"LORA\",\n  \"r\": " +
         std::to_string(config.r) + ",\n  \"target_modules\": [" + targets +
         "],\n  \"task_type\": \"CAUSAL_LM\",\n  \"use_dora\": false,\n  "
         "\"use_rslora\": " +
         (config.useRslora ? "true" : "false") + "\n}\n";
}

bool parseLoraSpec(const std::string &spec, LoraConfig &config, std::string &error) {
  config = LoraConfig();
  std::string key;
  size_t at = 0;
  while (at <= spec.size()) {
    size_t comma = spec.find(',', at);
    std::string item =
        spec.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    size_t eq = item.find('=');
    std::string value = item;
    if (eq != std::string::npos) {
      key = item.substr(0, eq);
      value = item.substr(eq + 1);
    }
    char *end = nullptr;
    if (key == "r") {
      config.r = std::strtoll(value.c_str(), &end, 10);
    } else if (key == "alpha") {
      config.alpha = std::strtod(value.c_str(), &end);
    } else if (key == "targets" && !value.empty()) {
      config.targets.push_back(value);
      end = nullptr;
    } else {
      error =
          "--lora: bad item '" + item + "' (expected r=8,alpha=16,targets=q_proj,v_proj)";
      return false;
    }
    if (end && (*end || value.empty())) {
      error = "--lora: '" + item + "' is not a number";
      return false;
    }
    if (comma == std::string::npos)
      break;
    at = comma + 1;
  }
  if (config.r <= 0 || config.targets.empty()) {
    error = "--lora needs r > 0 and targets";
    return false;
  }
  if (config.alpha == 0)
    config.alpha = 8; // PEFT's default lora_alpha
  return true;
}

} // namespace loom
