//===- StepInputs.h - The inputs of a serving step, in one place ---*- C++ -*-===//
//
// A serving step (`loom compile --entry step`) takes its integer inputs in a fixed order,
// then one key cache and one value cache per layer (and, for caches of 8-bit codes, the
// key and value scales of each layer); it returns the logits, then the caches (and
// scales) it updated in place. The HF importer builds the entry in this order and the
// serving engine binds it by these names, so both read this header (docs/artifact.md,
// "The serving step").
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_STEPINPUTS_H
#define LOOM_SUPPORT_STEPINPUTS_H

#include <cstdint>
#include <string>
#include <string_view>

namespace loom::step {

/// The integer (I64) inputs, in argument order: the step's tokens laid end to end, their
/// positions and cache slots, each sequence's block table, context length, first token
/// and last token (the one whose logits are returned).
inline constexpr const char *kIntegerInputs[] = {
    "tokens", "positions", "slots", "block_tables", "context_lens", "query_starts",
    "last_tokens"};
inline constexpr int kNumIntegerInputs = 7;

/// The name of layer `layer`'s key cache ("k_cache_3") or value cache ("v_cache_3").
inline std::string cacheName(bool value, int64_t layer) {
  return std::string(value ? "v" : "k") + "_cache_" + std::to_string(layer);
}

/// The argument index of a layer's key or value cache: after the integer inputs, the
/// key then the value cache of each layer in turn. The output of the same cache is
/// this index minus kNumIntegerInputs, plus one (the logits come first).
inline int cacheArgument(bool value, int64_t layer) {
  return kNumIntegerInputs + 2 * static_cast<int>(layer) + (value ? 1 : 0);
}

/// The name of the scales of layer `layer`'s key cache ("k_scale_3") or value cache
/// ("v_scale_3"), when the caches hold 8-bit codes (`--kv-dtype int8|fp8`): a scale
/// per (slot, KV head).
inline std::string scalesName(bool value, int64_t layer) {
  return std::string(value ? "v" : "k") + "_scale_" + std::to_string(layer);
}

/// The argument index of a layer's key or value scales: after every layer's caches, the
/// key then the value scales of each layer in turn.
inline int scalesArgument(bool value, int64_t layer, int64_t layers) {
  return kNumIntegerInputs + 2 * static_cast<int>(layers + layer) + (value ? 1 : 0);
}

/// Whether `name` is "<k|v><infix><digits>".
inline bool isLayerName(std::string_view name, std::string_view infix) {
  if (name.size() < infix.size() + 2 || (name[0] != 'k' && name[0] != 'v') ||
      name.substr(1, infix.size()) != infix)
    return false;
  for (char c : name.substr(1 + infix.size()))
    if (c < '0' || c > '9')
      return false;
  return true;
}

/// Whether `name` names a cache input ("k_cache_<n>" or "v_cache_<n>").
inline bool isCacheName(std::string_view name) { return isLayerName(name, "_cache_"); }

/// Whether `name` names a quantized cache's scales ("k_scale_<n>" or "v_scale_<n>").
inline bool isScalesName(std::string_view name) { return isLayerName(name, "_scale_"); }

} // namespace loom::step

#endif // LOOM_SUPPORT_STEPINPUTS_H
