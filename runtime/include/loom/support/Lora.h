//===- Lora.h - LoRA adapters in PEFT's format ---------------------*- C++ -*-===//
//
// What an adapter folder says (adapter_config.json) and how its tensors are named
// (adapter_model.safetensors), as PEFT writes them, so that the importer, `loom grad`,
// `loom train` and later the runtime agree. y = x W^T + b + scaling * (x A^T) B^T with
// A [r, in], B [out, r], scaling = alpha / r (alpha / sqrt(r) with rsLoRA).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_LORA_H
#define LOOM_SUPPORT_LORA_H

#include <cstdint>
#include <string>
#include <vector>

namespace loom {

/// The part of PEFT's LoraConfig that changes the computation.
struct LoraConfig {
  /// The rank; 0 means no adapter.
  int64_t r = 0;
  double alpha = 0;
  /// Module names (the last components of a module path: "q_proj"), or full paths.
  std::vector<std::string> targets;
  bool useRslora = false;
  /// GPT-2 Conv1D bases store W [in, out]; only merging cares.
  bool fanInFanOut = false;

  bool enabled() const { return r > 0; }
  double scaling() const;
  /// Whether module `path` ("model.layers.0.self_attn.q_proj") gets an adapter: a
  /// target equal to the path or to its last components (PEFT's list matching).
  bool appliesTo(const std::string &path) const;
};

/// PEFT's on-disk name of module `path`'s adapter tensor `which` ('A' or 'B'):
/// "base_model.model.<path>.lora_A.weight".
std::string loraTensorName(const std::string &path, char which);

/// Reads `folder`/adapter_config.json. Refuses what would change the computation and
/// is not supported (DoRA, per-layer rank/alpha patterns, trained biases, a regex
/// target_modules, layer selections) rather than ignoring it.
bool readLoraConfig(const std::string &folder, LoraConfig &config, std::string &error);

/// adapter_config.json for `config`, as PEFT writes a LORA CAUSAL_LM adapter.
std::string loraConfigJson(const LoraConfig &config, const std::string &baseModel);

/// "r=8,alpha=16,targets=q_proj,v_proj" (items without '=' extend targets).
bool parseLoraSpec(const std::string &spec, LoraConfig &config, std::string &error);

} // namespace loom

#endif // LOOM_SUPPORT_LORA_H
